/*
 * tcpcluster.h — the one public header of tcpcluster (libtcpcluster.so), the optional library
 * that joins tcpserver servers on several machines through Redis.
 *
 * A node sits beside one server (a TcpServerHandle, or the default server) and gives it:
 * a broadcast that reaches every link of every node, a send to a link on any node by
 * (node id, link id), named topics delivered to a callback on every node, and presence keys
 * (a name such as a user's, held by one link; send to the name wherever it is). The library
 * uses only the public API of tcpserver.h; it is built on Linux where hiredis is found.
 *
 * The model, in short (the README's "More than one machine" says more):
 *  - Delivery to other nodes is AT MOST ONCE. Redis pub/sub keeps nothing for a node that is
 *    not connected, and a queue that is full drops. Every message carries its publishing node
 *    and a sequence number per (publisher, channel); a receiving node counts the numbers it
 *    never saw (TC_COUNTER_GAPS, OnGap). Messages dropped before they reached Redis are counted
 *    by the publisher (TC_COUNTER_QUEUE_DROPPED, TC_COUNTER_DOWN_DROPPED). What a receiver missed
 *    is the publishers' drops plus its own gaps.
 *  - Local delivery happens in the call; the remote part is copied into a bounded queue that
 *    ONE connection to Redis publishes, pipelined, on the library's own thread. Another thread
 *    and connection subscribes. An engine worker (or any caller) never waits on Redis.
 *  - Broker down: local delivery goes on, the remote part is dropped and counted, the node
 *    reconnects by itself (backoff with jitter), subscribes again, asserts its presence keys
 *    again and reports each state change (OnState).
 *  - The link to Redis is NOT encrypted (hiredis 0.14 has no TLS): run Redis on a private
 *    network. AUTH is supported: redis://:password@host:port or redis://user:password@host:port.
 *
 * ABI rules (those of tcpserver.h): every function and callback uses TC_CALL (= TS_CALL);
 * booleans are int32_t (0/1); constants are int32_t; strings are NUL-terminated UTF-8; no C++
 * crosses the ABI. A function that fails returns 0 / -1 / NULL as documented and sets the
 * calling thread's last error (TcpClusterGetLastErrorCode / TcpClusterGetLastErrorText, which
 * is separate from the engine's GetLastErrorText); success leaves it untouched.
 *
 * Like tcpserver.h, this header is the one description of its ABI: tools/abi/abi.py
 * (--header cluster/include/tcpcluster.h) reads it, with the tags at the end of doc comments
 * (`@bool`, `@out`, `@bytes`, `@default`, `@range`, `@family`; tools/abi/README.md), and
 * generates the bindings' raw layers and the library's option table from it.
 */
#ifndef TCPCLUSTER_H
#define TCPCLUSTER_H

#include "tcpserver.h"

/* Compile-time version; TcpClusterGetVersion() returns the run-time one. */
#define TCPCLUSTER_VERSION_MAJOR 1
#define TCPCLUSTER_VERSION_MINOR 0
#define TCPCLUSTER_VERSION_PATCH 0
#define TCPCLUSTER_VERSION_NUMBER \
  (TCPCLUSTER_VERSION_MAJOR * 10000 + TCPCLUSTER_VERSION_MINOR * 100 + TCPCLUSTER_VERSION_PATCH)

#define TC_CALL TS_CALL

#if defined(__GNUC__)
#define TC_API __attribute__((visibility("default")))
#else
#define TC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TcpClusterNode TcpClusterNode; /* opaque handle */

/* ------------------------------------------------------------------------------------------
 * Constants.
 *
 * Every constant belongs to the family of its longest matching prefix below; its number is
 * unique in the family and lies in one of the family's ranges (abi.py refuses any other):
 * work that adds constants reserves a range on the family's line first.
 * @family TC_ERR_ TC_OK cluster error codes: 0-18 version 1.0
 * @family TC_MAX_NODES cluster limits
 * @family TC_OPT_ node options: 1-11 version 1.0
 * @family TC_COUNTER_ node counters: 1-19 version 1.0
 * @family TC_STATE_ node states
 * @family TC_SEND_ directed-send failures
 * @family TC_CHANNEL_ channels
 * ------------------------------------------------------------------------------------------ */

