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
 */
#ifndef TCPSERVER_H
#define TCPSERVER_H

#include <stddef.h>
#include <stdint.h>

/* Compile-time version. GetVersion() returns the run-time one; bindings compare them. */
#define TCPSERVER_VERSION_MAJOR 1
#define TCPSERVER_VERSION_MINOR 2
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
  int32_t  IsWorkerThread; /* 1 for a worker, 0 for the service thread */
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
 * close reason is TS_CLOSE_BY_APP). NULL OnReceive echoes everything back. */
typedef int32_t (TS_CALL* TOnReceive)(TcpLink* Link, uint8_t* Buf, int32_t Len);
/* The link closed (see Link->CloseReason). Called exactly once per accepted link. */
typedef void (TS_CALL* TOnDisconnect)(TcpLink* Link);
/* The link was silent longer than TS_OPT_IDLE_TIMEOUT_MS and has been closed. Called
 * instead of OnDisconnect; if it is NULL, OnDisconnect is called (reason TS_CLOSE_IDLE). */
typedef void (TS_CALL* TOnLinkIdleOvertime)(TcpLink* Link);
/* Runs ON the new thread before it serves anything; its result is the thread's
 * TcpWorker.Data (e.g. a per-thread database connection). */
typedef void* (TS_CALL* TOnThreadCreate)(int32_t IsWorkerThread);
/* Runs on a thread just before it exits; Data is what OnXxxThreadCreate returned. */
typedef void (TS_CALL* TOnThreadExit)(int32_t IsWorkerThread, void* Data);
/* A new link, before its first OnReceive. Return 0 to refuse it: the socket is closed, it is
 * counted in TS_COUNTER_REFUSED, and no other callback is called for it. */
typedef int32_t (TS_CALL* TOnConnect)(TcpLink* Link);
/* Receives every log line (engine messages and WriteLog). Level is TS_LOG_*. */
typedef void (TS_CALL* TOnLog)(int32_t Level, const char* Text);

/* ------------------------------------------------------------------------------------------
 * Constants.
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
/* Framing (TS_OPT_FRAMING = TS_FRAMING_LENGTH_PREFIXED) only: */
#define TS_CLOSE_FRAME_TOO_LARGE 8 /* a header announced more than TS_OPT_MAX_MESSAGE_SIZE */
#define TS_CLOSE_BAD_FRAME       9 /* a header with the top bit set (not a valid length) */
#define TS_CLOSE_FRAME_TRUNCATED 10 /* the peer closed in the middle of a message; the partial
                                       message was never delivered */

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

/* Options (SetServerOption / GetServerOption). Set them before StartTcpServer; they apply
 * from the next start. GetServerOptionRange tells each option's bounds. */
#define TS_OPT_MAX_LINKS         1  /* max concurrent links; more are refused. default 3000 */
#define TS_OPT_IO_BUFFER_SIZE    2  /* bytes per IO buffer (GetIOMem). default 2048 */
#define TS_OPT_IO_BUFFER_COUNT   3  /* buffers in the pool. default 10000 */
#define TS_OPT_IDLE_TIMEOUT_MS   4  /* close links silent this long; 0 = never. default 60000 */
#define TS_OPT_WORKER_THREADS    5  /* 0 = automatic: one per CPU on Linux, 2 x CPU + 2 on
                                       Windows (IOCP wakes the extra ones only when a
                                       callback blocks). default 0 */
#define TS_OPT_LISTEN_BACKLOG    6  /* listen() backlog. default 1024 */
#define TS_OPT_SEND_QUEUE_LIMIT  7  /* max bytes queued per link; 0 = no limit. default 16 MiB */
#define TS_OPT_SEND_QUEUE_POLICY 8  /* TS_QUEUE_CLOSE_LINK (default) or TS_QUEUE_REFUSE_SEND */
#define TS_OPT_TCP_NODELAY       9  /* 1 = Nagle off (default 1) */
#define TS_OPT_KEEPALIVE         10 /* 1 = SO_KEEPALIVE on accepted sockets (default 0) */
#define TS_OPT_REUSEPORT         11 /* 1 = SO_REUSEPORT on the listener (default 0) */
#define TS_OPT_REUSEADDR         12 /* 1 = SO_REUSEADDR on the listener (default 1) */
#define TS_OPT_FRAMING           13 /* TS_FRAMING_RAW (default) or TS_FRAMING_LENGTH_PREFIXED */
#define TS_OPT_LOG_LEVEL         14 /* lowest TS_LOG_* level reported. default TS_LOG_WARN */
#define TS_OPT_MAX_MESSAGE_SIZE  15 /* framing: largest message payload in bytes (the header
                                       excluded); a bigger header closes the link with
                                       TS_CLOSE_FRAME_TOO_LARGE. default 16 MiB */
