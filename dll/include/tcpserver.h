/*
 * tcpserver.h — the one public header of tcpserver (libtcpserver.so / tcpserver.dll).
 *
 * A TCP server engine with the flat API of the Delphi unit UTcpServer: start a server, wire
 * a few callbacks, send with pool buffers. Usable from C and C++; every binding (Pascal, C#,
 * Python) mirrors exactly what is declared here.
 *
 * ABI rules (they never change):
 *  - Every function and callback uses TS_CALL: __stdcall on 32-bit Windows, the platform
 *    default elsewhere. Windows export names are undecorated.
 *  - Booleans are int32_t (0 = false, anything else = true; the library returns 0 or 1).
 *  - Enums are plain int32_t constants. Strings are NUL-terminated UTF-8 (`const char*`).
 *  - Structs only grow at the end; a binding checks its layout with GetAbiLayout().
 *  - A function that fails returns 0 / NULL / -1 (as documented) and sets the calling
 *    thread's last error (GetLastErrorCode / GetLastErrorText). Success leaves it untouched.
 *  - If a call that would lead to a callback fails, that callback is never called.
 *
 * This header is the one description of the ABI. tools/abi/abi.py reads it and generates the
 * bindings' raw layers, tcpserver.def and the engine's option table from it; what C does not
 * say is written as tags at the end of doc comments (tools/abi/README.md): `@since X.Y` (the
 * API version that added an item; none = 1.0), `@bool` (an int32_t result, or the members or
 * parameters named, is a boolean), `@out`, `@array`, `@bytes` (what a pointer parameter is),
 * `@default` and `@range` (an option's default and bounds), `@family` (a family of constants
 * and the numbers it may use). A comment above declarations documents each of them down to the
 * next blank line or comment; a comment after a declaration, on its line, documents that one.
 */
#ifndef TCPSERVER_H
#define TCPSERVER_H

#include <stddef.h>
#include <stdint.h>

/* Compile-time version. GetVersion() returns the run-time one; bindings compare them. */
#define TCPSERVER_VERSION_MAJOR 1
#define TCPSERVER_VERSION_MINOR 3
#define TCPSERVER_VERSION_PATCH 0
#define TCPSERVER_VERSION_NUMBER \
  (TCPSERVER_VERSION_MAJOR * 10000 + TCPSERVER_VERSION_MINOR * 100 + TCPSERVER_VERSION_PATCH)

#if defined(_WIN32) && !defined(_WIN64)
#define TS_CALL __stdcall
#else
#define TS_CALL
#endif

#if defined(_WIN32)
#if defined(TCPSERVER_BUILD)
#define TS_API __declspec(dllexport)
#else
#define TS_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define TS_API __attribute__((visibility("default")))
#else
#define TS_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------
 * Records shared with the application.
 * ------------------------------------------------------------------------------------------ */

/* One engine thread (a worker, or the service thread). Passed to callbacks through
 * TcpLink.Worker; valid while that thread runs. */
typedef struct TcpWorker {
  void*    Data;           /* what OnWorkerThreadCreate / OnServerThreadCreate returned */
  uint32_t ID;             /* OS thread id */
  int32_t  Index;          /* 1..GetWorkerCount() for workers, 0 for the service thread */
  int32_t  IsWorkerThread; /* 1 for a worker, 0 for the service thread @bool */
  int32_t  Reserved0;
  void*    Reserved[4];
} TcpWorker, *PWorker;

#define TS_REMOTE_IP_SIZE 48 /* an IPv6 text form (45 chars) plus NUL, rounded up */

/* One connection ("link"). The engine owns it; the application may read every field and
 * write only Data. Valid from OnConnect until OnDisconnect / OnLinkIdleOvertime returns;
 * after that the record may be recycled for another connection (the Id will differ). */
typedef struct TcpLink {
  void*      Data;            /* application-owned pointer, NULL for a new link */
  TcpWorker* Worker;          /* the engine thread running the current callback */
  uint64_t   Id;              /* unique in the process, never reused; never 0 */
  char       RemoteIP[TS_REMOTE_IP_SIZE]; /* peer address as text ("127.0.0.1", "::1") */
  uint32_t   RemotePort;      /* peer port */
  uint32_t   TickCountActive; /* GetTickCount32() of the last receive (or of the accept) */
  int32_t    CloseReason;     /* TS_CLOSE_*, set before OnDisconnect / OnLinkIdleOvertime */
  int32_t    CloseError;      /* OS error code when CloseReason is TS_CLOSE_ERROR, else 0 */
  void*      Reserved[4];
} TcpLink, *PLink;

/* ------------------------------------------------------------------------------------------
 * Callbacks. All run on engine threads. Callbacks of one link never run concurrently and
 * come in this order: OnConnect, OnReceive* (stream order), then exactly one of
 * OnDisconnect / OnLinkIdleOvertime. Any of them may be NULL.
 * ------------------------------------------------------------------------------------------ */

/* Data arrived. Buf is valid only during the call; Len is 1..IO buffer size (raw stream).
 * Return nonzero to keep the link; return 0 to close it (pending sends flush first; the
 * close reason is TS_CLOSE_BY_APP). NULL OnReceive echoes everything back. @bool @bytes Buf */
typedef int32_t (TS_CALL* TOnReceive)(TcpLink* Link, uint8_t* Buf, int32_t Len);
/* The link closed (see Link->CloseReason). Called exactly once per accepted link. */
typedef void (TS_CALL* TOnDisconnect)(TcpLink* Link);
/* The link was silent longer than TS_OPT_IDLE_TIMEOUT_MS and has been closed. Called
 * instead of OnDisconnect; if it is NULL, OnDisconnect is called (reason TS_CLOSE_IDLE). */
typedef void (TS_CALL* TOnLinkIdleOvertime)(TcpLink* Link);
/* Runs ON the new thread before it serves anything; its result is the thread's
 * TcpWorker.Data (e.g. a per-thread database connection). @bool IsWorkerThread */
typedef void* (TS_CALL* TOnThreadCreate)(int32_t IsWorkerThread);
/* Runs on a thread just before it exits; Data is what OnXxxThreadCreate returned.
 * @bool IsWorkerThread */
typedef void (TS_CALL* TOnThreadExit)(int32_t IsWorkerThread, void* Data);
/* A new link, before its first OnReceive. Return 0 to refuse it: the socket is closed, it is
 * counted in TS_COUNTER_REFUSED, and no other callback is called for it. @bool */
typedef int32_t (TS_CALL* TOnConnect)(TcpLink* Link);
/* Receives every log line (engine messages and WriteLog). Level is TS_LOG_*. */
typedef void (TS_CALL* TOnLog)(int32_t Level, const char* Text);