/* Error codes (TcpClusterGetLastErrorCode). */
#define TC_OK                   0
#define TC_ERR_INVALID_ARGUMENT 1  /* NULL, a destroyed handle, an empty or oversize name */
#define TC_ERR_BAD_URL          2  /* the Redis URL cannot be read: redis://[[user]:pass@]host[:port][/db] */
#define TC_ERR_NOT_STARTED      3  /* the node is not running (TcpClusterStart) */
#define TC_ERR_ALREADY_STARTED  4  /* the node is running: stop it first */
#define TC_ERR_SERVER_RUNNING   5  /* the server must be stopped for this (create, destroy, set callbacks) */
#define TC_ERR_QUEUE_FULL       6  /* the publish queue is at TC_OPT_QUEUE_MESSAGES / _BYTES: counted, dropped */
#define TC_ERR_BROKER_DOWN      7  /* not connected to Redis now: counted, dropped */
#define TC_ERR_LINK_CLOSED      8  /* no open link of this node's server with that id */
#define TC_ERR_TOO_LARGE        9  /* the message is over TC_OPT_MAX_MESSAGE bytes */
#define TC_ERR_OUT_OF_MEMORY    10
#define TC_ERR_SYSTEM           11 /* an OS call failed (threads, random numbers); see the text */
#define TC_ERR_ENGINE           12 /* a tcpserver call failed; the text carries the engine's */
#define TC_ERR_UNKNOWN_OPTION   13
#define TC_ERR_OPTION_RANGE     14 /* value outside TcpClusterGetOptionRange() */
#define TC_ERR_TOO_MANY_NODES   15 /* TC_MAX_NODES nodes exist in this process */
#define TC_ERR_KEY_LIMIT        16 /* the node holds TC_OPT_MAX_KEYS presence keys */
#define TC_ERR_IN_CALLBACK      17 /* start/stop/destroy from one of the node's own callbacks */
#define TC_ERR_KEY_NOT_HELD     18 /* TcpClusterClearKey: this node holds no such key */

/* How many nodes one process may hold at a time. */
#define TC_MAX_NODES 64

/* Options (TcpClusterSetOption / TcpClusterGetOption); set before TcpClusterStart. */
#define TC_OPT_QUEUE_MESSAGES     1  /* messages waiting for Redis, at most.
                                        @default 65536 @range 1..(1 << 24) */
#define TC_OPT_QUEUE_BYTES        2  /* bytes waiting for Redis, at most.
                                        @default 64 MiB @range 1 KiB..16 GiB */
#define TC_OPT_MAX_MESSAGE        3  /* largest payload in bytes. @default 1 MiB @range 1..64 MiB */
#define TC_OPT_PIPELINE           4  /* commands written to Redis before reading replies.
                                        @default 256 @range 1..65536 */
#define TC_OPT_KEY_TTL_MS         5  /* life of the liveness key and of each presence key; the node
                                        refreshes them every third of it.
                                        @default 15000 @range 300..86400000 */
#define TC_OPT_REPLY_TIMEOUT_MS   6  /* a Redis connection that answers nothing this long is
                                        dropped and made again. @default 5000 @range 100..600000 */
#define TC_OPT_PING_INTERVAL_MS   7  /* the subscribing connection pings when silent this long.
                                        @default 1000 @range 50..600000 */
#define TC_OPT_RECONNECT_MIN_MS   8  /* first wait before reconnecting.
                                        @default 100 @range 1..600000 */
#define TC_OPT_RECONNECT_MAX_MS   9  /* longest wait (doubling with jitter); not below
                                        TC_OPT_RECONNECT_MIN_MS. @default 2000 @range 1..3600000 */
