// Linux backend on io_uring (liburing): one ring per worker thread. This header declares its
// parts; uring_backend.cpp has the threads, the ring loop, cross-thread tasks and accepting,
// uring_io.cpp receiving, sending and closing.
//
// - Rings: made by their worker thread (single issuer, task work run only when the worker asks
//   for completions: no interrupts), with a provided-buffer ring of the backend's own
//   (registered, one buffer per TS_OPT_IO_BUFFER_SIZE, so OnReceive never gets more). An idle
//   link holds no buffer: the kernel picks one only when bytes arrive, and the worker puts it
//   back as soon as OnReceive returned. The IO pool (GetIOMem) is not used for reading.
// - Accepting: every ring keeps a multishot accept on the listener; the worker whose accept
//   completes deals the link round-robin (its own directly, others through their task queue),
//   so a link is served by one ring for its whole life.
// - Receiving: one multishot receive per link. Before OnReceive the core's read gate decides;
//   when it says stop (PauseReceive, the pool running low), the receive is cancelled and what
//   the kernel had already read is kept, in order, in a small heap chain (UringLink::held),
//   delivered first when the link may read again, before the receive is armed again.
// - Sending: on the link's own worker, write_locked takes nothing (returns 0), so the core
//   queues the bytes (a pool buffer or shared block, no copy for PostSend) and the worker sends
//   the whole queue at the end of its batch as one send/sendmsg, all links' sends going to the
//   kernel in the io_uring_enter that also waits for the next completions: no system call per
//   message. From any other thread, write_locked is a plain non-blocking send() on the socket
//   under link.mu (io_uring and direct system calls coexist on one socket): a hand-off to the
//   worker would cost a wake-up and a copy, the direct call one system call. What the socket
//   does not take is queued and flushed by the owner (a task), which the kernel then completes
//   when the socket has room. One ring send per link is in flight at a time, so the order holds.
// - Cross-thread requests (adopt, close, flush, resume, stop) are tasks plus a wake-up that
//   arrives on the ring, so the wait for completions stays the only wait: a worker of this
//   backend sends an IORING_OP_MSG_RING from its own ring (it leaves with that worker's next
//   io_uring_enter: no system call of its own); any other thread write()s the worker's eventfd,
//   on which the worker keeps a read posted. Measured with bench/wake.c (two threads passing a
//   token, CPU per hop): MSG_RING between rings 3.5-4.0 us, eventfd 4.2-5.1 us, and MSG_RING
//   from a thread without a waiting ring of its own (through a shared ring under a mutex)
//   7.9-9.5 us: so MSG_RING where the sender has a ring, the eventfd where it has none.
// - Lifetime: UringLink::refs counts what may still name the link: 1 while it is open, 1 per
//   request in the kernel (receive, send). Closing cancels the requests (by their user_data)
//   and closes the descriptor; the slot goes back to the table only when the last of their
//   completions arrived, so no link is recycled while a request on it is pending.
// - EMFILE does not spin the accept. io_uring takes the descriptor before it looks for a
//   connection, so an accept armed again while none is free fails at once: instead a spare
//   descriptor is given up to accept and drop the waiting connection, and the worker waits for
//   the next one with a poll on the listener (no descriptor needed) before it accepts again; if
//   even the spare is gone, it stops accepting for 100 ms. The accept takes RLIMIT_NOFILE as it
//   was when it was armed (a kernel rule): a limit lowered later applies from its next arming.
// - What a link goes through (the read gate, closing) is the core's (core/link_life.cpp).
//
// Threads: each worker runs run(); write_locked/queued_locked and the post_* requests come from
// any thread.
#pragma once
#include <liburing.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/posix/socket_io.h"
#include "core/server.h"
#include "platform/clock.h"