/* ------------------------------------------------------------------------------------------
 * Constants.
 *
 * Every constant belongs to the family of its longest matching prefix below. Its number is
 * unique in the family and, where the family lists ranges, lies in one of them: new constants
 * take their numbers only from the range reserved for the work that adds them, so work done in
 * parallel does not collide (tools/abi/abi.py refuses any other number).
 * @family TS_OPT_ options: 1-19 API 1.0-1.2; 20-29 memory budget; 30-49 TLS;
 *         50-59 backend and deployment (TS_OPT_BACKEND, PROXY protocol, drain)
 * @family TS_CLOSE_ close reasons: 0-10 API 1.0-1.2; 11-13 memory budget; 14-16 TLS
 * @family TS_COUNTER_ counters: 1-11 API 1.0-1.2; 12-19 memory budget; 20-27 TLS
 * @family TS_ERR_ TS_OK error codes: 0-23 API 1.0-1.2; 24-25 memory budget; 26-29 TLS
 * @family TS_CLOSE_FLAG_ CloseLinkEx flags
 * @family TS_QUEUE_ send-queue policies (TS_OPT_SEND_QUEUE_POLICY)
 * @family TS_FRAMING_ framing modes (TS_OPT_FRAMING)
 * @family TS_LOG_ log levels (TS_OPT_LOG_LEVEL)
 * @family TS_REMOTE_IP_SIZE sizes
 * @family TS_TLS_ TLS versions (TS_OPT_TLS_MIN_VERSION)
 * @family TS_TLS_CLIENT_CERT_ client-certificate modes (TS_OPT_TLS_CLIENT_CERT)
 * @family TS_TLS_INFO_ what GetLinkTlsInfo reports
 * @family TS_TLS_CAUSE_ why a TLS handshake failed (GetTlsFailureCount)
 * @family TS_BACKEND_ backends (TS_OPT_BACKEND)
 * ------------------------------------------------------------------------------------------ */

/* Why a link closed (TcpLink.CloseReason). */
#define TS_CLOSE_NONE            0
#define TS_CLOSE_PEER_CLOSED     1 /* the peer closed its side (FIN) */
#define TS_CLOSE_PEER_RESET      2 /* the peer reset the connection (RST) */
#define TS_CLOSE_IDLE            3 /* nothing received for TS_OPT_IDLE_TIMEOUT_MS */
#define TS_CLOSE_BY_APP          4 /* CloseLink*, or OnReceive returned 0 */
#define TS_CLOSE_SEND_QUEUE_FULL 5 /* the send queue went over TS_OPT_SEND_QUEUE_LIMIT */
#define TS_CLOSE_SERVER_STOP     6 /* StopTcpServer */
#define TS_CLOSE_ERROR           7 /* a socket error; TcpLink.CloseError holds the OS code */
/* Framing (TS_OPT_FRAMING = TS_FRAMING_LENGTH_PREFIXED) only: @since 1.1 */
#define TS_CLOSE_FRAME_TOO_LARGE 8 /* a header announced more than TS_OPT_MAX_MESSAGE_SIZE */
#define TS_CLOSE_BAD_FRAME       9 /* a header with the top bit set (not a valid length) */
#define TS_CLOSE_FRAME_TRUNCATED 10 /* the peer closed in the middle of a message; the partial
                                       message was never delivered */
/* The memory budget (TS_OPT_MEMORY_BUDGET ...): @since 1.3 */
#define TS_CLOSE_MEMORY_BUDGET   11 /* a send to the link, or its partial framed message, would
                                       have taken the server past TS_OPT_MEMORY_BUDGET */
#define TS_CLOSE_MESSAGE_TIMEOUT 12 /* framing: a message in progress did not grow for
                                       TS_OPT_MESSAGE_TIMEOUT_MS */
/* TLS (TS_OPT_TLS): @since 1.3 */
#define TS_CLOSE_TLS_ERROR       14 /* an established TLS link got a fatal alert or a record
                                       that does not decrypt; CloseError: a TS_TLS_CAUSE_* */
#define TS_CLOSE_TLS_NO_CLOSE_NOTIFY 15 /* the peer closed TCP without TLS close_notify: what it
                                           sent may have been cut short (a close_notify is
                                           TS_CLOSE_PEER_CLOSED, as a FIN without TLS) */

/* Error codes (GetLastErrorCode). */
#define TS_OK                    0
#define TS_ERR_INVALID_ARGUMENT  1  /* NULL or out-of-range argument */
#define TS_ERR_NOT_ACTIVE        2  /* the server is not running */
#define TS_ERR_ALREADY_ACTIVE    3  /* the server is running (or still stopping) */
#define TS_ERR_IN_CALLBACK       4  /* not allowed from inside a callback (would deadlock) */
#define TS_ERR_BAD_ADDRESS       5  /* the IP text is not an IPv4/IPv6 literal */
#define TS_ERR_ADDRESS_IN_USE    6  /* the port is already bound */
#define TS_ERR_SOCKET            7  /* a socket call failed; the text names it and the OS error */
#define TS_ERR_NOT_A_BUFFER      8  /* the pointer is not a buffer from GetIOMem */
#define TS_ERR_BUFFER_NOT_OWNED  9  /* the buffer is already free, or owned by a pending send */
#define TS_ERR_BAD_LENGTH        10 /* negative length, or larger than the buffer */
#define TS_ERR_NOT_A_LINK        11 /* the pointer is not a link of this server */
#define TS_ERR_LINK_CLOSED       12 /* the link is closed/closing, or the id is stale */
#define TS_ERR_POOL_EXHAUSTED    13 /* no free IO buffer; free some or raise TS_OPT_IO_BUFFER_COUNT */
#define TS_ERR_SEND_QUEUE_FULL   14 /* the send would exceed TS_OPT_SEND_QUEUE_LIMIT */
#define TS_ERR_UNKNOWN_OPTION    15
#define TS_ERR_OPTION_RANGE      16 /* value outside GetServerOptionRange() */
#define TS_ERR_TIMEOUT           17 /* a bounded wait ran out; the operation goes on */
#define TS_ERR_BUFFER_TOO_SMALL  18 /* the caller's output buffer is too small */
#define TS_ERR_NOT_FOUND         19
#define TS_ERR_OUT_OF_MEMORY     20
#define TS_ERR_SYSTEM            21 /* an OS call failed (threads, epoll/IOCP); see the text */
#define TS_ERR_BUSY              22 /* buffers are still held by the app (see GetIOMemUse) */
#define TS_ERR_NOT_SUPPORTED     23 /* not available in this build/version */
#define TS_ERR_MEMORY_BUDGET     24 /* the send would take the server past TS_OPT_MEMORY_BUDGET
                                       @since 1.3 */
/* TLS: @since 1.3 */
#define TS_ERR_TLS_CERTIFICATE   26 /* a certificate, key or CA cannot be used (file, format,
                                       password, mismatch, weak key: the text says which) */
#define TS_ERR_TLS_CONFIG        27 /* a TLS setting is invalid (cipher list, ALPN, host pattern,
                                       ticket keys) or missing at start (no certificate) */
#define TS_ERR_TLS_UNAVAILABLE   28 /* this build has no TLS, or OpenSSL could not start */
#define TS_ERR_TLS_NOT_ESTABLISHED 29 /* not a TLS link (GetLinkTlsInfo) */

/* Options (SetServerOption / GetServerOption). Set them before StartTcpServer; they apply
 * from the next start. Each says its default and bounds (GetServerOptionRange tells them too). */
#define TS_OPT_MAX_LINKS         1  /* max concurrent links; more are refused.
                                       @default 3000 @range 1..(1 << 24) - 1 */