#define TC_OPT_MAX_KEYS           10 /* presence keys held by this node.
                                        @default 1000000 @range 0..100000000 */
#define TC_OPT_MAX_PUBLISHERS     11 /* (publisher, channel) sequences a receiver remembers; the
                                        least recently heard is forgotten first.
                                        @default 4096 @range 16..(1 << 24) */

/* Counters (TcpClusterGetCounter): totals since the node was created, except the "now" ones. */
#define TC_COUNTER_PUBLISHED      1  /* messages Redis confirmed */
#define TC_COUNTER_RECEIVED       2  /* messages from other nodes taken in here (counted just
                                        before their delivery; failure notices not included) */
#define TC_COUNTER_QUEUE_DROPPED  3  /* remote parts dropped: the queue was full */
#define TC_COUNTER_DOWN_DROPPED   4  /* remote parts dropped: no connection to Redis */
#define TC_COUNTER_UNCONFIRMED    5  /* written to Redis, then the connection broke before its
                                        reply: maybe delivered (if not, receivers count a gap) */
#define TC_COUNTER_GAPS           6  /* messages from other nodes that never arrived (by sequence) */
#define TC_COUNTER_SEND_FAILED    7  /* directed sends reported through OnSendFailed */
#define TC_COUNTER_QUEUE_LENGTH   8  /* now: messages waiting for Redis */
#define TC_COUNTER_QUEUE_BYTES    9  /* now: their bytes */
#define TC_COUNTER_QUEUE_PEAK     10 /* the most messages that ever waited at once */
#define TC_COUNTER_RECONNECTS     11 /* connections to Redis made again after a loss */
#define TC_COUNTER_ECHOES         12 /* this node's own messages coming back, dropped */
#define TC_COUNTER_KEYS           13 /* now: presence keys this node holds */
#define TC_COUNTER_BAD_MESSAGES   14 /* messages on our channels that could not be read, dropped */
#define TC_COUNTER_SEQ_RESETS     15 /* a publisher's sequence started again (it forgot us) */
#define TC_COUNTER_KEYS_LOST      16 /* presence keys another node took over (set there later) */
#define TC_COUNTER_STATE          17 /* now: TC_STATE_* */
#define TC_COUNTER_CLEARS_DROPPED 18 /* presence keys given up while more than TC_OPT_MAX_KEYS
                                        such changes waited for Redis: they expire at their TTL */
#define TC_COUNTER_BROKER_ERRORS  19 /* commands Redis answered with an error (e.g. OOM) */

/* Node state (OnState, TC_COUNTER_STATE). */
#define TC_STATE_STOPPED      0
#define TC_STATE_CONNECTING   1 /* started, not yet connected and subscribed */
#define TC_STATE_CONNECTED    2 /* publishing and subscribed */
#define TC_STATE_DISCONNECTED 3 /* lost Redis (or never reached it); reconnecting */

/* Why a directed send failed (OnSendFailed). */
#define TC_SEND_NODE_GONE   1 /* no node listens on that id: it stopped or died (or is
                                 reconnecting to Redis right now); node ids never repeat */
#define TC_SEND_NO_SUCH_KEY 2 /* no link holds the key (never set, cleared, or expired with
                                 its node) */
#define TC_SEND_LINK_GONE   3 /* the node has no open link with that id (reported by it) */
#define TC_SEND_DROPPED     4 /* dropped before Redis: the connection was lost while queued */
#define TC_SEND_UNCONFIRMED 5 /* written, then the connection broke before Redis confirmed it:
                                 maybe delivered */
#define TC_SEND_BROKER_ERROR 6 /* Redis answered with an error (the text carries it) */

/* Channels, for OnGap. */
#define TC_CHANNEL_BROADCAST 1 /* TcpClusterBroadcast */
#define TC_CHANNEL_TOPIC     2 /* TcpClusterPublish */
#define TC_CHANNEL_DIRECT    3 /* TcpClusterSendToLink / TcpClusterSendToKey to this node */

