// Windows backend: one IO completion port, served by every worker thread.
//
// How it works (read this before changing anything):
//
// - Accepting: AcceptEx calls (two per worker, at least eight) stay posted on the listener.
//   Each completion opens a link and posts the accept again with a fresh socket.
// - Receiving: an idle link has one zero-byte WSARecv posted, so it holds no buffer. When that
//   completes, the worker reads with non-blocking recv() into its own buffer (one IO-buffer
//   size) until WSAEWOULDBLOCK or a fairness budget, then posts the zero-byte receive again.
//   One receive is outstanding per link at a time.
// - Sending: with nothing queued, a send is first tried with a non-blocking send(). What the
//   socket does not take waits on link.queue; one overlapped WSASend (a gather of the queued
//   items) is in flight at a time, and its completion, on whichever worker dequeues it, pops
//   what went out and posts the next, all under link.mu.
// - Callbacks of one link never overlap: any worker may dequeue any completion, so each link is
//   a tiny actor. An event (receive done, close request, send failed, queue flushed, resume
//   reading) is OR-ed into IocpLink::events; then whoever wins IocpLink::busy runs every
//   pending event, lets go, and looks again (so an event added meanwhile is never stranded).
//   Only the busy holder calls Server::link_opened / deliver / link_closed and changes the
//   link's state; link_closed runs once, when the busy holder moves the link to kClosed, so
//   OnDisconnect comes exactly once and after the last OnReceive returned.
// - Lifetime: IocpLink::refs counts what may still name the link: 1 while it is open, 1 per
//   overlapped operation in the kernel, 1 per thread dispatching an event to it, 1 while it is
//   parked for backpressure. The slot goes back to the table (Server::release_link) only when
//   refs reaches 0, so a link is never recycled while an operation on its socket is pending.
// - Cross-thread requests are packets posted to the port: close and read-on (naming the link
//   and its id, so a stale request is ignored), resume paused readers, quit.
// - PauseReceive: read_some stops before its next recv() and posts no zero-byte receive
//   (app_parked); ResumeReceive's read-on packet starts it again. A link parked for the pool
//   (read_paused) is resumed only by the pool and one parked by the app only by the app.
// - Stop: the listener is closed (cancelling the accepts) and every link gets a close request
//   (TS_CLOSE_SERVER_STOP, abort). `live_` counts posted accepts plus links not yet released;
//   when it reaches 0 a quit packet is posted, and each worker passes it on as it exits.
// - Listener options: Windows rebinds a port held by TIME_WAIT connections without
//   SO_REUSEADDR (whose Windows meaning is "share the port"), so TS_OPT_REUSEADDR needs nothing
//   here; the listener takes the port exclusively (SO_EXCLUSIVEADDRUSE) unless TS_OPT_REUSEPORT
//   asks for sharing, which is SO_REUSEADDR on Windows.
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
// kernel32's GetVersion (in <windows.h>) clashes with tcpserver.h's: hide it while including.
#define GetVersion GetVersion_kernel32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <mstcpip.h>
#include <windows.h>
#undef GetVersion

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "backend/socket_address.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/server.h"

namespace ts {
namespace {

// Completion keys: what a dequeued packet is about.
constexpr ULONG_PTR kKeyAccept = 1;  // an AcceptEx completed (OVERLAPPED in an AcceptOp)
constexpr ULONG_PTR kKeyLink = 2;    // a WSARecv/WSASend completed (OVERLAPPED in an Op)
constexpr ULONG_PTR kKeyClose = 3;   // request_close (OVERLAPPED in a ClosePacket)
constexpr ULONG_PTR kKeyResume = 4;  // pool buffers came back
constexpr ULONG_PTR kKeyQuit = 5;    // stop: nothing is alive any more
constexpr ULONG_PTR kKeyReadOn = 6;  // resume_reading (OVERLAPPED in a ClosePacket)

constexpr ULONG kBatch = 64;           // completions per GetQueuedCompletionStatusEx
constexpr int kReadBudget = 16;        // full-buffer reads per wake-up, for fairness
constexpr int kAcceptsPerWorker = 2;   // AcceptEx calls kept posted
constexpr int kMinAccepts = 8;
constexpr DWORD kMaxBufs = 64;         // WSABUFs per WSASend
constexpr DWORD kAddrLen = sizeof(sockaddr_storage) + 16;  // AcceptEx wants 16 spare bytes

// Link events (IocpLink::events).
enum : uint32_t {
  kEvRecv = 1,        // the zero-byte receive completed
  kEvClose = 2,       // close requests are waiting in close_reqs
  kEvResume = 4,      // pool buffers are back: read again
  kEvSendFailed = 8,  // a send failed (send_error)
  kEvFlushed = 16,    // closing gracefully and the queue is now empty
  kEvReadOn = 32,     // the application resumed receiving (ResumeReceive)
};

struct IocpLink;

struct Op {
  OVERLAPPED ov;  // first: the dequeued OVERLAPPED* is the Op*
  IocpLink* owner;
  bool is_send;
};

struct CloseReq {
  int32_t reason;
  bool abort;
};

struct IocpLink {
  Link* link;
  SOCKET sock;  // the busy holder closes it; senders use link->sock under link->mu
  Op recv_op{};
  Op send_op{};
  std::atomic<int> refs{0};
  std::atomic<uint32_t> events{0};
  std::atomic<bool> busy{false};
  std::atomic<int> send_error{0};
  std::mutex req_mu;
  std::vector<CloseReq> close_reqs;  // guarded by req_mu
  bool send_in_flight = false;       // guarded by link->mu
  bool app_parked = false;           // busy holder only: no receive posted, PauseReceive
  bool parked = false;               // guarded by the backend's paused_mu_