#define TS_OPT_IO_BUFFER_SIZE    2  /* bytes per IO buffer (GetIOMem). @default 2048
                                       @range 64..16 MiB */
#define TS_OPT_IO_BUFFER_COUNT   3  /* buffers in the pool. @default 10000 @range 16..16777216 */
#define TS_OPT_IDLE_TIMEOUT_MS   4  /* close links silent this long (up to 30 days); 0 = never.
                                       @default 60000 @range 0..30 * 24 * 3600 * 1000 */
#define TS_OPT_WORKER_THREADS    5  /* 0 = automatic: one per CPU on Linux, 2 x CPU + 2 on
                                       Windows (IOCP wakes the extra ones only when a
                                       callback blocks). @default 0 @range 0..256 */
#define TS_OPT_LISTEN_BACKLOG    6  /* listen() backlog. @default 1024 @range 1..65535 */
#define TS_OPT_SEND_QUEUE_LIMIT  7  /* max bytes queued per link; 0 = no limit.
                                       @default 16 MiB @range 0..1 TiB */
#define TS_OPT_SEND_QUEUE_POLICY 8  /* TS_QUEUE_CLOSE_LINK or TS_QUEUE_REFUSE_SEND.
                                       @default TS_QUEUE_CLOSE_LINK
                                       @range TS_QUEUE_CLOSE_LINK..TS_QUEUE_REFUSE_SEND */
#define TS_OPT_TCP_NODELAY       9  /* 1 = Nagle off. @default 1 @range 0..1 */
#define TS_OPT_KEEPALIVE         10 /* 1 = SO_KEEPALIVE on accepted sockets. @default 0
                                       @range 0..1 */
#define TS_OPT_REUSEPORT         11 /* 1 = SO_REUSEPORT on the listener. @default 0 @range 0..1 */
#define TS_OPT_REUSEADDR         12 /* 1 = SO_REUSEADDR on the listener. @default 1 @range 0..1 */
#define TS_OPT_FRAMING           13 /* TS_FRAMING_RAW or TS_FRAMING_LENGTH_PREFIXED.
                                       @default TS_FRAMING_RAW
                                       @range TS_FRAMING_RAW..TS_FRAMING_LENGTH_PREFIXED */
#define TS_OPT_LOG_LEVEL         14 /* lowest TS_LOG_* level reported. @default TS_LOG_WARN
                                       @range TS_LOG_DEBUG..TS_LOG_ERROR */
#define TS_OPT_MAX_MESSAGE_SIZE  15 /* framing: largest message payload in bytes (the header
                                       excluded); a bigger header closes the link with
                                       TS_CLOSE_FRAME_TOO_LARGE. @default 16 MiB
                                       @range 1..0x7FFFFFFF @since 1.1 */
/* Keep-alive probes (TS_OPT_KEEPALIVE). Linux caps them at 32767 s and 127 probes; the same
 * bounds hold everywhere, so a value that works on one OS works on the other. @since 1.1 */
#define TS_OPT_KEEPALIVE_IDLE_S     16 /* seconds of silence before the first probe.
                                          @default 60 @range 1..32767 */
#define TS_OPT_KEEPALIVE_INTERVAL_S 17 /* seconds between probes. @default 10 @range 1..32767 */
#define TS_OPT_KEEPALIVE_COUNT      18 /* unanswered probes before the OS drops the connection
                                          (Linux; Windows 10 1703+). @default 5 @range 1..127 */

#define TS_OPT_IPV6_ONLY         19 /* for an IPv6 or empty Ip: 0 = dual-stack (IPv4 peers show
                                       as "a.b.c.d" in RemoteIP), 1 = IPv6 only.
                                       @default 0 @range 0..1 @since 1.1 */
/* Bounded memory under any client behaviour (README: "Memory budget"). @since 1.3 */
#define TS_OPT_MEMORY_BUDGET     20 /* bytes the server may hold for its links: queued sends,
                                       partial framed messages, per-link transport state. A send
                                       that would go past it fails as TS_OPT_SEND_QUEUE_POLICY
                                       says (TS_ERR_MEMORY_BUDGET, or the link closed with
                                       TS_CLOSE_MEMORY_BUDGET); 0 = no budget.
                                       @default 512 MiB @range 0..1 TiB */
#define TS_OPT_SEND_HIGH_WATER   21 /* a link whose send queue reaches this many bytes is not
                                       read until the queue drains to half of it, so a peer that
                                       does not read its replies stops being read (it sees TCP
                                       backpressure); 0 = off. @default 256 KiB @range 0..1 TiB */
#define TS_OPT_MESSAGE_TIMEOUT_MS 22 /* framing: a message in progress that does not grow for
                                        this long closes its link (TS_CLOSE_MESSAGE_TIMEOUT);
                                        0 = never. @default 30000
                                        @range 0..30 * 24 * 3600 * 1000 */
#define TS_OPT_MAX_LINKS_PER_ADDRESS 23 /* links one remote address may hold (IPv6: one /64);
                                           more are refused without a callback and counted
                                           (TS_COUNTER_ADDRESS_REFUSED); 0 = no limit.
                                           @default 0 @range 0..(1 << 24) - 1 */
#define TS_OPT_ACCEPT_RATE       24 /* connections accepted per second (bursts of as many);
                                       more are refused without a callback and counted
                                       (TS_COUNTER_RATE_REFUSED); 0 = no limit.
                                       @default 0 @range 0..1000000 */
/* TLS on accepted links (README: "TLS"). The certificate and the other settings come from the
 * SetTls* calls; these options, like all, apply from the next start. @since 1.3 */
#define TS_OPT_TLS               30 /* 1 = every link speaks TLS: a connection becomes a link (and
                                       gets OnConnect) when its handshake completes. Start fails
                                       with TS_ERR_TLS_CONFIG when no certificate is set.
                                       @default 0 @range 0..1 */
#define TS_OPT_TLS_MIN_VERSION   31 /* TS_TLS_1_2 or TS_TLS_1_3; older versions never.
                                       @default TS_TLS_1_2 @range TS_TLS_1_2..TS_TLS_1_3 */
#define TS_OPT_TLS_CLIENT_CERT   32 /* TS_TLS_CLIENT_CERT_NONE, _REQUEST (a client may send none;
                                       one it sends must verify) or _REQUIRE; the CAs come from
                                       SetTlsClientCA. @default TS_TLS_CLIENT_CERT_NONE
                                       @range TS_TLS_CLIENT_CERT_NONE..TS_TLS_CLIENT_CERT_REQUIRE */
#define TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS 33 /* a handshake not complete by then is closed, counted
                                              and logged; no callback. @default 10000
                                              @range 100..600000 */
#define TS_OPT_TLS_MAX_HANDSHAKES 34 /* handshakes in progress at once; at the cap the oldest is
                                        dropped to admit the new one (counted), so stalled
                                        handshakes cannot lock real clients out.
                                        @default 1000 @range 1..1000000 */
#define TS_OPT_TLS_SESSION_TICKETS 35 /* 1 = resumption with stateless session tickets.
                                         @default 1 @range 0..1 */

