// Linux backend: one edge-triggered epoll loop per worker thread. This header declares its
// parts; epoll_backend.cpp has the threads, the loop and accepting, epoll_io.cpp reading,
// writing and closing.
//
// - The listening socket sits in every worker's epoll (EPOLLEXCLUSIVE): whoever wakes accepts
//   a batch and deals the new links round-robin to the workers (its own directly, others
//   through their task queue), so a link is served by one thread for its whole life.
// - An idle link holds no buffer: reads go into the worker's own buffer, one IO-buffer size at
//   a time (so OnReceive never gets more than the original's buffer size).
// - Sends from any thread write at once under the link's lock when nothing is queued; only
//   what the socket does not take is queued and flushed on EPOLLOUT, which is watched only
//   while something is queued (otherwise every read event would also report "writable" and
//   cost a lock of the link to find nothing to do).
// - Cross-thread requests (adopt, close, stop, resume) are tasks plus an eventfd wake-up.
// - EMFILE does not spin the accept loop: a spare descriptor is given up to accept and drop
//   the connection; if even that fails, the worker stops listening for 100 ms.
// - What a link goes through (accepting, the read gate, closing) is the core's
//   (core/link_life.cpp): this file does the system calls and the event loop. Its per-link
//   state is EpollLink, in the link's backend area.
//
// Threads: each worker runs run(); write_locked/queued_locked and the post_* requests come from
// any thread.
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/server.h"
#include "platform/clock.h"

namespace ts {
namespace epoll {

constexpr int kMaxEvents = 256;
constexpr int kAcceptBatch = 64;    // accepts per wake-up
constexpr int kMaxIov = 64;
constexpr uint64_t kListenPauseMs = 100;

// epoll data tags that are not links.
extern char g_wake_tag;
extern char g_listen_tag;

// glibc's recv/send/sendmsg are cancellation points: in a process with several threads each
// call switches the thread's cancellation state around the system call with two atomic
// read-modify-writes. Engine threads are never cancelled, and application threads that send
// through us should not become cancellable inside our lock either, so the data path enters the
// kernel directly (about 2 % of the CPU time of a 64-byte echo).
inline ssize_t sys_recv(int fd, void* buf, size_t len) {
  return ::syscall(SYS_recvfrom, fd, buf, len, 0, nullptr, nullptr);
}
inline ssize_t sys_send(int fd, const void* buf, size_t len) {
  return ::syscall(SYS_sendto, fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT, nullptr, 0);
}
inline ssize_t sys_sendmsg(int fd, const msghdr* msg) {
  return ::syscall(SYS_sendmsg, fd, msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

// The backend's part of a link (Link::backend_state), touched under link.mu or by the owner.
struct EpollLink {
  bool write_armed;  // EPOLLOUT is watched, because something is queued (link.mu)
  bool peer_hung_up; // FIN/RST/error seen: read until EOF, not just EAGAIN (owner)
};
inline EpollLink& el(Link& link) { return link.backend_state<EpollLink>(); }

// What a link's epoll entry watches: always reads and hang-ups, writability only on demand.
constexpr uint32_t kLinkEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;

struct Task {
  enum Kind : uint8_t { kAdopt, kClose, kStop, kResume };
  Kind kind;
  bool abort = false;
  int32_t reason = 0;
  Link* link = nullptr;
  uint64_t id = 0;
};

using LinkRef = std::pair<Link*, uint64_t>;  // a link as it was when remembered

class EpollBackend;

struct EpollWorker final : WorkerCtx {
  EpollBackend* backend = nullptr;
  int index = 0;
  int ep = -1;
  int wake_fd = -1;

  std::mutex task_mu;
  std::vector<Task> tasks;
  std::atomic<bool> resume_readers{false};

  // Owner-thread only.
  std::vector<uint8_t> rbuf;
  std::vector<LinkRef> more_to_read;  // read budget ran out
  std::vector<LinkRef> paused;        // waiting for pool buffers
  std::vector<Link*> to_release;      // closed this round; freed after the event batch
  bool stopping = false;
  bool listening = true;
  uint64_t listen_resume_ms = 0;

  void post(const Task& t);
  void wake();
};


class EpollBackend final : public Backend {
 public:
  explicit EpollBackend(Server& server) : server_(server) {}
  ~EpollBackend() override;

  bool start(socket_t listener, int family, int count) override;
  int worker_count() const override { return static_cast<int>(workers_.size()); }
  WorkerCtx* worker(int index) override { return workers_[static_cast<size_t>(index)].get(); }
  void stop_accepting() override;
  void begin_stop() override;
  bool finish_stop(int timeout_ms) override;
  long write_locked(Link& link, const ConstBuf* parts, int count, int* err) override;
  int queued_locked(Link& link) override;
  void post_close(Link& link, uint64_t id, int32_t reason, bool abort) override;
  void resume_paused_readers() override;
  void resume_reading(Link& link, uint64_t id) override;
  void close_socket(Link& link, socket_t s, bool reset) override;
  void retire(Link& link, WorkerCtx& w) override;

 private:
  void run(EpollWorker& w);
  void accept_batch(EpollWorker& w);
  bool handle_emfile(EpollWorker& w);
  void adopt(EpollWorker& w, Link* link);
  void handle_read(EpollWorker& w, Link* link);
  void handle_write(EpollWorker& w, Link* link);
  void run_tasks(EpollWorker& w);
  void retry_paused(EpollWorker& w);
  void close_all(EpollWorker& w);
  int flush_locked(Link& link);
  // epoll_ctl MOD: watch EPOLLOUT too (on) or not. Returns 0 or the OS error.
  int watch_writable_locked(Link& link, bool on);
  bool owned_open(EpollWorker& w, Link* link, uint64_t id) const {
    return link->owner.load(std::memory_order_relaxed) == &w &&
           link->id.load(std::memory_order_acquire) == id && link->reading();
  }

  Server& server_;
  int listen_fd_ = -1;
  std::atomic<int> spare_fd_{-1};  // every worker may reach for it in handle_emfile
  std::vector<std::unique_ptr<EpollWorker>> workers_;
  std::atomic<uint32_t> next_worker_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> accepting_{true};

  WorkerGroup threads_;
};

}  // namespace epoll
}  // namespace ts