  IocpLink(Link* l, SOCKET s) : link(l), sock(s) {
    recv_op.owner = send_op.owner = this;
    send_op.is_send = true;
  }
};

struct AcceptOp {
  OVERLAPPED ov;  // first, as in Op
  SOCKET sock = INVALID_SOCKET;
  char addrs[2 * kAddrLen];
};

struct ClosePacket {
  OVERLAPPED ov;  // first, as in Op
  Link* link;
  uint64_t id;
  int32_t reason;
  bool abort;
};

class IocpBackend;

struct IocpWorker final : WorkerCtx {
  int index = 0;
  std::thread thread;
  std::vector<uint8_t> rbuf;  // reads land here, then go to OnReceive
};

bool is_reset_error(int e) {
  return e == WSAECONNRESET || e == WSAECONNABORTED || e == WSAENETRESET || e == WSAEDISCON ||
         e == WSAESHUTDOWN;
}
int32_t reason_for(int e) { return is_reset_error(e) ? TS_CLOSE_PEER_RESET : TS_CLOSE_ERROR; }
int32_t error_for(int e) { return is_reset_error(e) ? 0 : e; }

class IocpBackend final : public Backend {
 public:
  explicit IocpBackend(Server& server);
  ~IocpBackend() override;

  bool listen(const ListenSpec& spec) override;
  uint32_t bound_port() const override { return port_; }
  bool start_workers(int count) override;
  int worker_count() const override { return static_cast<int>(workers_.size()); }
  WorkerCtx* worker(int index) override { return workers_[static_cast<size_t>(index)].get(); }
  void begin_stop() override;
  bool finish_stop(int timeout_ms) override;
  using Backend::write_now_locked;
  size_t write_now_locked(Link& link, const ConstBuf* parts, int count, int* err) override;
  int send_locked(Link& link, SendItem* item) override;
  void request_close(Link& link, uint64_t id, int32_t reason, bool abort) override;
  void resume_paused_readers() override;
  void resume_reading(Link& link, uint64_t id) override;

 private:
  void run(IocpWorker& w);
  // Accepting.
  bool post_accept(AcceptOp* op);
  void on_accept(IocpWorker& w, AcceptOp* op);
  void open_link(IocpWorker& w, AcceptOp* op, SOCKET s);
  SOCKET new_socket() const;
  // The actor: events and the busy flag.
  void dispatch(IocpWorker& w, IocpLink* st, uint32_t ev);
  void run_held(IocpWorker& w, IocpLink* st);
  void handle(IocpWorker& w, IocpLink* st, uint32_t ev);
  void unref(IocpLink* st);
  // Reading.
  void on_recv_done(IocpWorker& w, IocpLink* st);
  void read_some(IocpWorker& w, IocpLink* st);
  void post_recv(IocpWorker& w, IocpLink* st);
  void park(IocpLink* st);
  void unpark(IocpLink* st);
  void on_resume(IocpWorker& w);
  // Writing.
  int post_send_locked(IocpLink* st);
  void on_send_done(IocpWorker& w, IocpLink* st, DWORD bytes);
  void note_written(size_t n, int items);
  // Closing.
  bool post_link_packet(ULONG_PTR key, Link& link, uint64_t id, int32_t reason, bool abort);
  void on_link_packet(IocpWorker& w, ClosePacket* p, ULONG_PTR key);
  void handle_close_requests(IocpWorker& w, IocpLink* st);
  void close_link(IocpWorker& w, IocpLink* st, int32_t reason, int err, bool abort, bool notify);
  void live_dec();
  void post_quit_once();
  void post_plain(ULONG_PTR key);

  Server& server_;
  bool wsa_ok_ = false;
  std::atomic<HANDLE> iocp_{nullptr};  // atomic: pool callbacks may look after a stop
  SOCKET listen_ = INVALID_SOCKET;
  int family_ = AF_INET;
  uint32_t port_ = 0;
  LPFN_ACCEPTEX accept_ex_ = nullptr;
  LPFN_GETACCEPTEXSOCKADDRS accept_addrs_ = nullptr;

  std::vector<std::unique_ptr<IocpWorker>> workers_;
  std::vector<std::unique_ptr<AcceptOp>> accepts_;
  std::mutex accept_mu_;  // listen_ and stopping_ against posting accepts
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> live_{0};  // posted accepts + links not yet released
  std::atomic<bool> quit_posted_{false};
  std::atomic<bool> resume_posted_{false};

  std::mutex paused_mu_;
  std::vector<IocpLink*> paused_;  // waiting for pool buffers; each holds a ref