namespace ts {
namespace uring {

constexpr unsigned kSqEntries = 1024;
constexpr unsigned kCqEntries = 16384;
constexpr unsigned kBufGroup = 0;
constexpr uint64_t kListenPauseMs = 100;
// On a link's own worker, writes up to this size wait for the batch's one submission (see
// "Sending"); larger ones are written at once, since copying them into the queue would cost
// more than the system call saves.
constexpr size_t kBatchedWriteMax = 16384;

// Incrementally consumed provided buffers (Linux 6.12), which liburing 2.3 does not name yet.
#ifndef IOU_PBUF_RING_INC
constexpr uint16_t kBufRingInc = 2;
#else
constexpr uint16_t kBufRingInc = IOU_PBUF_RING_INC;
#endif
#ifndef IORING_CQE_F_BUF_MORE
constexpr uint32_t kCqeBufMore = 1u << 4;
#else
constexpr uint32_t kCqeBufMore = IORING_CQE_F_BUF_MORE;
#endif

// user_data of completions. A link's are its address with the low bits telling the request
// (links are aligned to 16 bytes); the others are small numbers.
constexpr uint64_t kTagIgnore = 0;  // cancellations and the like: nothing to do
constexpr uint64_t kTagWake = 1;    // MSG_RING from another worker: run the tasks
constexpr uint64_t kTagWakeFd = 4;  // the read of the worker's eventfd completed: the same
constexpr uint64_t kTagAccept = 2;  // the multishot accept
constexpr uint64_t kTagListenPoll = 3;  // out of descriptors: waiting for a connection
constexpr uint64_t kTagRecv = 1;    // | link address: the multishot receive
constexpr uint64_t kTagSend = 2;    // | link address: a send of the queue
constexpr uint64_t kTagMask = 15;
constexpr uint64_t kLinkMin = 16;   // user_data below this is not a link's
inline uint64_t link_tag(Link& link, uint64_t what) {
  return reinterpret_cast<uint64_t>(&link) | what;
}

enum class Recv : uint8_t { kIdle, kArmed, kCancelling };

// Bytes (or the end of the stream) the kernel read that the read gate held back.
struct Held {
  Held* next;
  uint32_t len;  // 0: a marker, the stream ended (err 0) or failed (err)
  int32_t err;
  uint8_t data[1];
};

// The backend's part of a link (Link::backend_state).
struct UringLink {
  Held* held;            // owner: kept back by the read gate, in order
  uint8_t refs;          // owner: see "Lifetime" above
  Recv recv;             // owner: the multishot receive
  bool send_in_flight;   // link.mu (written by the owner only): a ring send holds queue items
  bool flush_pending;    // link.mu: on the owner's flush list, or a flush task is on its way
  bool split;            // owner: a piece that ended its receive buffer waits in the worker's splits
};
inline UringLink& ul(Link& link) { return link.backend_state<UringLink>(); }

struct Task {
  enum Kind : uint8_t { kAdopt, kClose, kFlush, kResume, kStop };
  Kind kind;
  bool abort = false;
  int32_t reason = 0;
  Link* link = nullptr;
  uint64_t id = 0;
};

using LinkRef = std::pair<Link*, uint64_t>;  // a link as it was when remembered

// A sendmsg's header and vector: the kernel copies them when it takes the request, so they live
// only until the batch is submitted.
struct SendMsg {
  msghdr msg;
  iovec iov[kMaxSendIov];
};

class UringBackend;

struct UringWorker final : WorkerCtx {
  UringBackend* backend = nullptr;
  int index = 0;
  io_uring ring{};
  bool ring_ok = false;
  int ring_fd = -1;       // for MSG_RING from other workers (read-only once started)
  int wake_fd = -1;       // eventfd other threads write to wake it (read-only once started)
  uint64_t wake_value = 0;  // where the posted read of wake_fd lands (owner)
  bool wake_armed = false;  // that read is in the kernel (owner)
  bool wake_cancelled = false;  // stopping: it is not posted again (owner)
  pthread_t thread{};     // the worker's thread (set before the ring is used)
  bool on_thread() const { return pthread_equal(pthread_self(), thread) != 0; }

  // Cross-thread: tasks, and whether a wake-up is on its way.
  std::mutex task_mu;
  std::vector<Task> tasks;
  std::atomic<bool> woken{false};
  std::atomic<bool> resume_readers{false};

  // Owner-thread only.
  io_uring_buf_ring* br = nullptr;  // the provided-buffer ring
  uint8_t* bufs = nullptr;          // its buffers
  size_t bufs_bytes = 0;
  size_t br_bytes = 0;
  uint32_t buf_size = 0;
  uint32_t buf_count = 0;
  bool buf_inc = false;            // buffers are consumed incrementally (shared by reads)
  std::vector<uint32_t> buf_off;   // buf_inc: bytes of each buffer already handed out
  std::vector<LinkRef> paused;        // waiting for pool buffers
  std::vector<LinkRef> to_flush;      // links whose queue goes out with this batch
  std::vector<LinkRef> to_arm;        // receives to arm again (ran out of buffers)
  // Pieces that ended a shared receive buffer, each waiting for the rest of what arrived with
  // it (the next completion of its link, in the same batch as a rule) or the end of the batch.
  struct Split {
    Link* link;
    uint64_t id;
    Held* piece;  // capacity buf_size
  };
  std::vector<Split> splits;
  std::vector<Link*> to_release;      // refs reached 0 this batch; freed after it
  std::deque<SendMsg> msgs;           // sendmsg headers of this batch (stable until submitted)
  int links = 0;                      // adopted and not yet released
  bool stopping = false;
  bool accept_armed = false;
  bool poll_armed = false;            // the listener poll (after EMFILE) is in the kernel
  bool listening = true;
  uint64_t listen_resume_ms = 0;
  bool submit_now = false;            // something was queued that must not wait for the batch