/* The IO machinery. @since 1.3 */
#define TS_OPT_BACKEND           50 /* TS_BACKEND_AUTO, or one backend by name. A backend this
                                       build, OS or kernel does not have fails StartTcpServer with
                                       TS_ERR_NOT_SUPPORTED (the text lists the ones it has).
                                       While the server runs, GetServerOption returns the backend
                                       in use, never AUTO. With AUTO, the environment variable
                                       TCPSERVER_BACKEND (epoll, io_uring, iocp) picks one as if
                                       set here. @default TS_BACKEND_AUTO
                                       @range TS_BACKEND_AUTO..TS_BACKEND_IOCP */

/* Behind a load balancer (README: "More than one machine"). @since 1.3 */
#define TS_OPT_PROXY_PROTOCOL    51 /* 1 = every connection starts with a PROXY protocol header
                                       (v1 or v2, as HAProxy sends): RemoteIP / RemotePort are the
                                       client's from it, TS_OPT_MAX_LINKS_PER_ADDRESS counts the
                                       client's address, and the connection becomes a link (or
                                       starts its TLS handshake) once the header is read. One
                                       without a valid header is closed (counted as refused, no
                                       callback); one silent longer than
                                       TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS too. @default 0
                                       @range 0..1 */

#define TS_BACKEND_AUTO     0 /* Linux: io_uring where the kernel lets it run, else epoll
                                 (why is logged once, at TS_LOG_INFO); Windows: IOCP
                                 @since 1.3 */
#define TS_BACKEND_EPOLL    1 /* Linux: edge-triggered epoll, one loop per worker @since 1.3 */
#define TS_BACKEND_IO_URING 2 /* Linux 6.1+: io_uring, one ring per worker (built with liburing)
                                 @since 1.3 */
#define TS_BACKEND_IOCP     3 /* Windows: IO completion ports @since 1.3 */

#define TS_TLS_1_2 12 /* TLS 1.2 @since 1.3 */
#define TS_TLS_1_3 13 /* TLS 1.3 @since 1.3 */

#define TS_TLS_CLIENT_CERT_NONE    0 /* no client certificate asked for @since 1.3 */
#define TS_TLS_CLIENT_CERT_REQUEST 1 /* asked for; optional, but one sent must verify @since 1.3 */
#define TS_TLS_CLIENT_CERT_REQUIRE 2 /* a client without a verified certificate is refused
                                        @since 1.3 */

#define TS_QUEUE_CLOSE_LINK  0 /* over the limit: the send fails and the link is closed */
#define TS_QUEUE_REFUSE_SEND 1 /* over the limit: the send fails, the link stays open */

#define TS_FRAMING_RAW             0 /* a byte stream, delivered as it arrives (the original) */
#define TS_FRAMING_LENGTH_PREFIXED 1 /* messages, each after a 4-byte big-endian payload length:
                                        OnReceive gets whole messages (any size up to
                                        TS_OPT_MAX_MESSAGE_SIZE); PostSend, SendBuffer and the
                                        broadcasts add the header. A zero-length message is a
                                        heartbeat: it counts as activity, is not delivered.
                                        @since 1.1 */

#define TS_LOG_DEBUG 0
#define TS_LOG_INFO  1
#define TS_LOG_WARN  2
#define TS_LOG_ERROR 3

#define TS_CLOSE_FLAG_ABORT 1 /* CloseLinkEx: drop pending sends and reset the connection */

/* Counters (GetServerCounter / TcpServerGetCounter). Totals of one server since it was created
 * (the default server: since the library loaded); they never reset. Bytes and messages are the
 * application's: with TLS, the plaintext OnReceive got and the sends sealed, not the records. */
#define TS_COUNTER_BYTES_IN         1
#define TS_COUNTER_BYTES_OUT        2
#define TS_COUNTER_MSGS_IN          3 /* OnReceive calls (or echoed reads) */
#define TS_COUNTER_MSGS_OUT         4 /* sends fully written to the socket */
#define TS_COUNTER_ACCEPTS          5 /* connections accepted and served */
#define TS_COUNTER_REFUSED          6 /* refused: link limit reached or OnConnect returned 0 */
#define TS_COUNTER_SEND_QUEUE_DROPS 7 /* sends refused or links closed over the queue limit */
#define TS_COUNTER_CLOSED           8 /* links closed (each got its OnDisconnect/IdleOvertime) */
#define TS_COUNTER_IDLE_CLOSED      9
#define TS_COUNTER_RECV_PAUSES      10 /* times a link stopped reading because the pool was low */
#define TS_COUNTER_FRAMING_ERRORS   11 /* links closed for a bad, oversize or truncated frame
                                           @since 1.1 */
/* The memory budget. Two are levels, not totals: MEMORY_IN_USE and LINKS_HELD. @since 1.3 */
#define TS_COUNTER_MEMORY_IN_USE    12 /* bytes counted against TS_OPT_MEMORY_BUDGET now */
#define TS_COUNTER_MEMORY_PEAK      13 /* the most MEMORY_IN_USE has been */
#define TS_COUNTER_HIGH_WATER_PAUSES 14 /* times a link stopped being read because its send
                                            queue reached TS_OPT_SEND_HIGH_WATER */
#define TS_COUNTER_LINKS_HELD       15 /* links not read now because of their send queue */
#define TS_COUNTER_BUDGET_REFUSALS  16 /* sends refused or links closed at the budget */
#define TS_COUNTER_MESSAGE_TIMEOUTS 17 /* links closed by TS_OPT_MESSAGE_TIMEOUT_MS */
#define TS_COUNTER_ADDRESS_REFUSED  18 /* connections over TS_OPT_MAX_LINKS_PER_ADDRESS */
#define TS_COUNTER_RATE_REFUSED     19 /* connections over TS_OPT_ACCEPT_RATE */
/* TLS. HANDSHAKES_IN_PROGRESS is a level: connections in their handshake now (not links yet,
 * so not in GetLinkCount). @since 1.3 */
#define TS_COUNTER_TLS_HANDSHAKES   20 /* handshakes completed (connections that became links) */
#define TS_COUNTER_TLS_RESUMED      21 /* of those, resumed from a session ticket */
#define TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS 22
#define TS_COUNTER_TLS_HANDSHAKE_FAILURES 23 /* handshakes failed, every cause (GetTlsFailureCount
                                                counts each); the peer's early close included */
#define TS_COUNTER_TLS_HANDSHAKE_TIMEOUTS 24 /* closed at TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS */
#define TS_COUNTER_TLS_HANDSHAKES_DROPPED 25 /* dropped at TS_OPT_TLS_MAX_HANDSHAKES */
#define TS_COUNTER_TLS_NOT_TLS      26 /* of the failures: not TLS at all (plain HTTP, scanners) */
#define TS_COUNTER_TLS_ERRORS       27 /* established links closed with TS_CLOSE_TLS_ERROR */