#define TS_OPT_KEEPALIVE_IDLE_S     16 /* TS_OPT_KEEPALIVE: seconds of silence before the first
                                          probe. default 60 */
#define TS_OPT_KEEPALIVE_INTERVAL_S 17 /* seconds between probes. default 10 */
#define TS_OPT_KEEPALIVE_COUNT      18 /* unanswered probes before the OS drops the connection
                                          (Linux; Windows 10 1703+). default 5 */
#define TS_OPT_IPV6_ONLY         19 /* for an IPv6 or empty Ip: 0 = dual-stack (default; IPv4
                                       peers show as "a.b.c.d" in RemoteIP), 1 = IPv6 only */
#define TS_OPT_BACKEND           50 /* the IO machinery: TS_BACKEND_AUTO (default), or one
                                       backend by name. A backend this build, OS or kernel does
                                       not have fails StartTcpServer with TS_ERR_NOT_SUPPORTED
                                       (the text lists the ones it has). While the server runs,
                                       GetServerOption returns the backend in use, never AUTO.
                                       With AUTO, the environment variable TCPSERVER_BACKEND
                                       (epoll, io_uring, iocp) picks one as if set here. */

#define TS_BACKEND_AUTO     0 /* Linux: io_uring where the kernel allows it (Linux 6.1+, not
                                 disabled by sysctl, seccomp or a container), else epoll, the
                                 reason logged once; Windows: IOCP */
#define TS_BACKEND_EPOLL    1 /* Linux: edge-triggered epoll, one loop per worker */
#define TS_BACKEND_IO_URING 2 /* Linux 6.1+: io_uring, one ring per worker (built with liburing) */
#define TS_BACKEND_IOCP     3 /* Windows: IO completion ports */

#define TS_QUEUE_CLOSE_LINK  0 /* over the limit: the send fails and the link is closed */
#define TS_QUEUE_REFUSE_SEND 1 /* over the limit: the send fails, the link stays open */

#define TS_FRAMING_RAW             0 /* a byte stream, delivered as it arrives (the original) */
#define TS_FRAMING_LENGTH_PREFIXED 1 /* messages, each after a 4-byte big-endian payload length:
                                        OnReceive gets whole messages (any size up to
                                        TS_OPT_MAX_MESSAGE_SIZE); PostSend, SendBuffer and the
                                        broadcasts add the header. A zero-length message is a
                                        heartbeat: it counts as activity, is not delivered. */

#define TS_LOG_DEBUG 0
#define TS_LOG_INFO  1
#define TS_LOG_WARN  2
#define TS_LOG_ERROR 3

#define TS_CLOSE_FLAG_ABORT 1 /* CloseLinkEx: drop pending sends and reset the connection */

/* Counters (GetServerCounter / TcpServerGetCounter). Totals of one server since it was created
 * (the default server: since the library loaded); they never reset. */
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
#define TS_COUNTER_FRAMING_ERRORS   11 /* links closed for a bad, oversize or truncated frame */

/* ------------------------------------------------------------------------------------------
 * Server.
 * ------------------------------------------------------------------------------------------ */

/* Bind Ip ("" or NULL = all interfaces, IPv4 or IPv6 literal) and Port (0 = ephemeral, see
 * GetServerPort), start the threads, accept connections. Returns 1, or 0 with an error
 * (TS_ERR_BAD_ADDRESS, TS_ERR_ADDRESS_IN_USE, TS_ERR_ALREADY_ACTIVE, ...; TS_ERR_IN_CALLBACK
 * from one of its own callbacks, as StopTcpServer). */
TS_API int32_t TS_CALL StartTcpServer(const char* Ip, uint32_t Port);
/* Close the listener and every link (each gets OnDisconnect, reason TS_CLOSE_SERVER_STOP),
 * wait for all callbacks, join all threads. Fails with TS_ERR_IN_CALLBACK from one of its own
 * callbacks, and from a callback of another server while a callback of this one waits for
 * that server to stop or start (either would wait forever); from other servers' callbacks it
 * works. Returns 1 when stopped (also when it was not running: stopping is idempotent). */
TS_API int32_t TS_CALL StopTcpServer(void);
/* As StopTcpServer but waits at most TimeoutMs (-1 = forever). Returns 0 with
 * TS_ERR_TIMEOUT if threads are still finishing: stopping goes on, call again to keep
 * waiting (a GUI thread can serve its message queue between calls). */
TS_API int32_t TS_CALL StopTcpServerEx(int32_t TimeoutMs);
/* 1 while running (after a successful start, before a stop begins). */
TS_API int32_t TS_CALL IsTcpServerActive(void);
/* The bound port (useful after starting on port 0), 0 when not running. */
TS_API uint32_t TS_CALL GetServerPort(void);