  void post(const Task& t);
};

class UringBackend final : public Backend {
 public:
  explicit UringBackend(Server& server) : server_(server) {}
  ~UringBackend() override;

  bool start(socket_t listener, int family, int count) override;
  int worker_count() const override { return static_cast<int>(workers_.size()); }
  WorkerCtx* worker(int index) override { return workers_[static_cast<size_t>(index)].get(); }
  void stop_accepting() override;
  void begin_stop() override;
  bool finish_stop(int timeout_ms) override;
  long write_locked(Link& link, const ConstBuf* parts, int count, int* err) override;
  int queued_locked(Link& link) override;
  size_t deferred_write_max() const override { return kBatchedWriteMax; }
  bool write_in_flight_locked(Link& link) override { return ul(link).send_in_flight; }
  void post_close(Link& link, uint64_t id, int32_t reason, bool abort) override;
  void resume_paused_readers() override;
  void resume_reading(Link& link, uint64_t id) override;
  void close_socket(Link& link, socket_t s, bool reset) override;
  void retire(Link& link, WorkerCtx& w) override;

  // Wakes `w` (any thread): its loop runs its tasks and flags.
  void wake(UringWorker& w);

 private:
  // uring_backend.cpp
  bool setup_ring(UringWorker& w, std::string* why);
  void teardown_ring(UringWorker& w);
  void run(UringWorker& w);
  void handle(UringWorker& w, io_uring_cqe* cqe);
  void run_tasks(UringWorker& w);
  void arm_accept(UringWorker& w);
  void arm_wake_read(UringWorker& w);
  void on_accept(UringWorker& w, io_uring_cqe* cqe);
  bool handle_emfile(UringWorker& w);
  void arm_listen_poll(UringWorker& w);
  void on_listen_poll(UringWorker& w, io_uring_cqe* cqe);
  void adopt(UringWorker& w, Link* link);
  io_uring_sqe* sqe(UringWorker& w);
  void cancel(UringWorker& w, uint64_t user_data);
  // uring_io.cpp
  void arm_recv(UringWorker& w, Link& link);
  void maybe_arm_recv(UringWorker& w, Link& link);
  void stop_recv(UringWorker& w, Link& link);
  void on_recv(UringWorker& w, Link& link, io_uring_cqe* cqe);
  void take(UringWorker& w, Link& link, const uint8_t* data, uint32_t len, int err);
  void keep_split(UringWorker& w, Link& link, const uint8_t* data, uint32_t len);
  uint32_t join_split(UringWorker& w, Link& link, const uint8_t* data, uint32_t len);
  void flush_splits(UringWorker& w);
  bool hold(Link& link, const uint8_t* data, uint32_t len, int err);
  void pump(UringWorker& w, Link& link);
  void end_of_stream(UringWorker& w, Link& link, int err);
  void retry_paused(UringWorker& w);
  void release_buffer(UringWorker& w, unsigned bid, uint32_t used, uint32_t cqe_flags);
  void flush_batch(UringWorker& w);
  void prep_send_locked(UringWorker& w, Link& link);
  void on_send(UringWorker& w, Link& link, io_uring_cqe* cqe);
  void unref(UringWorker& w, Link& link);
  void close_all(UringWorker& w);
  bool owned_open(UringWorker& w, Link* link, uint64_t id) const {
    return link->owner.load(std::memory_order_relaxed) == &w &&
           link->id.load(std::memory_order_acquire) == id && link->reading();  // open, or in its handshake
  }

  Server& server_;
  int listen_fd_ = -1;
  std::atomic<bool> accepting_{true};  // false after stop_accepting (DrainTcpServer)
  SpareDescriptor spare_;  // EMFILE: every worker may reach for it in handle_emfile
  std::vector<std::unique_ptr<UringWorker>> workers_;
  std::atomic<uint32_t> next_worker_{0};
  std::atomic<bool> stopping_{false};

  // The workers' eventfds may be written (threads without a ring of this backend wake them so):
  // taken shared by wake(), exclusively by finish_stop before it closes them.
  std::shared_mutex wake_mu_;
  bool wake_fds_open_ = false;  // wake_mu_

  // Start-up: each worker reports whether its ring is ready, then waits for the verdict.
  std::mutex start_mu_;
  std::condition_variable start_cv_;
  int start_reported_ = 0;
  int start_verdict_ = 0;  // 0 pending, 1 go, -1 abort
  std::string start_error_;

  WorkerGroup threads_;
};

}  // namespace uring
}  // namespace ts