/* What GetLinkTlsInfo reports, as text. @since 1.3 */
#define TS_TLS_INFO_PROTOCOL            0 /* "TLSv1.3", "TLSv1.2" */
#define TS_TLS_INFO_CIPHER              1 /* OpenSSL's name: "TLS_AES_128_GCM_SHA256" */
#define TS_TLS_INFO_SERVER_NAME         2 /* the SNI name the client sent, "" if none */
#define TS_TLS_INFO_ALPN                3 /* the protocol chosen, "" if none */
#define TS_TLS_INFO_CLIENT_SUBJECT      4 /* the client certificate's subject (RFC 2253), "" */
#define TS_TLS_INFO_CLIENT_ISSUER       5 /* its issuer, "" if none */
#define TS_TLS_INFO_VERIFY_RESULT       6 /* "ok", "none" (no client certificate), or why not */
#define TS_TLS_INFO_RESUMED             7 /* "1" resumed from a ticket, "0" a full handshake */
#define TS_TLS_INFO_CLIENT_FINGERPRINT  8 /* SHA-256 of the client certificate, "AB:CD:..." */
#define TS_TLS_INFO_CERTIFICATE_PATTERN 9 /* the SNI pattern whose certificate was used, "" =
                                             the default one */

/* Why a TLS handshake failed (GetTlsFailureCount). @since 1.3 */
#define TS_TLS_CAUSE_NOT_TLS            1 /* the first bytes were not a ClientHello */
#define TS_TLS_CAUSE_VERSION            2 /* the client offers only versions not enabled */
#define TS_TLS_CAUSE_NO_SHARED_CIPHER   3 /* no common suite, group or signature algorithm */
#define TS_TLS_CAUSE_ALPN               4 /* ALPN offered, nothing in common (SetTlsAlpn) */
#define TS_TLS_CAUSE_CLIENT_CERTIFICATE 5 /* missing (required) or not verified */
#define TS_TLS_CAUSE_PEER_ALERT         6 /* the client sent a fatal alert (e.g. it does not
                                             trust the server's certificate) */
#define TS_TLS_CAUSE_BAD_RECORD         7 /* a record that does not decrypt or parse */
#define TS_TLS_CAUSE_PROTOCOL           8 /* another protocol violation */
#define TS_TLS_CAUSE_NO_MEMORY          9
#define TS_TLS_CAUSE_INTERNAL           10
#define TS_TLS_CAUSE_PEER_CLOSED        11 /* the client closed before the handshake ended */

/* ------------------------------------------------------------------------------------------
 * Server.
 * ------------------------------------------------------------------------------------------ */

/* Bind Ip ("" or NULL = all interfaces, IPv4 or IPv6 literal) and Port (0 = ephemeral, see
 * GetServerPort), start the threads, accept connections. Returns 1, or 0 with an error
 * (TS_ERR_BAD_ADDRESS, TS_ERR_ADDRESS_IN_USE, TS_ERR_ALREADY_ACTIVE, ...; TS_ERR_IN_CALLBACK
 * from one of its own callbacks, as StopTcpServer). @bool */
TS_API int32_t TS_CALL StartTcpServer(const char* Ip, uint32_t Port);
/* Close the listener and every link (each gets OnDisconnect, reason TS_CLOSE_SERVER_STOP),
 * wait for all callbacks, join all threads. Fails with TS_ERR_IN_CALLBACK from one of its own
 * callbacks, and from a callback of another server while a callback of this one waits for
 * that server to stop or start (either would wait forever); from other servers' callbacks it
 * works. Returns 1 when stopped (also when it was not running: stopping is idempotent).
 * @bool */
TS_API int32_t TS_CALL StopTcpServer(void);
/* As StopTcpServer but waits at most TimeoutMs (-1 = forever). Returns 0 with
 * TS_ERR_TIMEOUT if threads are still finishing: stopping goes on, call again to keep
 * waiting (a GUI thread can serve its message queue between calls). @bool */
TS_API int32_t TS_CALL StopTcpServerEx(int32_t TimeoutMs);
/* Drain for a rolling restart: stop accepting at once (new connections are refused by the OS),
 * keep serving the open links until they close by themselves or TimeoutMs passes, then stop as
 * StopTcpServer (the links still open get TS_CLOSE_SERVER_STOP). Returns how many links had to
 * be closed at the deadline (0: all left by themselves), or -1 with an error
 * (TS_ERR_NOT_ACTIVE, TS_ERR_INVALID_ARGUMENT for a negative timeout, TS_ERR_IN_CALLBACK as
 * StopTcpServer). @since 1.3 */
TS_API int32_t TS_CALL DrainTcpServer(int32_t TimeoutMs);
/* 1 while running (after a successful start, before a stop begins). @bool */
TS_API int32_t TS_CALL IsTcpServerActive(void);
/* The bound port (useful after starting on port 0), 0 when not running. */
TS_API uint32_t TS_CALL GetServerPort(void);

/* Set before StartTcpServer; the values are kept until changed. Calling while running fails
 * with TS_ERR_ALREADY_ACTIVE. @bool */
TS_API void TS_CALL SetEventProc(TOnReceive OnReceive, TOnDisconnect OnDisconnect,
                                 TOnLinkIdleOvertime OnLinkIdleOvertime,
                                 TOnThreadCreate OnServerThreadCreate,
                                 TOnThreadCreate OnWorkerThreadCreate);
TS_API int32_t TS_CALL SetConnectProc(TOnConnect OnConnect);
TS_API int32_t TS_CALL SetThreadExitProc(TOnThreadExit OnThreadExit);
/* Where log lines go (NULL = standard error). May be set at any time. */
TS_API void TS_CALL SetLogProc(TOnLog OnLog);

/* Set an option (TS_OPT_*): 0 with TS_ERR_UNKNOWN_OPTION, TS_ERR_OPTION_RANGE, or
 * TS_ERR_ALREADY_ACTIVE while running (TS_OPT_LOG_LEVEL: any time, for every server). @bool */
TS_API int32_t TS_CALL SetServerOption(int32_t Option, int64_t Value);
/* The value, or -1 with TS_ERR_UNKNOWN_OPTION. */
TS_API int64_t TS_CALL GetServerOption(int32_t Option);
/* An option's bounds, written to *Min and *Max (either may be NULL); 0 with
 * TS_ERR_UNKNOWN_OPTION. @bool @out Min Max */
TS_API int32_t TS_CALL GetServerOptionRange(int32_t Option, int64_t* Min, int64_t* Max);

/* ------------------------------------------------------------------------------------------
 * IO memory and sending. All safe from any thread at any time.
 * ------------------------------------------------------------------------------------------ */

/* A buffer of TS_OPT_IO_BUFFER_SIZE bytes from the pool, or NULL with TS_ERR_POOL_EXHAUSTED.
 * The pool exists from the first GetIOMem or StartTcpServer and survives StopTcpServer. */
TS_API void* TS_CALL GetIOMem(void);
/* Return a buffer you own. Fails (and changes nothing) for NULL, foreign or already-freed
 * pointers and for buffers a successful PostSend handed to the engine. @bool */
TS_API int32_t TS_CALL FreeIOMem(void* Mem);
/* Queue Len bytes (1..buffer size) of Mem for Link. Returns 1: the engine owns Mem and frees
 * it after sending. Returns 0: nothing was queued and the caller still owns Mem. Sends on
 * one link leave in call order. @bool */