/* Set before StartTcpServer; the values are kept until changed. Calling while running fails
 * with TS_ERR_ALREADY_ACTIVE. */
TS_API void TS_CALL SetEventProc(TOnReceive OnReceive, TOnDisconnect OnDisconnect,
                                 TOnLinkIdleOvertime OnLinkIdleOvertime,
                                 TOnThreadCreate OnServerThreadCreate,
                                 TOnThreadCreate OnWorkerThreadCreate);
TS_API int32_t TS_CALL SetConnectProc(TOnConnect OnConnect);
TS_API int32_t TS_CALL SetThreadExitProc(TOnThreadExit OnThreadExit);
/* Where log lines go (NULL = standard error). May be set at any time. */
TS_API void TS_CALL SetLogProc(TOnLog OnLog);

TS_API int32_t TS_CALL SetServerOption(int32_t Option, int64_t Value);
/* The value, or -1 with TS_ERR_UNKNOWN_OPTION. */
TS_API int64_t TS_CALL GetServerOption(int32_t Option);
TS_API int32_t TS_CALL GetServerOptionRange(int32_t Option, int64_t* Min, int64_t* Max);

/* ------------------------------------------------------------------------------------------
 * IO memory and sending. All safe from any thread at any time.
 * ------------------------------------------------------------------------------------------ */

/* A buffer of TS_OPT_IO_BUFFER_SIZE bytes from the pool, or NULL with TS_ERR_POOL_EXHAUSTED.
 * The pool exists from the first GetIOMem or StartTcpServer and survives StopTcpServer. */
TS_API void* TS_CALL GetIOMem(void);
/* Return a buffer you own. Fails (and changes nothing) for NULL, foreign or already-freed
 * pointers and for buffers a successful PostSend handed to the engine. */
TS_API int32_t TS_CALL FreeIOMem(void* Mem);
/* Queue Len bytes (1..buffer size) of Mem for Link. Returns 1: the engine owns Mem and frees
 * it after sending. Returns 0: nothing was queued and the caller still owns Mem. Sends on
 * one link leave in call order. */
TS_API int32_t TS_CALL PostSend(TcpLink* Link, void* Mem, int32_t Len);
TS_API int32_t TS_CALL PostSendById(uint64_t LinkId, void* Mem, int32_t Len);
/* Copy Len bytes (any length) from Buf and send them; Buf may be reused at once. Returns 0
 * (nothing sent) if the link is closed, the queue limit would be exceeded or the pool has
 * not enough buffers for what cannot be written at once. */
TS_API int32_t TS_CALL SendBuffer(TcpLink* Link, const void* Buf, int32_t Len);
TS_API int32_t TS_CALL SendBufferById(uint64_t LinkId, const void* Buf, int32_t Len);
/* Kept for source compatibility with UTcpServer: the engine always receives on its own.
 * PostRecv checks that Link is open, then returns Mem (if not NULL) to the pool: 1. On failure
 * (closed link, Mem not a buffer the caller holds) it returns 0 and Mem stays the caller's. */
TS_API int32_t TS_CALL PostRecv(TcpLink* Link, void* Mem);
/* Send Len bytes (copied once, shared by all links) to every link open at the call.
 * Returns how many links it was queued to, or -1 with an error. */
TS_API int32_t TS_CALL PostBroadcast(const void* Buf, int32_t Len);

/* Close a link. Pending sends flush first (CloseLink); TS_CLOSE_FLAG_ABORT drops them.
 * OnDisconnect follows on the link's thread with reason TS_CLOSE_BY_APP. */
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
 * changes nothing. */
TS_API int32_t TS_CALL PauseReceive(TcpLink* Link);
TS_API int32_t TS_CALL ResumeReceive(TcpLink* Link);
TS_API int32_t TS_CALL PauseReceiveById(uint64_t LinkId);
TS_API int32_t TS_CALL ResumeReceiveById(uint64_t LinkId);
/* Bytes queued on the link and not yet written to its socket (framing headers included),
 * or -1 with an error. With the IOCP and io_uring backends this includes bytes handed to a
 * send whose completion the engine has not seen yet (an instant, unless the peer reads slowly):
 * a peer may already hold bytes still counted here. */
TS_API int64_t TS_CALL GetSendQueueBytes(TcpLink* Link);
TS_API int64_t TS_CALL GetSendQueueBytesById(uint64_t LinkId);
/* Ids of the open links of the default server. Writes min(count, Capacity) ids to Ids and
 * returns count, the number of open links at the call (so a short buffer is detected by
 * count > Capacity; Ids may be NULL when Capacity is 0). -1 with an error. Safe while links
 * come and go: every id written was open during the call (it may be closed by now). */