  std::mutex exit_mu_;
  std::condition_variable exit_cv_;
  int running_ = 0;
};

IocpBackend::IocpBackend(Server& server) : server_(server) {
  WSADATA data;
  wsa_ok_ = WSAStartup(MAKEWORD(2, 2), &data) == 0;
}

IocpBackend::~IocpBackend() {
  if (!workers_.empty()) {
    begin_stop();
    finish_stop(-1);
  }
  if (listen_ != INVALID_SOCKET) closesocket(listen_);
  if (HANDLE h = iocp_.load()) CloseHandle(h);
  if (wsa_ok_) WSACleanup();
}

// ------------------------------------------------------------------------------------------
// Listening
// ------------------------------------------------------------------------------------------

// SO_KEEPALIVE with the server's timing. SIO_KEEPALIVE_VALS (every Windows) sets the idle time
// and the interval; the probe count is a socket option only from Windows 10 1703 (before, the
// OS uses 10), so its failure on older systems is expected and ignored.
void set_keepalive(SOCKET s, const Options& o) {
  DWORD one = 1;
  setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, reinterpret_cast<const char*>(&one), sizeof one);
  tcp_keepalive vals{};
  vals.onoff = 1;
  vals.keepalivetime = static_cast<ULONG>(o[TS_OPT_KEEPALIVE_IDLE_S] * 1000);
  vals.keepaliveinterval = static_cast<ULONG>(o[TS_OPT_KEEPALIVE_INTERVAL_S] * 1000);
  DWORD bytes = 0;
  WSAIoctl(s, SIO_KEEPALIVE_VALS, &vals, sizeof vals, nullptr, 0, &bytes, nullptr, nullptr);
#if defined(TCP_KEEPCNT)
  DWORD probes = static_cast<DWORD>(o[TS_OPT_KEEPALIVE_COUNT]);
  setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, reinterpret_cast<const char*>(&probes), sizeof probes);
#endif
}

SOCKET open_overlapped_socket(int family) {
  SOCKET s = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL)  // before Windows 7 SP1
    s = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
  return s;
}

template <typename Fn>
bool load_extension(SOCKET s, GUID guid, Fn* fn) {
  DWORD bytes = 0;
  return WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof guid, fn, sizeof *fn,
                  &bytes, nullptr, nullptr) == 0;
}

bool IocpBackend::listen(const ListenSpec& spec) {
  if (!wsa_ok_) return fail(TS_ERR_SYSTEM, "WSAStartup failed: Winsock 2.2 is not available");
  sockaddr_storage addr;
  int len = 0;
  if (!parse_listen_address(spec.ip, spec.port, addr, len))
    return fail(TS_ERR_BAD_ADDRESS,
                "'%s' is not an IPv4 or IPv6 address literal (use e.g. 127.0.0.1, ::1, or an "
                "empty string for all interfaces)",
                spec.ip.c_str());
  SOCKET s = open_overlapped_socket(addr.ss_family);
  if (s == INVALID_SOCKET && spec.ip.empty() && spec.ipv6_only)
    return fail(TS_ERR_SOCKET,
                "TS_OPT_IPV6_ONLY=1 with an empty IP, but this machine has no IPv6 (%s); set "
                "TS_OPT_IPV6_ONLY=0 or give an IPv4 address",
                os_error_text(WSAGetLastError()));
  if (s == INVALID_SOCKET && spec.ip.empty()) {  // no IPv6 here: IPv4 any
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    std::memset(&addr, 0, sizeof addr);
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_ANY);
    v4->sin_port = htons(static_cast<u_short>(spec.port));
    len = sizeof *v4;
    s = open_overlapped_socket(AF_INET);
  }
  if (s == INVALID_SOCKET) {
    int e = WSAGetLastError();
    return fail(TS_ERR_SOCKET, "socket() failed: %s", os_error_text(e));
  }
  DWORD zero = 0, one = 1;
  // Explicit either way (Windows defaults to IPv6 only).
  if (addr.ss_family == AF_INET6)
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY,
               reinterpret_cast<const char*>(spec.ipv6_only ? &one : &zero), sizeof zero);
  // See the top of the file for what TS_OPT_REUSEADDR / TS_OPT_REUSEPORT mean on Windows.
  setsockopt(s, SOL_SOCKET, spec.reuse_port ? SO_REUSEADDR : SO_EXCLUSIVEADDRUSE,
             reinterpret_cast<const char*>(&one), sizeof one);
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    int e = WSAGetLastError();
    closesocket(s);
    const char* shown = spec.ip.empty() ? "all interfaces" : spec.ip.c_str();
    if (e == WSAEADDRINUSE || e == WSAEACCES)  // WSAEACCES: another socket holds it exclusively
      return fail(TS_ERR_ADDRESS_IN_USE,
                  "port %u on %s is already in use: stop the program holding it or pick another "
                  "port (0 = any free port)",
                  spec.port, shown);
    if (e == WSAEADDRNOTAVAIL)
      return fail(TS_ERR_BAD_ADDRESS, "%s is not an address of this machine", shown);
    return fail(TS_ERR_SOCKET, "bind(%s port %u) failed: %s", shown, spec.port, os_error_text(e));
  }
  if (::listen(s, spec.backlog) != 0) {
    int e = WSAGetLastError();
    closesocket(s);
    return fail(TS_ERR_SOCKET, "listen() failed: %s", os_error_text(e));
  }
  if (!load_extension(s, WSAID_ACCEPTEX, &accept_ex_) ||
      !load_extension(s, WSAID_GETACCEPTEXSOCKADDRS, &accept_addrs_)) {
    int e = WSAGetLastError();
    closesocket(s);
    return fail(TS_ERR_SYSTEM, "AcceptEx is not available from this Winsock provider: %s",
                os_error_text(e));
  }
  sockaddr_storage bound;
  int blen = sizeof bound;
  getsockname(s, reinterpret_cast<sockaddr*>(&bound), &blen);
  port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                           : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  family_ = addr.ss_family;
  listen_ = s;
  return true;
}

// ------------------------------------------------------------------------------------------
// Threads
// ------------------------------------------------------------------------------------------