/* ------------------------------------------------------------------------------------------
 * Callbacks. Context is the one given to TcpClusterCreate.
 * ------------------------------------------------------------------------------------------ */

/* A message published on Topic (by Publisher, a node id) with TcpClusterPublish. Runs on the
 * node's subscribing thread for other nodes' messages, and inside TcpClusterPublish (on the
 * caller's thread) for this node's own. Data is valid during the call. A callback that blocks
 * stops this node's whole subscription (Redis then drops it as a slow subscriber).
 * @bytes Data */
typedef void (TC_CALL* TOnClusterTopic)(void* Context, const char* Topic, uint64_t Publisher,
                                        const uint8_t* Data, int32_t Len);
/* A directed send (TcpClusterSendToLink / TcpClusterSendToKey) failed after its call returned.
 * Tag is what the call was given; Reason is TC_SEND_*; Node and LinkId the target when known
 * (0 if not), Key the key for a send to a key (else ""); Text says what happened. Runs on
 * one of the library's threads. */
typedef void (TC_CALL* TOnClusterSendFailed)(void* Context, uint64_t Tag, int32_t Reason,
                                             uint64_t Node, uint64_t LinkId, const char* Key,
                                             const char* Text);
/* Messages from Publisher on Channel (TC_CHANNEL_*) never arrived here: Missed of them, just
 * before the one that did. Runs on the subscribing thread. */
typedef void (TC_CALL* TOnClusterGap)(void* Context, uint64_t Publisher, int32_t Channel,
                                      int64_t Missed);
/* The node's state changed (TC_STATE_*); Text says why (e.g. which Redis call failed and when
 * the next attempt is). Runs on one of the library's threads (or in Start/Stop). */
typedef void (TC_CALL* TOnClusterState)(void* Context, int32_t State, const char* Text);

/* ------------------------------------------------------------------------------------------
 * Node lifecycle.
 * ------------------------------------------------------------------------------------------ */

/* A node for Server (NULL = the default server), which must be stopped: the node installs its
 * own OnConnect / OnDisconnect / OnLinkIdleOvertime on it (to remove a closed link's presence
 * keys) and forwards every event to the callbacks given to TcpClusterSetEventProc /
 * TcpClusterSetConnectProc, which replace TcpServerSetEventProc / TcpServerSetConnectProc
 * for this server while the node exists (calling those directly would unhook the node).
 * RedisUrl: redis://[[user]:password@]host[:port][/db] (port 6379, db 0 by default; host
 * may be a name, an IPv4 literal or [IPv6]). KeyPrefix: the start of every Redis key and
 * channel the node uses (NULL or "" = "tcpcluster:"); nodes with the same prefix form one
 * cluster. NodeName: free text stored in the node's liveness key (NULL = ""). Context is
 * passed to the cluster callbacks. The node id (TcpClusterGetNodeId) is 64 random bits from
 * the OS, so it never repeats, also across restarts and broker data loss. One node per server.
 * NULL on failure. */
TC_API TcpClusterNode* TC_CALL TcpClusterCreate(TcpServerHandle* Server, const char* RedisUrl,
                                                const char* KeyPrefix, const char* NodeName,
                                                void* Context);
/* Stop the node (as TcpClusterStop) and free it. The server must be stopped (or destroyed):
 * its callbacks go back to the application's own, so it can run without the node. Fails with
 * TC_ERR_SERVER_RUNNING (nothing changed) while it runs, TC_ERR_IN_CALLBACK from one of the
 * node's callbacks. @bool */
TC_API int32_t TC_CALL TcpClusterDestroy(TcpClusterNode* Node);

/* The server's callbacks, as TcpServerSetEventProc / TcpServerSetConnectProc (any may be NULL;
 * a NULL OnReceive echoes). OnReceive and the thread callbacks go to the engine unchanged;
 * OnConnect, OnDisconnect and OnLinkIdleOvertime run inside the node's own, which first
 * record the link (connect) or remove its presence keys (close). The Context they get is the
 * server's (CreateTcpServer's; NULL for the default server). Fails with
 * TC_ERR_SERVER_RUNNING while the server runs. @bool */