TS_API int32_t TS_CALL GetLinkIds(uint64_t* Ids, int32_t Capacity);
/* PostBroadcast to every open link but ExceptLinkId (0 = none, as PostBroadcast). */
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

typedef struct TcpServerHandle TcpServerHandle; /* opaque */

typedef int32_t (TS_CALL* TOnReceiveEx)(void* Context, TcpLink* Link, uint8_t* Buf, int32_t Len);
typedef void (TS_CALL* TOnDisconnectEx)(void* Context, TcpLink* Link);
typedef void (TS_CALL* TOnLinkIdleOvertimeEx)(void* Context, TcpLink* Link);
typedef void* (TS_CALL* TOnThreadCreateEx)(void* Context, int32_t IsWorkerThread);
typedef void (TS_CALL* TOnThreadExitEx)(void* Context, int32_t IsWorkerThread, void* Data);
typedef int32_t (TS_CALL* TOnConnectEx)(void* Context, TcpLink* Link);

/* A new, stopped server with the default options and no callbacks (a NULL OnReceive echoes).
 * Context is passed to every callback. NULL with an error (TS_ERR_OUT_OF_MEMORY). */
TS_API TcpServerHandle* TS_CALL CreateTcpServer(void* Context);
/* Stop (as TcpServerStop) and free a server made by CreateTcpServer. Its buffers still held
 * by the application become invalid. Fails with TS_ERR_IN_CALLBACK from one of its own
 * callbacks and with TS_ERR_INVALID_ARGUMENT for NULL, the default server or a destroyed
 * handle. */
TS_API int32_t TS_CALL DestroyTcpServer(TcpServerHandle* Server);
/* The server the flat API drives; never NULL, never destroyed. Its Context is NULL. */
TS_API TcpServerHandle* TS_CALL GetDefaultTcpServer(void);
/* The Context given to CreateTcpServer (NULL for the default server). */
TS_API void* TS_CALL TcpServerGetContext(TcpServerHandle* Server);

/* As the flat functions of the same name, for one server. On a bad handle they fail with
 * TS_ERR_INVALID_ARGUMENT (0, -1 or NULL as their flat twin documents; the counts -1). */
TS_API int32_t TS_CALL TcpServerStart(TcpServerHandle* Server, const char* Ip, uint32_t Port);
TS_API int32_t TS_CALL TcpServerStop(TcpServerHandle* Server, int32_t TimeoutMs);
TS_API int32_t TS_CALL TcpServerIsActive(TcpServerHandle* Server);
TS_API uint32_t TS_CALL TcpServerGetPort(TcpServerHandle* Server);
TS_API int32_t TS_CALL TcpServerSetEventProc(TcpServerHandle* Server, TOnReceiveEx OnReceive,
                                             TOnDisconnectEx OnDisconnect,
                                             TOnLinkIdleOvertimeEx OnLinkIdleOvertime,
                                             TOnThreadCreateEx OnServerThreadCreate,
                                             TOnThreadCreateEx OnWorkerThreadCreate);
TS_API int32_t TS_CALL TcpServerSetConnectProc(TcpServerHandle* Server, TOnConnectEx OnConnect);
TS_API int32_t TS_CALL TcpServerSetThreadExitProc(TcpServerHandle* Server,
                                                  TOnThreadExitEx OnThreadExit);
TS_API int32_t TS_CALL TcpServerSetOption(TcpServerHandle* Server, int32_t Option, int64_t Value);
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
 * are 64-bit here (bytes), so a table or pool beyond 2 GiB is reported whole. */
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
 * previous call for that worker (then restarts from 0, as the original). */
TS_API int32_t TS_CALL GetWorkerExecInfo(int32_t Index, uint32_t* TickCount);
TS_API uint32_t TS_CALL GetServerExecLong(void);  /* ms the last service pass took */
TS_API int32_t TS_CALL GetServerExecCount(void);  /* service passes so far */
/* A TS_COUNTER_* total, or -1 with TS_ERR_INVALID_ARGUMENT. */
TS_API int64_t TS_CALL GetServerCounter(int32_t Counter);

/* ------------------------------------------------------------------------------------------
 * Misc.
 * ------------------------------------------------------------------------------------------ */
/* The application's own log line: handed to the OnLog callback (or standard error) as
 * TS_LOG_INFO whatever TS_OPT_LOG_LEVEL says, which filters only the engine's messages. */
TS_API void TS_CALL WriteLog(const char* Text);
/* The first non-loopback IPv4 address of a local interface: a public one if IsInternetIP,
 * else a private one (falls back to any, then 127.0.0.1). No network lookups. Writes text
 * to Buf; returns its length, or -1 with an error. */
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