bool IocpBackend::start_workers(int count) {
  // Concurrency 0 = one running thread per CPU: the other workers wake only while some block
  // in a callback (the classic IOCP setup, so more workers than CPUs cost nothing).
  HANDLE h = CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 0);
  iocp_.store(h);
  if (!h || !CreateIoCompletionPort(reinterpret_cast<HANDLE>(listen_), h, kKeyAccept, 0)) {
    int e = static_cast<int>(GetLastError());
    return fail(TS_ERR_SYSTEM, "cannot create the IO completion port: %s", os_error_text(e));
  }
  for (int i = 0; i < count; ++i) {
    auto w = std::make_unique<IocpWorker>();
    w->index = i;
    w->pub.Index = i + 1;
    w->rbuf.resize(static_cast<size_t>(server_.opts()[TS_OPT_IO_BUFFER_SIZE]));
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    IocpWorker* wp = w.get();
    try {
      {
        std::lock_guard<std::mutex> lock(exit_mu_);
        ++running_;
      }
      wp->thread = std::thread([this, wp] { run(*wp); });
    } catch (const std::exception& e) {
      {
        std::lock_guard<std::mutex> lock(exit_mu_);
        --running_;
      }
      begin_stop();
      finish_stop(-1);
      return fail(TS_ERR_SYSTEM, "cannot start worker thread %d: %s", wp->index + 1, e.what());
    }
  }
  int n = std::max(kMinAccepts, kAcceptsPerWorker * count);
  int posted = 0;
  for (int i = 0; i < n; ++i) {
    accepts_.push_back(std::make_unique<AcceptOp>());
    if (post_accept(accepts_.back().get())) ++posted;
  }
  if (posted == 0) {
    int e = WSAGetLastError();
    begin_stop();
    finish_stop(-1);
    return fail(TS_ERR_SOCKET, "cannot post AcceptEx on the listener: %s", os_error_text(e));
  }
  return true;
}

void IocpBackend::post_plain(ULONG_PTR key) {
  if (!PostQueuedCompletionStatus(iocp_.load(), 0, key, nullptr))
    log(TS_LOG_ERROR, "PostQueuedCompletionStatus failed: %s",
        os_error_text(static_cast<int>(GetLastError())));
}

void IocpBackend::post_quit_once() {
  if (!quit_posted_.exchange(true)) post_plain(kKeyQuit);
}

void IocpBackend::live_dec() {
  if (live_.fetch_sub(1) == 1 && stopping_.load()) post_quit_once();
}

void IocpBackend::begin_stop() {
  {
    std::lock_guard<std::mutex> lock(accept_mu_);
    stopping_.store(true);
    if (listen_ != INVALID_SOCKET) {  // cancels the posted AcceptEx calls
      CancelIoEx(reinterpret_cast<HANDLE>(listen_), nullptr);
      closesocket(listen_);
      listen_ = INVALID_SOCKET;
    }
  }
  if (!iocp_.load()) return;
  server_.for_each_link([this](Link& link) {
    LinkState st = link.astate.load();
    if (st == LinkState::kOpen || st == LinkState::kClosing)
      request_close(link, link.id.load(), TS_CLOSE_SERVER_STOP, true);
  });
  if (live_.load() == 0) post_quit_once();
}

bool IocpBackend::finish_stop(int timeout_ms) {
  {
    std::unique_lock<std::mutex> lock(exit_mu_);
    auto done = [this] { return running_ == 0; };
    if (timeout_ms < 0) exit_cv_.wait(lock, done);
    else if (!exit_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), done)) return false;
  }
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  workers_.clear();
  if (HANDLE h = iocp_.exchange(nullptr)) {  // left: stale close requests, resume, last quit
    OVERLAPPED_ENTRY entries[kBatch];
    ULONG n = 0;
    while (GetQueuedCompletionStatusEx(h, entries, kBatch, &n, 0, FALSE) && n > 0) {
      for (ULONG i = 0; i < n; ++i)
        if (entries[i].lpCompletionKey == kKeyClose || entries[i].lpCompletionKey == kKeyReadOn)
          delete reinterpret_cast<ClosePacket*>(entries[i].lpOverlapped);
    }
    CloseHandle(h);
  }
  for (auto& op : accepts_)
    if (op->sock != INVALID_SOCKET) closesocket(op->sock);
  accepts_.clear();
  if (listen_ != INVALID_SOCKET) closesocket(listen_);
  listen_ = INVALID_SOCKET;
  return true;
}

void IocpBackend::run(IocpWorker& w) {
  server_.thread_begin(w, true);
  OVERLAPPED_ENTRY entries[kBatch];
  const HANDLE iocp = iocp_.load();
  bool quit = false;
  while (!quit) {
    ULONG n = 0;
    if (!GetQueuedCompletionStatusEx(iocp, entries, kBatch, &n, INFINITE, FALSE)) {
      DWORD e = GetLastError();
      if (e == WAIT_TIMEOUT || e == WAIT_IO_COMPLETION) continue;
      log(TS_LOG_ERROR, "worker %d: GetQueuedCompletionStatusEx failed: %s", w.index + 1,
          os_error_text(static_cast<int>(e)));
      break;
    }
    uint64_t t0 = now_us();
    for (ULONG i = 0; i < n; ++i) {
      OVERLAPPED_ENTRY& e = entries[i];
      switch (e.lpCompletionKey) {
        case kKeyAccept:
          on_accept(w, reinterpret_cast<AcceptOp*>(e.lpOverlapped));
          break;
        case kKeyLink: {
          Op* op = reinterpret_cast<Op*>(e.lpOverlapped);
          if (op->is_send) {
            on_send_done(w, op->owner, e.dwNumberOfBytesTransferred);
          } else {
            dispatch(w, op->owner, kEvRecv);
            unref(op->owner);  // the receive's reference
          }
          break;
        }
        case kKeyClose:
        case kKeyReadOn:
          on_link_packet(w, reinterpret_cast<ClosePacket*>(e.lpOverlapped), e.lpCompletionKey);
          break;
        case kKeyResume:
          on_resume(w);
          break;
        case kKeyQuit:
          quit = true;
          break;
        default:
          break;
      }
    }
    w.busy_us.fetch_add(now_us() - t0, std::memory_order_relaxed);
  }
  if (quit) post_plain(kKeyQuit);  // pass it on to the next worker
  server_.thread_end(w, true);
  std::lock_guard<std::mutex> lock(exit_mu_);
  --running_;
  exit_cv_.notify_all();
}