TS_API int32_t TS_CALL PostSend(TcpLink* Link, void* Mem, int32_t Len);
TS_API int32_t TS_CALL PostSendById(uint64_t LinkId, void* Mem, int32_t Len);
/* Copy Len bytes (any length) from Buf and send them; Buf may be reused at once. Returns 0
 * (nothing sent) if the link is closed, the queue limit would be exceeded or the pool has
 * not enough buffers for what cannot be written at once. @bool */
TS_API int32_t TS_CALL SendBuffer(TcpLink* Link, const void* Buf, int32_t Len);
TS_API int32_t TS_CALL SendBufferById(uint64_t LinkId, const void* Buf, int32_t Len);
/* Kept for source compatibility with UTcpServer: the engine always receives on its own.
 * PostRecv checks that Link is open, then returns Mem (if not NULL) to the pool: 1. On failure
 * (closed link, Mem not a buffer the caller holds) it returns 0 and Mem stays the caller's.
 * @bool */
TS_API int32_t TS_CALL PostRecv(TcpLink* Link, void* Mem);
/* Send Len bytes (copied once, shared by all links) to every link open at the call.
 * Returns how many links it was queued to, or -1 with an error. */
TS_API int32_t TS_CALL PostBroadcast(const void* Buf, int32_t Len);

/* Close a link. Pending sends flush first (CloseLink); TS_CLOSE_FLAG_ABORT drops them.
 * OnDisconnect follows on the link's thread with reason TS_CLOSE_BY_APP. @bool */
TS_API int32_t TS_CALL CloseLink(TcpLink* Link);
TS_API int32_t TS_CALL CloseLinkById(uint64_t LinkId);
TS_API int32_t TS_CALL CloseLinkEx(TcpLink* Link, int32_t Flags);
TS_API int32_t TS_CALL CloseLinkByIdEx(uint64_t LinkId, int32_t Flags);

/* ------------------------------------------------------------------------------------------
 * Flow control and enumeration (any thread; Link-pointer forms only while the link is
 * valid, Id forms at any time). These work on links of every server.
 * ------------------------------------------------------------------------------------------ */

/* Stop / restart reading from a link. While paused the engine reads nothing more (TCP
 * backpressure reaches the peer); sends still go out, the idle clock still runs. A peer's
 * close is noticed after the resume, once the bytes before it are delivered (or by a failed
 * send, or the idle timeout). Pausing a paused link (or resuming a running one) succeeds and
 * changes nothing. @bool @since 1.1 */
TS_API int32_t TS_CALL PauseReceive(TcpLink* Link);
TS_API int32_t TS_CALL ResumeReceive(TcpLink* Link);
TS_API int32_t TS_CALL PauseReceiveById(uint64_t LinkId);
TS_API int32_t TS_CALL ResumeReceiveById(uint64_t LinkId);
/* Bytes queued on the link and not yet written to its socket (framing headers included),
  * or -1 with an error. With the IOCP and io_uring backends this includes bytes handed to a
 * send whose completion the engine has not seen yet (an instant, unless the peer reads slowly):
 * a peer may already hold bytes still counted here. @since 1.1 */
TS_API int64_t TS_CALL GetSendQueueBytes(TcpLink* Link);
TS_API int64_t TS_CALL GetSendQueueBytesById(uint64_t LinkId);
/* Ids of the open links of the default server. Writes min(count, Capacity) ids to Ids and
 * returns count, the number of open links at the call (so a short buffer is detected by
 * count > Capacity; Ids may be NULL when Capacity is 0). -1 with an error. Safe while links
 * come and go: every id written was open during the call (it may be closed by now).
 * @array Ids @since 1.1 */
TS_API int32_t TS_CALL GetLinkIds(uint64_t* Ids, int32_t Capacity);
/* PostBroadcast to every open link but ExceptLinkId (0 = none, as PostBroadcast).
 * @since 1.1 */
TS_API int32_t TS_CALL PostBroadcastExcept(const void* Buf, int32_t Len, uint64_t ExceptLinkId);

/* ------------------------------------------------------------------------------------------
 * Several servers in one process.
 *
 * Every function above drives the default server (GetDefaultTcpServer()). The TcpServer*
 * family below creates and drives more, each with its own options, callbacks, links, IO pool,
 * threads and counters. Link-based calls (PostSend, SendBuffer, CloseLink, PauseReceive, ...)
 * and the Id-based ones work for links of any server: ids are unique in the process. A
 * buffer belongs to the pool of the server it came from: PostSend of it to a link of another
 * server fails with TS_ERR_NOT_A_BUFFER; FreeIOMem accepts a buffer of any server.
 *
 * The callbacks of this family take the Context given to CreateTcpServer as their first
 * argument (a Delphi/C# object, a Python handle), so one set of callbacks can route events
 * to the object that owns the server.
 * ------------------------------------------------------------------------------------------ */

typedef struct TcpServerHandle TcpServerHandle; /* opaque @since 1.1 */

/* The callbacks of this family: as those above, with CreateTcpServer's Context first.
 * @bool @bytes Buf @since 1.1 */
typedef int32_t (TS_CALL* TOnReceiveEx)(void* Context, TcpLink* Link, uint8_t* Buf, int32_t Len);
typedef void (TS_CALL* TOnDisconnectEx)(void* Context, TcpLink* Link);
typedef void (TS_CALL* TOnLinkIdleOvertimeEx)(void* Context, TcpLink* Link);
/* @bool IsWorkerThread @since 1.1 */
typedef void* (TS_CALL* TOnThreadCreateEx)(void* Context, int32_t IsWorkerThread);
typedef void (TS_CALL* TOnThreadExitEx)(void* Context, int32_t IsWorkerThread, void* Data);
/* @bool @since 1.1 */
typedef int32_t (TS_CALL* TOnConnectEx)(void* Context, TcpLink* Link);

/* A new, stopped server with the default options and no callbacks (a NULL OnReceive echoes).
 * Context is passed to every callback. NULL with an error (TS_ERR_OUT_OF_MEMORY).
 * @since 1.1 */
TS_API TcpServerHandle* TS_CALL CreateTcpServer(void* Context);
/* Stop (as TcpServerStop) and free a server made by CreateTcpServer. Its buffers still held
 * by the application become invalid. Fails with TS_ERR_IN_CALLBACK from one of its own
 * callbacks and with TS_ERR_INVALID_ARGUMENT for NULL, the default server or a destroyed
 * handle. @bool @since 1.1 */
TS_API int32_t TS_CALL DestroyTcpServer(TcpServerHandle* Server);
/* The server the flat API drives; never NULL, never destroyed. Its Context is NULL.
 * @since 1.1 */
TS_API TcpServerHandle* TS_CALL GetDefaultTcpServer(void);
/* The Context given to CreateTcpServer (NULL for the default server). @since 1.1 */
TS_API void* TS_CALL TcpServerGetContext(TcpServerHandle* Server);

/* As the flat functions of the same name, for one server. On a bad handle they fail with
 * TS_ERR_INVALID_ARGUMENT (0, -1 or NULL as their flat twin documents; the counts -1). */