TC_API int32_t TC_CALL TcpClusterSetEventProc(TcpClusterNode* Node, TOnReceiveEx OnReceive,
                                              TOnDisconnectEx OnDisconnect,
                                              TOnLinkIdleOvertimeEx OnLinkIdleOvertime,
                                              TOnThreadCreateEx OnServerThreadCreate,
                                              TOnThreadCreateEx OnWorkerThreadCreate);
TC_API int32_t TC_CALL TcpClusterSetConnectProc(TcpClusterNode* Node, TOnConnectEx OnConnect);
/* The cluster's callbacks (any may be NULL). Set before TcpClusterStart
 * (TC_ERR_ALREADY_STARTED). @bool */
TC_API int32_t TC_CALL TcpClusterSetClusterProc(TcpClusterNode* Node, TOnClusterTopic OnTopic,
                                                TOnClusterSendFailed OnSendFailed,
                                                TOnClusterGap OnGap, TOnClusterState OnState);

/* TC_OPT_* before TcpClusterStart (TC_ERR_ALREADY_STARTED while running). @bool */
TC_API int32_t TC_CALL TcpClusterSetOption(TcpClusterNode* Node, int32_t Option, int64_t Value);
/* The value, or -1 with an error. */
TC_API int64_t TC_CALL TcpClusterGetOption(TcpClusterNode* Node, int32_t Option);
/* An option's bounds (the same for every node) into Min and Max; 0 with TC_ERR_UNKNOWN_OPTION.
 * @bool @out Min Max */
TC_API int32_t TC_CALL TcpClusterGetOptionRange(int32_t Option, int64_t* Min, int64_t* Max);

/* Start the node's two threads; they connect to Redis in the background, so Start succeeds
 * while Redis is down (OnState reports, the node keeps trying). Each start after a stop draws a
 * new node id. Start and stop the server itself as usual, before or after. @bool */
TC_API int32_t TC_CALL TcpClusterStart(TcpClusterNode* Node);
/* Publish what is queued (for at most TC_OPT_REPLY_TIMEOUT_MS), delete the node's liveness and
 * presence keys, close both connections, join the threads. Local delivery keeps working on a
 * stopped node; the remote parts are dropped and counted (TC_COUNTER_DOWN_DROPPED). Returns 1
 * (also when not running); 0 with TC_ERR_IN_CALLBACK from one of the node's own callbacks
 * (TcpClusterStart and TcpClusterDestroy too), which it would wait for. @bool */
TC_API int32_t TC_CALL TcpClusterStop(TcpClusterNode* Node);
/* The node's id (never 0), the same on every node and in every message. 0 with an error. */
TC_API uint64_t TC_CALL TcpClusterGetNodeId(TcpClusterNode* Node);
/* TC_STATE_*, or -1 with an error. */
TC_API int32_t TC_CALL TcpClusterGetState(TcpClusterNode* Node);

/* ------------------------------------------------------------------------------------------
 * Messages. Safe from any thread (engine callbacks included); none waits on Redis.
 * ------------------------------------------------------------------------------------------ */

/* Len bytes (1..TC_OPT_MAX_MESSAGE) to every open link of every node (the engine's
 * TcpServerPostBroadcast on each), except ExceptLinkId (a link of THIS node; 0 = none).
 * Local links get it in the call. Returns how many local links it was queued to, or -1 with
 * an error (bad arguments; TC_ERR_ENGINE if the local broadcast failed, e.g. the server is
 * stopped — the remote part is still queued). A remote part that cannot be queued is counted
 * (TC_COUNTER_QUEUE_DROPPED / TC_COUNTER_DOWN_DROPPED), not an error. */
TC_API int32_t TC_CALL TcpClusterBroadcast(TcpClusterNode* Node, const void* Buf, int32_t Len,
                                           uint64_t ExceptLinkId);
