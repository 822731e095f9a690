// Windows backend: one IO completion port, served by every worker thread. This header
// declares its parts; iocp_backend.cpp has the threads and accepting, iocp_io.cpp the per-link
// actor, reading, writing and closing.
//
// How it works (read this before changing anything):
//
// - Accepting: AcceptEx calls (two per worker, at least eight) stay posted on the listener.
//   Each completion opens a link and posts the accept again with a fresh socket.
// - Receiving: an idle link has one zero-byte WSARecv posted, so it holds no buffer. When that
//   completes, the worker reads with non-blocking recv() into its own buffer (one IO-buffer
//   size) through the core's read loop (Server::read_until_blocked: the read gate, a fairness
//   budget), then posts the zero-byte receive again. One receive is outstanding per link.
// - Sending: the core writes at once with a non-blocking send when nothing is queued
//   (write_locked). What the socket does not take waits on link.queue; one overlapped WSASend
//   (a gather of the queued items) is in flight at a time, and its completion, on whichever
//   worker dequeues it, pops what went out (Server::consume_written_locked) and posts the next,
//   all under link.mu.
// - Callbacks of one link never overlap: any worker may dequeue any completion, so each link is
//   a tiny actor. An event (receive done, close request, send failed, queue flushed, resume
//   reading) is OR-ed into IocpLink::events; then whoever wins IocpLink::busy runs every
//   pending event, lets go, and looks again (so an event added meanwhile is never stranded).
//   Only the busy holder calls into the core for the link (open_link, the read loop,
//   close_link), so OnDisconnect comes exactly once and after the last OnReceive returned.
// - Lifetime: IocpLink::refs counts what may still name the link: 1 while it is open, 1 per
//   overlapped operation in the kernel, 1 per thread dispatching an event to it, 1 while it is
//   parked for backpressure. The slot goes back to the table (Server::release_link) only when
//   refs reaches 0, so a link is never recycled while an operation on its socket is pending.
// - Cross-thread requests are packets posted to the port: close and read-on (naming the link
//   and its id, so a stale request is ignored), resume paused readers, quit.
// - PauseReceive, or a send queue at the high-water mark: the read gate says the link is held,
//   and no zero-byte receive is posted (IocpLink::stopped_held); the read-on packet of
//   resume_reading starts it again. A link parked for the pool (Link::paused_by_pool) is
//   resumed only by the pool, a held one only by resume_reading.
// - Stop: the listener is closed (cancelling the accepts) and every link gets a close request
//   (TS_CLOSE_SERVER_STOP, abort). `live_` counts posted accepts plus links not yet released;
//   when it reaches 0 a quit packet is posted, and each worker passes it on as it exits.
// - What a link goes through (accepting, the read gate, closing) is the core's
//   (core/link_life.cpp); this file does the Winsock calls and the completion handling.
//
// Threads: workers run run(); write_locked/queued_locked and the post_* requests come from any
// thread.
#pragma once
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
#include "core/server.h"
#include "platform/clock.h"

namespace ts {
namespace iocp {

// Completion keys: what a dequeued packet is about.
constexpr ULONG_PTR kKeyAccept = 1;  // an AcceptEx completed (OVERLAPPED in an AcceptOp)
constexpr ULONG_PTR kKeyLink = 2;    // a WSARecv/WSASend completed (OVERLAPPED in an Op)
constexpr ULONG_PTR kKeyClose = 3;   // post_close (OVERLAPPED in a LinkPacket)
constexpr ULONG_PTR kKeyResume = 4;  // pool buffers came back
constexpr ULONG_PTR kKeyQuit = 5;    // stop: nothing is alive any more
constexpr ULONG_PTR kKeyReadOn = 6;  // resume_reading (OVERLAPPED in a LinkPacket)

constexpr ULONG kBatch = 64;           // completions per GetQueuedCompletionStatusEx
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

// The backend's state of one link, on the heap: it lives until the last overlapped operation
// on the socket completed (refs), which may be after the core closed the link.
struct IocpLink {
  Link* link;
  SOCKET sock;  // the busy holder reads with it; senders use link->sock under link->mu
  Op recv_op{};
  Op send_op{};
  std::atomic<int> refs{0};
  std::atomic<uint32_t> events{0};
  std::atomic<bool> busy{false};
  std::atomic<int> send_error{0};
  std::mutex req_mu;
  std::vector<CloseReq> close_reqs;  // guarded by req_mu
  bool send_in_flight = false;       // guarded by link->mu
  bool stopped_held = false;         // busy holder only: held (Link::hold), no receive posted
  bool in_pool_wait_list = false;    // guarded by the backend's paused_mu_

  IocpLink(Link* l, SOCKET s) : link(l), sock(s) {
    recv_op.owner = send_op.owner = this;
    send_op.is_send = true;
  }
};

// What Link::backend_state holds: the way to the IocpLink.
struct IocpLinkRef {
  IocpLink* st;
};
inline IocpLink* state_of(Link& link) { return link.backend_state<IocpLinkRef>().st; }

struct AcceptOp {
  OVERLAPPED ov;  // first, as in Op
  SOCKET sock = INVALID_SOCKET;
  char addrs[2 * kAddrLen];
};

// A request for a link's owner: close it, or read on.
struct LinkPacket {
  OVERLAPPED ov;  // first, as in Op
  Link* link;
  uint64_t id;
  int32_t reason;
  bool abort;
};

class IocpBackend;

struct IocpWorker final : WorkerCtx {
  int index = 0;
  std::vector<uint8_t> rbuf;  // reads land here, then go to OnReceive
};

class IocpBackend final : public Backend {
 public:
  explicit IocpBackend(Server& server);
  ~IocpBackend() override;

  bool start(socket_t listener, int family, int count) override;
  int worker_count() const override { return static_cast<int>(workers_.size()); }
  WorkerCtx* worker(int index) override { return workers_[static_cast<size_t>(index)].get(); }
  void stop_accepting() override;
  void begin_stop() override;
  bool finish_stop(int timeout_ms) override;
  long write_locked(Link& link, const ConstBuf* parts, int count, int* err) override;
  int queued_locked(Link& link) override;
  bool write_in_flight_locked(Link& link) override { return state_of(link)->send_in_flight; }
  void post_close(Link& link, uint64_t id, int32_t reason, bool abort) override;
  void resume_paused_readers() override;
  void resume_reading(Link& link, uint64_t id) override;
  void close_socket(Link& link, socket_t s, bool reset) override;
  void retire(Link& link, WorkerCtx& w) override;

 private:
  void run(IocpWorker& w);
  // Accepting.
  bool post_accept(AcceptOp* op);
  void on_accept(IocpWorker& w, AcceptOp* op);
  void open_link(IocpWorker& w, AcceptOp* op, SOCKET s);
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
  // Requests.
  bool post_link_packet(ULONG_PTR key, Link& link, uint64_t id, int32_t reason, bool abort);
  void on_link_packet(IocpWorker& w, LinkPacket* p, ULONG_PTR key);
  void handle_close_requests(IocpWorker& w, IocpLink* st);
  void live_dec();
  void post_quit_once();
  void post_plain(ULONG_PTR key);

  Server& server_;
  bool wsa_ok_ = false;
  std::atomic<HANDLE> iocp_{nullptr};  // atomic: pool callbacks may look after a stop
  SOCKET listen_ = INVALID_SOCKET;
  int family_ = AF_INET;
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

  WorkerGroup threads_;
};

}  // namespace iocp
}  // namespace ts