/* Start, stop and set up one server: 1, or 0 with an error. @bool @since 1.1 */
TS_API int32_t TS_CALL TcpServerStart(TcpServerHandle* Server, const char* Ip, uint32_t Port);
TS_API int32_t TS_CALL TcpServerStop(TcpServerHandle* Server, int32_t TimeoutMs);
TS_API int32_t TS_CALL TcpServerIsActive(TcpServerHandle* Server);
TS_API int32_t TS_CALL TcpServerSetEventProc(TcpServerHandle* Server, TOnReceiveEx OnReceive,
                                             TOnDisconnectEx OnDisconnect,
                                             TOnLinkIdleOvertimeEx OnLinkIdleOvertime,
                                             TOnThreadCreateEx OnServerThreadCreate,
                                             TOnThreadCreateEx OnWorkerThreadCreate);
TS_API int32_t TS_CALL TcpServerSetConnectProc(TcpServerHandle* Server, TOnConnectEx OnConnect);
TS_API int32_t TS_CALL TcpServerSetThreadExitProc(TcpServerHandle* Server,
                                                  TOnThreadExitEx OnThreadExit);
TS_API int32_t TS_CALL TcpServerSetOption(TcpServerHandle* Server, int32_t Option, int64_t Value);
/* Read one server, take its buffers, send to its links. @array Ids @since 1.1 */
TS_API uint32_t TS_CALL TcpServerGetPort(TcpServerHandle* Server);
TS_API int64_t TS_CALL TcpServerGetOption(TcpServerHandle* Server, int32_t Option);
TS_API void* TS_CALL TcpServerGetIOMem(TcpServerHandle* Server);
TS_API int32_t TS_CALL TcpServerPostBroadcast(TcpServerHandle* Server, const void* Buf,
                                              int32_t Len, uint64_t ExceptLinkId);
TS_API int32_t TS_CALL TcpServerGetLinkIds(TcpServerHandle* Server, uint64_t* Ids,
                                           int32_t Capacity);
TS_API int32_t TS_CALL TcpServerGetLinkCount(TcpServerHandle* Server);
TS_API int32_t TS_CALL TcpServerGetIOMemFree(TcpServerHandle* Server);
TS_API int32_t TS_CALL TcpServerGetWorkerCount(TcpServerHandle* Server);
TS_API int64_t TS_CALL TcpServerGetCounter(TcpServerHandle* Server, int32_t Counter);
/* API 1.2: the rest of the statistics, for one server. On a bad handle each fails with
 * TS_ERR_INVALID_ARGUMENT and returns -1 (TcpServerGetWorkerID: 0, as GetWorkerID). The sizes
 * are 64-bit here (bytes), so a table or pool beyond 2 GiB is reported whole.
 * @out TickCount @since 1.2 */
TS_API int32_t TS_CALL TcpServerGetLinkFree(TcpServerHandle* Server);
TS_API double TS_CALL TcpServerGetLinkUse(TcpServerHandle* Server);
TS_API int64_t TS_CALL TcpServerGetLinkSize(TcpServerHandle* Server);
TS_API double TS_CALL TcpServerGetIOMemUse(TcpServerHandle* Server);
TS_API int64_t TS_CALL TcpServerGetIOMemSize(TcpServerHandle* Server);
TS_API int32_t TS_CALL TcpServerGetWorkerID(TcpServerHandle* Server, int32_t Index);
TS_API int32_t TS_CALL TcpServerGetWorkerExecInfo(TcpServerHandle* Server, int32_t Index,
                                                  uint32_t* TickCount);
TS_API int64_t TS_CALL TcpServerGetExecLong(TcpServerHandle* Server);  /* GetServerExecLong */
TS_API int32_t TS_CALL TcpServerGetExecCount(TcpServerHandle* Server); /* GetServerExecCount */
/* As GetCloseCount, for one server; -1 with TS_ERR_INVALID_ARGUMENT on a bad handle or reason.
 * @since 1.3 */
TS_API int64_t TS_CALL TcpServerGetCloseCount(TcpServerHandle* Server, int32_t Reason);
/* As DrainTcpServer, for one server. @since 1.3 */
TS_API int32_t TS_CALL TcpServerDrain(TcpServerHandle* Server, int32_t TimeoutMs);
/* As the TLS settings calls below, for one server. @bytes CertData KeyData CaData Keys
 * @since 1.3 @bool */
TS_API int32_t TS_CALL TcpServerSetTlsCertificateFile(TcpServerHandle* Server,
                                                      const char* CertFile, const char* KeyFile,
                                                      const char* Password);
TS_API int32_t TS_CALL TcpServerSetTlsCertificate(TcpServerHandle* Server, const uint8_t* CertData,
                                                  int32_t CertLen, const uint8_t* KeyData,
                                                  int32_t KeyLen, const char* Password);
TS_API int32_t TS_CALL TcpServerAddTlsServerName(TcpServerHandle* Server, const char* HostPattern,
                                                 const uint8_t* CertData, int32_t CertLen,
                                                 const uint8_t* KeyData, int32_t KeyLen,
                                                 const char* Password);
TS_API int32_t TS_CALL TcpServerSetTlsAlpn(TcpServerHandle* Server, const char* List);
TS_API int32_t TS_CALL TcpServerSetTlsClientCA(TcpServerHandle* Server, const uint8_t* CaData,
                                               int32_t CaLen);
TS_API int32_t TS_CALL TcpServerSetTlsCiphers(TcpServerHandle* Server, const char* Tls12List,
                                              const char* Tls13Suites);
TS_API int32_t TS_CALL TcpServerSetTlsTicketKeys(TcpServerHandle* Server, const uint8_t* Keys,
                                                 int32_t Len);
/* As GetTlsFailureCount, for one server. @since 1.3 */
TS_API int64_t TS_CALL TcpServerGetTlsFailureCount(TcpServerHandle* Server, int32_t Cause);

/* ------------------------------------------------------------------------------------------
 * Statistics (as UTcpServer, plus counters).
 * ------------------------------------------------------------------------------------------ */
TS_API double TS_CALL GetLinkUse(void);        /* links in use, % of TS_OPT_MAX_LINKS */
TS_API int32_t TS_CALL GetLinkSize(void);      /* bytes of the link table (at most INT32_MAX) */
TS_API int32_t TS_CALL GetLinkCount(void);     /* open links */
TS_API int32_t TS_CALL GetLinkFree(void);      /* free link slots */
TS_API double TS_CALL GetIOMemUse(void);       /* buffers in use, % of the pool */
TS_API int32_t TS_CALL GetIOMemSize(void);     /* bytes of the IO pool (at most INT32_MAX) */
TS_API int32_t TS_CALL GetIOMemFree(void);     /* free buffers */
TS_API int32_t TS_CALL GetWorkerCount(void);
/* Index is 1..GetWorkerCount() (as the original). Returns the OS thread id, 0 if none. */
TS_API int32_t TS_CALL GetWorkerID(int32_t Index);
/* Callbacks/events the worker has run; *TickCount receives the ms it was busy since the
 * previous call for that worker (then restarts from 0, as the original). @out TickCount */