// ------------------------------------------------------------------------------------------
// Accepting
// ------------------------------------------------------------------------------------------

SOCKET IocpBackend::new_socket() const { return open_overlapped_socket(family_); }

bool IocpBackend::post_accept(AcceptOp* op) {
  int error = 0;
  const char* what = nullptr;
  {
    std::lock_guard<std::mutex> lock(accept_mu_);
    for (int attempt = 0; attempt < 3 && !what; ++attempt) {
      if (stopping_.load() || listen_ == INVALID_SOCKET) return false;
      SOCKET s = new_socket();
      if (s == INVALID_SOCKET) {
        error = WSAGetLastError();
        what = "cannot create a socket for the next accept";
        break;
      }
      std::memset(&op->ov, 0, sizeof op->ov);
      op->sock = s;
      live_.fetch_add(1);
      DWORD bytes = 0;
      if (accept_ex_(listen_, s, op->addrs, 0, kAddrLen, kAddrLen, &bytes, &op->ov) ||
          WSAGetLastError() == ERROR_IO_PENDING)
        return true;  // completes through the port either way
      error = WSAGetLastError();
      op->sock = INVALID_SOCKET;
      closesocket(s);
      live_.fetch_sub(1);  // stopping_ is false here, so this is never the last one
      if (error != WSAECONNRESET) what = "AcceptEx failed";  // a reset client: just retry
    }
  }
  // Logged outside the lock: the log callback is the application's.
  if (what) log(TS_LOG_ERROR, "%s: %s; one accept slot is lost", what, os_error_text(error));
  return false;
}

void IocpBackend::on_accept(IocpWorker& w, AcceptOp* op) {
  SOCKET s = op->sock;
  op->sock = INVALID_SOCKET;
  if (op->ov.Internal == 0) open_link(w, op, s);
  else closesocket(s);  // cancelled at stop, or the client gave up before we took it
  post_accept(op);
  live_dec();  // this accept's count, after the link (if any) and the new accept counted
}

void IocpBackend::open_link(IocpWorker& w, AcceptOp* op, SOCKET s) {
  {
    std::lock_guard<std::mutex> lock(accept_mu_);
    if (stopping_.load() || listen_ == INVALID_SOCKET) {
      closesocket(s);
      return;
    }
    // Without this the socket does not know it is connected (getpeername, shutdown ...).
    setsockopt(s, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, reinterpret_cast<const char*>(&listen_),
               sizeof listen_);
  }
  sockaddr* local = nullptr;
  sockaddr* remote = nullptr;
  int llen = 0, rlen = 0;
  accept_addrs_(op->addrs, 0, kAddrLen, kAddrLen, &local, &llen, &remote, &rlen);

  Link* link = server_.acquire_link();
  if (!link) {  // link limit: refuse (counted by acquire_link)
    closesocket(s);
    return;
  }
  const Options& o = server_.opts();
  DWORD one = 1;
  u_long nonblocking = 1;
  if (o[TS_OPT_TCP_NODELAY])
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one), sizeof one);
  if (o[TS_OPT_KEEPALIVE]) set_keepalive(s, o);
  IocpLink* st = nullptr;
  // Non-blocking for the recv()/send() calls; overlapped operations are unaffected.
  if (ioctlsocket(s, FIONBIO, &nonblocking) != 0 ||
      !CreateIoCompletionPort(reinterpret_cast<HANDLE>(s), iocp_.load(), kKeyLink, 0) ||
      !(st = new (std::nothrow) IocpLink(link, s))) {
    log(TS_LOG_ERROR, "cannot serve a new connection: %s", os_error_text(WSAGetLastError()));
    closesocket(s);
    server_.count(TS_COUNTER_REFUSED);
    server_.release_link(*link);
    return;
  }
  live_.fetch_add(1);
  link->backend = st;
  link->sock = s;
  fill_remote(*link, remote);
  link->owner.store(&w, std::memory_order_release);
  st->refs.store(2);  // open + this thread
  st->busy.store(true);  // visible from link_opened on: events wait for us

  if (!server_.link_opened(*link, w)) {
    close_link(w, st, TS_CLOSE_NONE, 0, true, false);  // refused: no more callbacks
  } else {
    // begin_stop may have scanned the links just before this one became open.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (stopping_.load()) close_link(w, st, TS_CLOSE_SERVER_STOP, 0, true, true);
    else post_recv(w, st);
  }
  run_held(w, st);
  unref(st);
}