/* Len bytes (1..TC_OPT_MAX_MESSAGE) to link LinkId of node TargetNode (this node's own id:
 * sent at once with SendBufferById). Returns 1 when sent (local) or queued (remote); 0 with an
 * error when that is known at once: TC_ERR_LINK_CLOSED (a local link), TC_ERR_QUEUE_FULL,
 * TC_ERR_BROKER_DOWN (both counted), TC_ERR_TOO_LARGE. A remote failure found later (node
 * gone, link closed there, connection lost) calls OnSendFailed with Tag. @bool */
TC_API int32_t TC_CALL TcpClusterSendToLink(TcpClusterNode* Node, uint64_t TargetNode,
                                            uint64_t LinkId, const void* Buf, int32_t Len,
                                            uint64_t Tag);
/* Len bytes (0..TC_OPT_MAX_MESSAGE) to OnTopic on every node, this one included (at once, on
 * this thread). Topic: 1..255 bytes of UTF-8. Returns 1, or 0 with an error for bad arguments;
 * as with TcpClusterBroadcast, a remote part that cannot be queued is counted, not an error.
 * @bool */
TC_API int32_t TC_CALL TcpClusterPublish(TcpClusterNode* Node, const char* Topic, const void* Buf,
                                         int32_t Len);

/* ------------------------------------------------------------------------------------------
 * Presence: a key (1..255 bytes of UTF-8, e.g. a user name) held by one link in the cluster.
 * The last TcpClusterSetKey anywhere wins. The node refreshes its keys every third of
 * TC_OPT_KEY_TTL_MS, so a node that dies loses them within that TTL; a closed link's keys are
 * removed by the node. Sets and clears reach Redis on the library's thread: while Redis is
 * down they are kept and asserted at the reconnection.
 * ------------------------------------------------------------------------------------------ */

/* Link LinkId (an open link of this node's server) now holds Key. Returns 1, or 0 with an error
 * (TC_ERR_LINK_CLOSED, TC_ERR_KEY_LIMIT, ...). @bool */
TC_API int32_t TC_CALL TcpClusterSetKey(TcpClusterNode* Node, uint64_t LinkId, const char* Key);
/* This node gives Key up (if another node took it since, that one keeps it). 0 with
 * TC_ERR_KEY_NOT_HELD if this node does not hold it. @bool */
TC_API int32_t TC_CALL TcpClusterClearKey(TcpClusterNode* Node, const char* Key);
/* Len bytes to the link that holds Key, wherever it is (this node's own: at once). The key is
 * looked up on the library's thread; returns 1 when sent or queued, 0 with an error as
 * TcpClusterSendToLink; a key that no link holds, a node gone or a link closed there is
 * reported later through OnSendFailed with Tag. @bool */
TC_API int32_t TC_CALL TcpClusterSendToKey(TcpClusterNode* Node, const char* Key, const void* Buf,
                                           int32_t Len, uint64_t Tag);

/* ------------------------------------------------------------------------------------------
 * Counters and errors.
 * ------------------------------------------------------------------------------------------ */

/* A TC_COUNTER_* value, or -1 with TC_ERR_INVALID_ARGUMENT. */
TC_API int64_t TC_CALL TcpClusterGetCounter(TcpClusterNode* Node, int32_t Counter);
/* The calling thread's last error of this library (not the engine's); the text is valid until
 * the next failing call on this thread. */
TC_API int32_t TC_CALL TcpClusterGetLastErrorCode(void);
TC_API const char* TC_CALL TcpClusterGetLastErrorText(void);
/* Static texts for a TC_STATE_* and a TC_SEND_* value. */
TC_API const char* TC_CALL TcpClusterGetStateText(int32_t State);
TC_API const char* TC_CALL TcpClusterGetSendFailureText(int32_t Reason);
/* TCPCLUSTER_VERSION_NUMBER of the loaded library. */
TC_API int32_t TC_CALL TcpClusterGetVersion(void);

#ifdef __cplusplus
}
#endif

#endif /* TCPCLUSTER_H */