TS_API int32_t TS_CALL GetWorkerExecInfo(int32_t Index, uint32_t* TickCount);
TS_API uint32_t TS_CALL GetServerExecLong(void);  /* ms the last service pass took */
TS_API int32_t TS_CALL GetServerExecCount(void);  /* service passes so far */
/* A TS_COUNTER_* total, or -1 with TS_ERR_INVALID_ARGUMENT. */
TS_API int64_t TS_CALL GetServerCounter(int32_t Counter);
/* Links closed with a TS_CLOSE_* reason since the server was created (refused links never
 * opened and are not counted), or -1 with TS_ERR_INVALID_ARGUMENT for an unknown reason.
 * @since 1.3 */
TS_API int64_t TS_CALL GetCloseCount(int32_t Reason);

/* ------------------------------------------------------------------------------------------
 * TLS (TS_OPT_TLS; README "TLS"). OpenSSL 3 is inside the library (Linux: the system's
 * libssl; Windows: linked into tcpserver.dll). The settings calls work before a start (kept,
 * checked at once) and on a running server, where they apply atomically to new handshakes;
 * links already open keep theirs. A refused call changes nothing (TS_ERR_TLS_CERTIFICATE or
 * TS_ERR_TLS_CONFIG, the text says what to fix).
 * ------------------------------------------------------------------------------------------ */

/* The server's certificate and private key, recognised by content: PEM (a chain and the key,
 * in one text or two), DER, or PKCS#12/PFX (the key inside). KeyFile / KeyData NULL or empty:
 * the key is in the certificate data. Password: for an encrypted key or a PFX, else NULL.
 * @bytes CertData KeyData @since 1.3 @bool */
TS_API int32_t TS_CALL SetTlsCertificateFile(const char* CertFile, const char* KeyFile,
                                             const char* Password);
TS_API int32_t TS_CALL SetTlsCertificate(const uint8_t* CertData, int32_t CertLen,
                                         const uint8_t* KeyData, int32_t KeyLen,
                                         const char* Password);
/* SNI: the certificate for a host name, or a wildcard "*.example.com" (one label). An exact
 * name wins over a wildcard; other names and clients without SNI get the default certificate.
 * The same pattern again replaces its certificate; CertData NULL removes it.
 * @bytes CertData KeyData @since 1.3 @bool */
TS_API int32_t TS_CALL AddTlsServerName(const char* HostPattern, const uint8_t* CertData,
                                        int32_t CertLen, const uint8_t* KeyData, int32_t KeyLen,
                                        const char* Password);
/* ALPN protocols in the server's order of preference, comma-separated ("h2,http/1.1");
 * NULL or "" = off. A client offering ALPN with nothing in common is refused. @since 1.3 @bool */
TS_API int32_t TS_CALL SetTlsAlpn(const char* List);
/* CA certificates client certificates must chain to (PEM bundle, DER or PKCS#12); NULL removes
 * them. Used with TS_OPT_TLS_CLIENT_CERT. @bytes CaData @since 1.3 @bool */
TS_API int32_t TS_CALL SetTlsClientCA(const uint8_t* CaData, int32_t CaLen);
/* OpenSSL cipher lists for TLS 1.2 ("ECDHE-ECDSA-AES128-GCM-SHA256:...") and TLS 1.3 suites
 * ("TLS_AES_128_GCM_SHA256:..."); NULL or "" = the safe default. No NULL, export, RC4, 3DES,
 * anonymous or non-forward-secret suite is ever enabled. @since 1.3 @bool */
TS_API int32_t TS_CALL SetTlsCiphers(const char* Tls12List, const char* Tls13Suites);
/* Session-ticket keys, so servers behind one balancer resume each other's sessions: 1 to 16
 * keys of 80 bytes (nginx's ssl_session_ticket_key format); the first encrypts, all decrypt.
 * NULL = a new random key (the default). @bytes Keys @since 1.3 @bool */
TS_API int32_t TS_CALL SetTlsTicketKeys(const uint8_t* Keys, int32_t Len);
/* A TLS fact of an established link (TS_TLS_INFO_*) as text into Buf; returns its length, or
 * -1 with TS_ERR_TLS_NOT_ESTABLISHED (not a TLS link), TS_ERR_BUFFER_TOO_SMALL,
 * TS_ERR_LINK_CLOSED or TS_ERR_INVALID_ARGUMENT. Valid from OnConnect on. @array Buf
 * @since 1.3 */
TS_API int32_t TS_CALL GetLinkTlsInfo(TcpLink* Link, int32_t What, char* Buf, int32_t BufLen);
TS_API int32_t TS_CALL GetLinkTlsInfoById(uint64_t LinkId, int32_t What, char* Buf,
                                          int32_t BufLen);
/* Handshakes of the default server that failed for one TS_TLS_CAUSE_*, or -1 with
 * TS_ERR_INVALID_ARGUMENT. @since 1.3 */
TS_API int64_t TS_CALL GetTlsFailureCount(int32_t Cause);

/* ------------------------------------------------------------------------------------------
 * Misc.
 * ------------------------------------------------------------------------------------------ */
/* The application's own log line: handed to the OnLog callback (or standard error) as
 * TS_LOG_INFO whatever TS_OPT_LOG_LEVEL says, which filters only the engine's messages. */
TS_API void TS_CALL WriteLog(const char* Text);
/* The first non-loopback IPv4 address of a local interface: a public one if IsInternetIP,
 * else a private one (falls back to any, then 127.0.0.1). No network lookups. Writes text
 * to Buf; returns its length, or -1 with an error. @bool IsInternetIP @array Buf */
TS_API int32_t TS_CALL GetLocalIP(int32_t IsInternetIP, char* Buf, int32_t BufLen);
/* Milliseconds since an arbitrary start, wrapping at 2^32 (the clock of TickCountActive and of
   the idle timeout). On Linux it advances in steps of the kernel tick (1-4 ms). */
TS_API uint32_t TS_CALL GetTickCount32(void);

/* TCPSERVER_VERSION_NUMBER of the loaded library. kernel32 (<windows.h>) has a GetVersion of
 * its own, so Windows C/C++ code calls GetTcpServerVersion; the library exports both names
 * everywhere, and Delphi, .NET and Python bind "GetVersion" as on every platform. */
TS_API int32_t TS_CALL GetTcpServerVersion(void);
#if !defined(_WIN32)
TS_API int32_t TS_CALL GetVersion(void);
#endif
TS_API const char* TS_CALL GetVersionText(void);

/* The calling thread's last error; text is owned by the library and valid until the next
 * failing call on this thread. */
TS_API int32_t TS_CALL GetLastErrorCode(void);
TS_API const char* TS_CALL GetLastErrorText(void);
/* Static text for a TS_CLOSE_* reason, e.g. "peer closed". */
TS_API const char* TS_CALL GetCloseReasonText(int32_t Reason);

/* Record layout, for bindings to check theirs against: a static text of "name=value" pairs
 * separated by ';' — sizes and field offsets of TcpLink and TcpWorker, pointer size and the
 * version, e.g. "version=10000;ptr=8;TcpLink.size=...;TcpLink.Data=0;...". */
TS_API const char* TS_CALL GetAbiLayout(void);

#ifdef __cplusplus
}
#endif

#endif /* TCPSERVER_H */