// ------------------------------------------------------------------------------------------
// The per-link actor
// ------------------------------------------------------------------------------------------

// Records `ev` and runs the link's events unless another thread is already running them. The
// caller holds a reference for the duration.
void IocpBackend::dispatch(IocpWorker& w, IocpLink* st, uint32_t ev) {
  st->events.fetch_or(ev);
  bool expected = false;
  if (st->busy.compare_exchange_strong(expected, true)) run_held(w, st);
}

// With busy held: run events until none are left, let go, and take over again if one arrived
// between the last look and letting go.
void IocpBackend::run_held(IocpWorker& w, IocpLink* st) {
  for (;;) {
    for (uint32_t ev; (ev = st->events.exchange(0)) != 0;) handle(w, st, ev);
    st->busy.store(false);
    if (st->events.load() == 0) return;
    bool expected = false;
    if (!st->busy.compare_exchange_strong(expected, true)) return;  // the other thread runs it
  }
}

void IocpBackend::handle(IocpWorker& w, IocpLink* st, uint32_t ev) {
  if (ev & kEvClose) handle_close_requests(w, st);
  if (ev & kEvSendFailed) {
    int e = st->send_error.load();
    close_link(w, st, reason_for(e), error_for(e), true, true);
  }
  if (ev & kEvFlushed) close_link(w, st, TS_CLOSE_NONE, 0, false, true);  // keeps the reason
  if (ev & kEvRecv) on_recv_done(w, st);
  if ((ev & kEvResume) && st->link->read_paused) {
    st->link->read_paused = false;
    if (st->link->state == LinkState::kOpen) read_some(w, st);
  }
  // Only a link that stopped for PauseReceive (no receive posted) starts again here; one still
  // held back by the pool waits for kEvResume, which then finds app_paused clear.
  if ((ev & kEvReadOn) && st->app_parked && !st->link->read_paused) {
    st->app_parked = false;
    if (st->link->state == LinkState::kOpen) read_some(w, st);
  }
}

void IocpBackend::unref(IocpLink* st) {
  if (st->refs.fetch_sub(1) != 1) return;
  Link* link = st->link;
  link->backend = nullptr;
  delete st;
  server_.release_link(*link);
  live_dec();
}

// ------------------------------------------------------------------------------------------
// Reading (busy holder)
// ------------------------------------------------------------------------------------------

void IocpBackend::post_recv(IocpWorker& w, IocpLink* st) {
  std::memset(&st->recv_op.ov, 0, sizeof st->recv_op.ov);
  WSABUF none{0, nullptr};
  DWORD flags = 0;
  st->refs.fetch_add(1);
  if (WSARecv(st->sock, &none, 1, nullptr, &flags, &st->recv_op.ov, nullptr) == 0) return;
  int e = WSAGetLastError();
  if (e == WSA_IO_PENDING) return;
  st->refs.fetch_sub(1);  // the open reference is still held
  close_link(w, st, reason_for(e), error_for(e), true, true);
}

void IocpBackend::on_recv_done(IocpWorker& w, IocpLink* st) {
  if (st->link->state != LinkState::kOpen) return;  // closing: no more reads
  if (st->recv_op.ov.Internal != 0) {
    DWORD bytes = 0, flags = 0;
    int e = WSAGetOverlappedResult(st->sock, &st->recv_op.ov, &bytes, FALSE, &flags)
                ? 0 : WSAGetLastError();
    if (e == 0) e = WSAECONNRESET;
    close_link(w, st, reason_for(e), error_for(e), true, true);
    return;
  }
  read_some(w, st);
}

void IocpBackend::read_some(IocpWorker& w, IocpLink* st) {
  Link* link = st->link;
  IoPool& pool = server_.pool();
  const int size = static_cast<int>(w.rbuf.size());
  for (int budget = kReadBudget; budget > 0; --budget) {
    // CloseLink from a callback: no OnReceive after it; its close request is on the way.
    if (link->close_requested.load(std::memory_order_acquire)) return;
    if (link->app_paused.load(std::memory_order_acquire)) {  // PauseReceive: no receive posted
      st->app_parked = true;
      return;
    }
    if (pool.low()) {  // backpressure: leave the bytes in the kernel until buffers return
      park(st);
      return;
    }
    int n = ::recv(st->sock, reinterpret_cast<char*>(w.rbuf.data()), size, 0);
    if (n > 0) {
      if (int32_t reason = server_.deliver(*link, w, w.rbuf.data(), n)) {
        close_link(w, st, reason, 0, false, true);
        return;
      }
      if (link->state != LinkState::kOpen) return;
      if (n < size) break;  // drained: the zero-byte receive tells when more comes
      continue;
    }
    if (n == 0) {
      close_link(w, st, server_.eof_reason(*link), 0, false, true);
      return;
    }
    int e = WSAGetLastError();
    if (e == WSAEWOULDBLOCK) break;
    close_link(w, st, reason_for(e), error_for(e), true, true);
    return;
  }
  // Drained, or the budget ran out (then the receive completes at once, after other work).
  post_recv(w, st);
}

void IocpBackend::park(IocpLink* st) {
  st->link->read_paused = true;
  st->refs.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(paused_mu_);
    st->parked = true;
    paused_.push_back(st);
  }
  server_.count(TS_COUNTER_RECV_PAUSES);
  IoPool& pool = server_.pool();
  pool.mark_waiting();
  if (!pool.low()) resume_paused_readers();  // a buffer came back before we were listed
}

void IocpBackend::unpark(IocpLink* st) {
  bool was;
  {
    std::lock_guard<std::mutex> lock(paused_mu_);
    was = st->parked;
    if (was) {
      st->parked = false;
      paused_.erase(std::find(paused_.begin(), paused_.end(), st));
    }
  }
  if (was) unref(st);
}

void IocpBackend::resume_paused_readers() {
  // May run under a link's lock (a send completing frees a buffer): only post.
  if (iocp_.load() && !resume_posted_.exchange(true)) post_plain(kKeyResume);
}

void IocpBackend::on_resume(IocpWorker& w) {
  resume_posted_.store(false);
  std::vector<IocpLink*> list;
  {
    std::lock_guard<std::mutex> lock(paused_mu_);
    list.swap(paused_);
    for (IocpLink* st : list) st->parked = false;
  }
  for (IocpLink* st : list) {
    dispatch(w, st, kEvResume);
    unref(st);  // the parked reference
  }
}

// ------------------------------------------------------------------------------------------
// Writing
// ------------------------------------------------------------------------------------------

void IocpBackend::note_written(size_t n, int items) {
  server_.count(TS_COUNTER_BYTES_OUT, static_cast<int64_t>(n));
  if (items) server_.count(TS_COUNTER_MSGS_OUT, items);
}

size_t IocpBackend::write_now_locked(Link& link, const ConstBuf* parts, int count, int* err) {
  if (!link.queue.empty()) return 0;  // (an empty queue also means no WSASend in flight)
  WSABUF bufs[2];
  DWORD used = 0;
  size_t len = 0;
  for (int i = 0; i < count && used < 2; ++i) {
    // At most 1 GiB per call: WSABUF lengths are 32-bit and what is left is queued anyway.
    auto n = static_cast<ULONG>(std::min<size_t>(parts[i].len, (1u << 30) - len));
    if (n == 0) continue;
    bufs[used].len = n;
    bufs[used++].buf = reinterpret_cast<char*>(const_cast<uint8_t*>(parts[i].data));
    len += n;
  }
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += parts[i].len;
  // Without an OVERLAPPED, WSASend on this non-blocking socket acts as send() does.
  DWORD sent = 0;
  if (WSASend(link.sock, bufs, used, &sent, 0, nullptr, nullptr) == 0) {
    note_written(sent, sent == total ? 1 : 0);
    return sent;
  }
  int e = WSAGetLastError();
  if (e == WSAEWOULDBLOCK) return 0;
  *err = e;
  request_close(link, link.pub.Id, reason_for(e), true);
  return 0;
}

// With link->mu held, the link open or closing, nothing in flight and the queue not empty.
int IocpBackend::post_send_locked(IocpLink* st) {
  Link* link = st->link;
  WSABUF bufs[kMaxBufs];
  DWORD count = 0;
  for (SendItem* it = link->queue.front(); it && count < kMaxBufs; it = it->next, ++count) {
    bufs[count].len = it->left;
    bufs[count].buf = reinterpret_cast<char*>(const_cast<uint8_t*>(it->data));
  }
  std::memset(&st->send_op.ov, 0, sizeof st->send_op.ov);
  st->refs.fetch_add(1);
  st->send_in_flight = true;
  if (WSASend(link->sock, bufs, count, nullptr, 0, &st->send_op.ov, nullptr) == 0) return 0;
  int e = WSAGetLastError();
  if (e == WSA_IO_PENDING) return 0;
  st->send_in_flight = false;
  st->refs.fetch_sub(1);  // the open reference is still held
  return e;
}

int IocpBackend::send_locked(Link& link, SendItem* item) {
  auto* st = static_cast<IocpLink*>(link.backend);
  link.queue.push(item);
  if (st->send_in_flight) return 0;  // its completion posts the next
  int e = post_send_locked(st);
  if (e) request_close(link, link.pub.Id, reason_for(e), true);  // releases the queue
  return e;
}

void IocpBackend::on_send_done(IocpWorker& w, IocpLink* st, DWORD bytes) {
  Link* link = st->link;
  uint32_t ev = 0;
  SendItem* dead = nullptr;
  {
    std::lock_guard<std::mutex> lock(link->mu);
    st->send_in_flight = false;
    if (link->state == LinkState::kOpen || link->state == LinkState::kClosing) {
      int e = 0;
      if (st->send_op.ov.Internal != 0) {
        DWORD n = 0, flags = 0;
        e = WSAGetOverlappedResult(link->sock, &st->send_op.ov, &n, FALSE, &flags)
                ? WSAECONNRESET : WSAGetLastError();
      } else {
        size_t left = bytes;
        int done_items = 0;
        while (left > 0 && !link->queue.empty()) {
          size_t take = std::min<size_t>(left, link->queue.front()->left);
          if (SendItem* done = link->queue.consume_front(take)) {
            release_item(server_.pool(), done);
            ++done_items;
          }
          left -= take;
        }
        note_written(bytes, done_items);
        if (!link->queue.empty()) e = post_send_locked(st);
        else if (link->state == LinkState::kClosing) ev = kEvFlushed;
      }
      if (e) {
        st->send_error.store(e);
        ev = kEvSendFailed;
      }
    } else {
      dead = link->queue.take_all();  // closed while this send was in flight
    }
  }
  while (dead) {
    SendItem* next = dead->next;
    release_item(server_.pool(), dead);
    dead = next;
  }
  if (ev) dispatch(w, st, ev);
  unref(st);  // the send's reference
}

// ------------------------------------------------------------------------------------------
// Closing
// ------------------------------------------------------------------------------------------

bool IocpBackend::post_link_packet(ULONG_PTR key, Link& link, uint64_t id, int32_t reason,
                                   bool abort) {
  HANDLE iocp = iocp_.load();
  if (!iocp) return true;  // stopped: nothing to tell
  auto* p = new (std::nothrow) ClosePacket{};
  if (p) {
    p->link = &link;
    p->id = id;
    p->reason = reason;
    p->abort = abort;
    if (PostQueuedCompletionStatus(iocp, 0, key, &p->ov)) return true;
  }
  delete p;
  return false;
}

void IocpBackend::request_close(Link& link, uint64_t id, int32_t reason, bool abort) {
  if (!iocp_.load()) return;
  if (reason != TS_CLOSE_IDLE && link.id.load(std::memory_order_acquire) == id)
    link.close_requested.store(true, std::memory_order_release);
  if (!post_link_packet(kKeyClose, link, id, reason, abort))
    log(TS_LOG_ERROR, "cannot queue the close of link %llu (out of memory?)",
        static_cast<unsigned long long>(id));
}

void IocpBackend::resume_reading(Link& link, uint64_t id) {
  if (!post_link_packet(kKeyReadOn, link, id, 0, false))
    log(TS_LOG_ERROR, "cannot queue ResumeReceive of link %llu (out of memory?)",
        static_cast<unsigned long long>(id));
}

void IocpBackend::on_link_packet(IocpWorker& w, ClosePacket* p, ULONG_PTR key) {
  Link* link = p->link;
  IocpLink* st = nullptr;
  {
    std::lock_guard<std::mutex> lock(link->mu);
    if (link->id.load() == p->id &&
        (link->state == LinkState::kOpen || link->state == LinkState::kClosing)) {
      st = static_cast<IocpLink*>(link->backend);
      st->refs.fetch_add(1);  // safe: an open link holds its open reference
      if (key == kKeyClose) {
        std::lock_guard<std::mutex> rlock(st->req_mu);
        st->close_reqs.push_back(CloseReq{p->reason, p->abort});
      }
    }
  }
  delete p;
  if (!st) return;  // stale: that link is gone
  dispatch(w, st, key == kKeyClose ? kEvClose : kEvReadOn);
  unref(st);
}

void IocpBackend::handle_close_requests(IocpWorker& w, IocpLink* st) {
  std::vector<CloseReq> reqs;
  {
    std::lock_guard<std::mutex> lock(st->req_mu);
    reqs.swap(st->close_reqs);
  }
  Link* link = st->link;
  for (const CloseReq& r : reqs) {
    if (link->state != LinkState::kOpen && link->state != LinkState::kClosing) return;
    if (r.reason == TS_CLOSE_IDLE && link->state == LinkState::kOpen &&
        !server_.idle_request_still_due(*link)) {
      link->idle_requested.store(false, std::memory_order_release);  // it spoke since
      continue;
    }
    close_link(w, st, r.reason, 0, r.abort, true);
  }
}

// Busy holder only. Graceful with sends queued: kClosing, and the last send completion brings
// kEvFlushed. Otherwise: kClosed, socket closed (its pending operations complete as cancelled),
// OnDisconnect if `notify`, and the open reference dropped.
void IocpBackend::close_link(IocpWorker& w, IocpLink* st, int32_t reason, int err, bool abort,
                             bool notify) {
  Link* link = st->link;
  std::unique_lock<std::mutex> lock(link->mu);
  if (link->state != LinkState::kOpen && link->state != LinkState::kClosing) return;
  if (link->close_reason == TS_CLOSE_NONE) {
    link->close_reason = reason;
    link->close_error = err;
  }
  if (!abort && !link->queue.empty()) {  // (also a second graceful close while flushing)
    link->set_state(LinkState::kClosing);  // no more reads; flush first
    return;
  }
  link->set_state(LinkState::kClosed);
  SOCKET s = st->sock;
  st->sock = INVALID_SOCKET;
  link->sock = kNoSocket;
  // Items of a send in flight still belong to the kernel: its completion releases them.
  SendItem* items = st->send_in_flight ? nullptr : link->queue.take_all();
  bool reset = abort && (link->close_reason == TS_CLOSE_BY_APP ||
                         link->close_reason == TS_CLOSE_SEND_QUEUE_FULL);
  lock.unlock();

  unpark(st);
  if (reset) {  // the application asked to drop what is pending: reset, do not linger
    linger lg{1, 0};
    setsockopt(s, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&lg), sizeof lg);
  }
  CancelIoEx(reinterpret_cast<HANDLE>(s), nullptr);
  closesocket(s);
  while (items) {
    SendItem* next = items->next;
    release_item(server_.pool(), items);
    items = next;
  }
  if (notify) server_.link_closed(*link, w);
  unref(st);  // the open reference; the caller still holds one, so st stays valid
}

}  // namespace

std::unique_ptr<Backend> make_backend(Server& server) {
  return std::make_unique<IocpBackend>(server);
}

// The original unit's 2 x CPU + 2. The port's concurrency limit (one per CPU) keeps the extra
// threads asleep until a callback blocks; then one of them takes over. Measured under Wine, 64
// links echoing 512 KiB: no loss with plain handlers (2 workers 14.3 MiB/s, 6 workers 17.4);
// with handlers that block 1 ms, 2.2 MiB/s with 2 workers and 5.6 with 6.
int default_worker_count() {
  return 2 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) + 2;
}

}  // namespace ts
