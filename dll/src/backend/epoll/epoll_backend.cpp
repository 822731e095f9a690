// Linux backend: one edge-triggered epoll loop per worker thread.
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
// - Cross-thread requests (adopt, close, stop) are tasks plus an eventfd wake-up.
// - EMFILE does not spin the accept loop: a spare descriptor is given up to accept and drop
//   the connection; if even that fails, the worker stops listening for 100 ms.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include "backend/socket_address.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/server.h"

namespace ts {
namespace {

constexpr int kMaxEvents = 256;
constexpr int kReadBudget = 16;     // reads per link per wake-up, for fairness
constexpr int kAcceptBatch = 64;    // accepts per wake-up
constexpr int kMaxIov = 64;
constexpr uint64_t kListenPauseMs = 100;

// epoll data tags that are not links.
char g_wake_tag;
char g_listen_tag;

// glibc's recv/send/sendmsg are cancellation points: in a process with several threads each
// call switches the thread's cancellation state around the system call with two atomic
// read-modify-writes. Engine threads are never cancelled, and application threads that send
// through us should not become cancellable inside our lock either, so the data path enters the
// kernel directly (about 2 % of the CPU time of a 64-byte echo).
ssize_t sys_recv(int fd, void* buf, size_t len) {
  return ::syscall(SYS_recvfrom, fd, buf, len, 0, nullptr, nullptr);
}
ssize_t sys_send(int fd, const void* buf, size_t len) {
  return ::syscall(SYS_sendto, fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT, nullptr, 0);
}
ssize_t sys_sendmsg(int fd, const msghdr* msg) {
  return ::syscall(SYS_sendmsg, fd, msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

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
  std::thread thread;

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
  void run(EpollWorker& w);
  void accept_batch(EpollWorker& w);
  bool handle_emfile(EpollWorker& w);
  void adopt(EpollWorker& w, Link* link);
  void handle_read(EpollWorker& w, Link* link);
  void handle_write(EpollWorker& w, Link* link);
  void run_tasks(EpollWorker& w);
  void retry_paused(EpollWorker& w);
  void close_link(EpollWorker& w, Link* link, int32_t reason, int err, bool abort);
  void close_all(EpollWorker& w);
  int flush_locked(Link& link);
  void watch_writable_locked(Link& link, bool on);
  void note_written(size_t n, int items);
  bool owned_open(EpollWorker& w, Link* link, uint64_t id) const {
    return link->owner.load(std::memory_order_relaxed) == &w &&
           link->id.load(std::memory_order_acquire) == id && link->state == LinkState::kOpen;
  }

  Server& server_;
  int listen_fd_ = -1;
  std::atomic<int> spare_fd_{-1};  // every worker may reach for it in handle_emfile
  uint32_t port_ = 0;
  std::vector<std::unique_ptr<EpollWorker>> workers_;
  std::atomic<uint32_t> next_worker_{0};
  std::atomic<bool> stopping_{false};

  std::mutex exit_mu_;
  std::condition_variable exit_cv_;
  int running_ = 0;
};

void EpollWorker::post(const Task& t) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(task_mu);
    was_empty = tasks.empty();
    tasks.push_back(t);
  }
  if (was_empty) wake();
}

void EpollWorker::wake() {
  uint64_t one = 1;
  ssize_t r = ::write(wake_fd, &one, sizeof one);
  (void)r;  // EAGAIN means a wake-up is already pending
}

EpollBackend::~EpollBackend() {
  if (!workers_.empty()) {
    begin_stop();
    finish_stop(-1);
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (spare_fd_ >= 0) ::close(spare_fd_);
}

// ------------------------------------------------------------------------------------------
// Listening
// ------------------------------------------------------------------------------------------

bool EpollBackend::listen(const ListenSpec& spec) {
  sockaddr_storage addr;
  int len = 0;
  if (!parse_listen_address(spec.ip, spec.port, addr, len))
    return fail(TS_ERR_BAD_ADDRESS,
                "'%s' is not an IPv4 or IPv6 address literal (use e.g. 127.0.0.1, ::1, or an "
                "empty string for all interfaces)",
                spec.ip.c_str());
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && spec.ip.empty() && spec.ipv6_only)
    return fail(TS_ERR_SOCKET,
                "TS_OPT_IPV6_ONLY=1 with an empty IP, but this machine has no IPv6 (%s); set "
                "TS_OPT_IPV6_ONLY=0 or give an IPv4 address",
                os_error_text(errno));
  if (fd < 0 && spec.ip.empty() && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);  // no IPv6 here: IPv4 any
    std::memset(&addr, 0, sizeof addr);
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_ANY);
    v4->sin_port = htons(static_cast<uint16_t>(spec.port));
    len = sizeof *v4;
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) {
    int e = errno;
    return fail(TS_ERR_SOCKET, "socket() failed: %s", os_error_text(e));
  }
  int one = 1, zero = 0;
  // Explicit either way: the system default (net.ipv6.bindv6only) may differ.
  if (addr.ss_family == AF_INET6)
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, spec.ipv6_only ? &one : &zero, sizeof zero);
  if (spec.reuse_addr) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (spec.reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), static_cast<socklen_t>(len)) != 0) {
    int e = errno;
    ::close(fd);
    const char* shown = spec.ip.empty() ? "all interfaces" : spec.ip.c_str();
    if (e == EADDRINUSE)
      return fail(TS_ERR_ADDRESS_IN_USE,
                  "port %u on %s is already in use: stop the program holding it or pick another "
                  "port (0 = any free port)",
                  spec.port, shown);
    if (e == EADDRNOTAVAIL)
      return fail(TS_ERR_BAD_ADDRESS, "%s is not an address of this machine", shown);
    return fail(TS_ERR_SOCKET, "bind(%s port %u) failed: %s%s", shown, spec.port, os_error_text(e),
                e == EACCES ? " (ports below 1024 need privileges)" : "");
  }
  if (::listen(fd, spec.backlog) != 0) {
    int e = errno;
    ::close(fd);
    return fail(TS_ERR_SOCKET, "listen() failed: %s", os_error_text(e));
  }
  sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                           : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  listen_fd_ = fd;
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return true;
}

// ------------------------------------------------------------------------------------------
// Threads
// ------------------------------------------------------------------------------------------

bool EpollBackend::start_workers(int count) {
  for (int i = 0; i < count; ++i) {
    auto w = std::make_unique<EpollWorker>();
    w->backend = this;
    w->index = i;
    w->pub.Index = i + 1;
    w->rbuf.resize(server_.opts()[TS_OPT_IO_BUFFER_SIZE]);
    w->ep = ::epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    bool ok = w->ep >= 0 && w->wake_fd >= 0;
    if (ok) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = &g_wake_tag;
      ok = ::epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake_fd, &ev) == 0;
      ev.events = EPOLLIN | EPOLLEXCLUSIVE;
      ev.data.ptr = &g_listen_tag;
      ok = ok && ::epoll_ctl(w->ep, EPOLL_CTL_ADD, listen_fd_, &ev) == 0;
    }
    if (!ok) {
      int e = errno;
      if (w->ep >= 0) ::close(w->ep);
      if (w->wake_fd >= 0) ::close(w->wake_fd);
      begin_stop();
      finish_stop(-1);
      return fail(TS_ERR_SYSTEM, "cannot set up worker %d (epoll/eventfd): %s", i + 1,
                  os_error_text(e));
    }
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    EpollWorker* wp = w.get();
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
  return true;
}

void EpollBackend::begin_stop() {
  // The listener is closed in finish_stop, once no worker can be inside accept4 on it.
  stopping_.store(true, std::memory_order_release);
  for (auto& w : workers_) ::epoll_ctl(w->ep, EPOLL_CTL_DEL, listen_fd_, nullptr);
  Task stop{Task::kStop};
  for (auto& w : workers_) w->post(stop);
}

bool EpollBackend::finish_stop(int timeout_ms) {
  {
    std::unique_lock<std::mutex> lock(exit_mu_);
    auto done = [this] { return running_ == 0; };
    if (timeout_ms < 0) exit_cv_.wait(lock, done);
    else if (!exit_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), done)) return false;
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
    // Links dealt to a worker after it stopped were never opened: drop them quietly.
    for (Task& t : w->tasks) {
      if (t.kind != Task::kAdopt) continue;
      ::close(t.link->sock);
      server_.release_link(*t.link);
    }
    w->tasks.clear();
    ::close(w->ep);
    ::close(w->wake_fd);
    w->ep = w->wake_fd = -1;
  }
  workers_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (spare_fd_ >= 0) ::close(spare_fd_);
  listen_fd_ = -1;
  spare_fd_ = -1;
  return true;
}

void EpollBackend::run(EpollWorker& w) {
  server_.thread_begin(w, true);
  epoll_event events[kMaxEvents];
  while (!w.stopping) {
    int timeout = -1;
    if (!w.more_to_read.empty()) timeout = 0;
    else if (!w.listening) timeout = static_cast<int>(kListenPauseMs);
    int n = ::epoll_wait(w.ep, events, kMaxEvents, timeout);
    uint64_t t0 = now_us();
    if (n < 0 && errno != EINTR) {
      log(TS_LOG_ERROR, "worker %d: epoll_wait failed: %s", w.index + 1, os_error_text(errno));
      break;
    }
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &g_wake_tag) {
        uint64_t v;
        while (::read(w.wake_fd, &v, sizeof v) > 0) {
        }
        woken = true;
        continue;
      }
      if (tag == &g_listen_tag) {
        accept_batch(w);
        continue;
      }
      auto* link = static_cast<Link*>(tag);
      // Stale event: the link was closed earlier in this batch.
      if (link->owner.load(std::memory_order_relaxed) != &w) continue;
      uint32_t ev = events[i].events;
      // The hang-up edge may come together with the last data: remember it, or a short read
      // would wait for an edge that never comes.
      if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) link->peer_hung_up = true;
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) handle_read(w, link);
      if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
          (link->state == LinkState::kOpen || link->state == LinkState::kClosing))
        handle_write(w, link);
    }
    if (!w.more_to_read.empty()) {
      std::vector<LinkRef> again;
      again.swap(w.more_to_read);
      for (auto& [link, id] : again)
        if (owned_open(w, link, id)) handle_read(w, link);
    }
    // Tasks only arrive with a wake-up (post() wakes whenever the list was empty), so a round
    // without one skips the task lock: one lock less per round on the echo path.
    if (woken) run_tasks(w);
    if (w.resume_readers.exchange(false, std::memory_order_acq_rel)) retry_paused(w);
    if (!w.listening && now_ms() >= w.listen_resume_ms &&
        !stopping_.load(std::memory_order_acquire)) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLEXCLUSIVE;
      ev.data.ptr = &g_listen_tag;
      w.listening = ::epoll_ctl(w.ep, EPOLL_CTL_ADD, listen_fd_, &ev) == 0;
    }
    for (Link* link : w.to_release) server_.release_link(*link);
    w.to_release.clear();
    w.busy_us.fetch_add(now_us() - t0, std::memory_order_relaxed);
  }
  server_.thread_end(w, true);
  std::lock_guard<std::mutex> lock(exit_mu_);
  --running_;
  exit_cv_.notify_all();
}

// ------------------------------------------------------------------------------------------
// Accepting
// ------------------------------------------------------------------------------------------

void EpollBackend::accept_batch(EpollWorker& w) {
  const Options& o = server_.opts();
  for (int i = 0; i < kAcceptBatch && !w.stopping; ++i) {
    sockaddr_storage addr;
    socklen_t len = sizeof addr;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        if (!handle_emfile(w)) return;
        continue;
      }
      return;  // EAGAIN (another worker took it), or a transient error
    }
    Link* link = server_.acquire_link();
    if (!link) {  // link limit: refuse (counted by acquire_link)
      ::close(fd);
      continue;
    }
    int one = 1;
    if (o[TS_OPT_TCP_NODELAY]) ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o[TS_OPT_KEEPALIVE]) {
      int idle = static_cast<int>(o[TS_OPT_KEEPALIVE_IDLE_S]);
      int interval = static_cast<int>(o[TS_OPT_KEEPALIVE_INTERVAL_S]);
      int probes = static_cast<int>(o[TS_OPT_KEEPALIVE_COUNT]);
      ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
    }
    link->sock = fd;
    fill_remote(*link, reinterpret_cast<const sockaddr*>(&addr));
    auto& target = *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
    link->owner.store(&target, std::memory_order_release);
    if (&target == &w) adopt(w, link);
    else target.post(Task{Task::kAdopt, false, 0, link, link->pub.Id});
  }
}

bool EpollBackend::handle_emfile(EpollWorker& w) {
  static std::atomic<uint64_t> last_warning{0};
  uint64_t now = now_ms();
  if (now - last_warning.load(std::memory_order_relaxed) > 5000) {
    last_warning.store(now, std::memory_order_relaxed);
    log(TS_LOG_WARN,
        "out of file descriptors: refusing connections (raise 'ulimit -n' or lower "
        "TS_OPT_MAX_LINKS)");
  }
  // Give up the spare descriptor to take the connection off the queue and drop it. Workers
  // run out together: only the one that takes the spare may close it (exchange), the others
  // pause below.
  int spare = spare_fd_.exchange(-1, std::memory_order_acq_rel);
  if (spare >= 0) {
    ::close(spare);
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      server_.count(TS_COUNTER_REFUSED);
    }
    spare = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (spare >= 0) {
      spare_fd_.store(spare, std::memory_order_release);
      return true;
    }
  }
  // Not even that: stop listening on this worker for a while instead of spinning.
  ::epoll_ctl(w.ep, EPOLL_CTL_DEL, listen_fd_, nullptr);
  w.listening = false;
  w.listen_resume_ms = now + kListenPauseMs;
  return false;
}

void EpollBackend::adopt(EpollWorker& w, Link* link) {
  if (w.stopping) {
    ::close(link->sock);
    server_.release_link(*link);
    return;
  }
  epoll_event ev{};
  ev.events = kLinkEvents;
  ev.data.ptr = link;
  if (::epoll_ctl(w.ep, EPOLL_CTL_ADD, link->sock, &ev) != 0) {
    log(TS_LOG_ERROR, "cannot watch a new connection: %s", os_error_text(errno));
    ::close(link->sock);
    server_.count(TS_COUNTER_REFUSED);
    server_.release_link(*link);
    return;
  }
  if (!server_.link_opened(*link, w)) {  // OnConnect refused it: no further callbacks
    std::unique_lock<std::mutex> lock(link->mu);
    link->set_state(LinkState::kClosed);
    SendItem* items = link->queue.take_all();
    int fd = link->sock;
    link->sock = -1;
    lock.unlock();
    ::close(fd);
    while (items) {
      SendItem* next = items->next;
      release_item(server_.pool(), items);
      items = next;
    }
    w.to_release.push_back(link);
  }
}

// ------------------------------------------------------------------------------------------
// Reading
// ------------------------------------------------------------------------------------------

void EpollBackend::handle_read(EpollWorker& w, Link* link) {
  // Paused by the pool (retry_paused resumes) or by the application (a kResume task does):
  // the bytes stay in the kernel, so TCP holds the peer back.
  if (link->state != LinkState::kOpen || link->read_paused) return;
  IoPool& pool = server_.pool();
  const size_t size = w.rbuf.size();
  for (int budget = kReadBudget; budget > 0; --budget) {
    // CloseLink from a callback: no OnReceive after it, even before the close task runs.
    if (link->close_requested.load(std::memory_order_acquire)) return;
    if (link->app_paused.load(std::memory_order_acquire)) return;
    if (pool.low()) {  // backpressure: leave the bytes in the kernel until buffers return
      pool.mark_waiting();
      if (pool.low()) {
        link->read_paused = true;
        w.paused.emplace_back(link, link->pub.Id);
        server_.count(TS_COUNTER_RECV_PAUSES);
        return;
      }
    }
    ssize_t n = sys_recv(link->sock, w.rbuf.data(), size);
    if (n > 0) {
      if (int32_t reason = server_.deliver(*link, w, w.rbuf.data(), static_cast<int32_t>(n))) {
        close_link(w, link, reason, 0, false);
        return;
      }
      if (link->state != LinkState::kOpen) return;
      // A short read drained the socket; with edge triggering new data brings a new event,
      // but a hang-up already reported does not: then read on to the end.
      if (static_cast<size_t>(n) < size && !link->peer_hung_up) return;
      continue;
    }
    if (n == 0) {
      close_link(w, link, server_.eof_reason(*link), 0, false);
      return;
    }
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) return;
    if (e == EINTR) continue;
    close_link(w, link, e == ECONNRESET ? TS_CLOSE_PEER_RESET : TS_CLOSE_ERROR,
               e == ECONNRESET ? 0 : e, true);
    return;
  }
  w.more_to_read.emplace_back(link, link->pub.Id);
}

void EpollBackend::resume_paused_readers() {
  for (auto& w : workers_) {
    if (!w->resume_readers.exchange(true, std::memory_order_acq_rel)) w->wake();
  }
}

void EpollBackend::resume_reading(Link& link, uint64_t id) {
  auto* owner = static_cast<EpollWorker*>(link.owner.load(std::memory_order_acquire));
  if (owner) owner->post(Task{Task::kResume, false, 0, &link, id});
}

void EpollBackend::retry_paused(EpollWorker& w) {
  std::vector<LinkRef> paused;
  paused.swap(w.paused);
  for (auto& [link, id] : paused) {
    if (!owned_open(w, link, id)) continue;
    link->read_paused = false;
    handle_read(w, link);
  }
}

// ------------------------------------------------------------------------------------------
// Writing
// ------------------------------------------------------------------------------------------

void EpollBackend::note_written(size_t n, int items) {
  server_.count(TS_COUNTER_BYTES_OUT, static_cast<int64_t>(n));
  if (items) server_.count(TS_COUNTER_MSGS_OUT, items);
}

size_t EpollBackend::write_now_locked(Link& link, const ConstBuf* parts, int count, int* err) {
  if (!link.queue.empty()) return 0;
  iovec iov[2];
  size_t len = 0;
  int used = 0;
  for (int i = 0; i < count && used < 2; ++i) {
    if (parts[i].len == 0) continue;
    iov[used].iov_base = const_cast<uint8_t*>(parts[i].data);
    iov[used++].iov_len = parts[i].len;
    len += parts[i].len;
  }
  for (;;) {
    ssize_t n;
    if (used == 1) {  // the common case: one plain send, no message header to fill
      n = sys_send(link.sock, iov[0].iov_base, len);
    } else {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(used);
      n = sys_sendmsg(link.sock, &msg);
    }
    if (n >= 0) {
      note_written(static_cast<size_t>(n), static_cast<size_t>(n) == len ? 1 : 0);
      return static_cast<size_t>(n);
    }
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK) return 0;
    *err = e;
    const int32_t reason = e == ECONNRESET || e == EPIPE ? TS_CLOSE_PEER_RESET : TS_CLOSE_ERROR;
    // This send took the socket's error: the owner's next recv sees a plain end of stream and
    // would call it PEER_CLOSED if it got there before the close task. Record why now (the
    // first reason recorded wins in close_link).
    if (link.close_reason == TS_CLOSE_NONE) {
      link.close_reason = reason;
      link.close_error = reason == TS_CLOSE_ERROR ? e : 0;
    }
    request_close(link, link.pub.Id, reason, true);
    return 0;
  }
}

int EpollBackend::send_locked(Link& link, SendItem* item) {
  int err = 0;
  if (link.queue.empty()) {
    size_t n = write_now_locked(link, item->data, item->left, &err);
    if (err) {
      release_item(server_.pool(), item);
      return err;
    }
    if (n == item->left) {
      release_item(server_.pool(), item);
      return 0;
    }
    item->data += n;
    item->left -= static_cast<uint32_t>(n);
  }
  // The socket is full (or earlier data waits): EPOLLOUT on the owner flushes in order.
  link.queue.push(item);
  if (!link.write_armed) watch_writable_locked(link, true);
  return 0;
}

// Called with link.mu held. epoll_ctl may come from any thread; MOD re-checks readiness, so a
// socket that drained before this call still reports EPOLLOUT (no lost edge).
void EpollBackend::watch_writable_locked(Link& link, bool on) {
  auto* owner = static_cast<EpollWorker*>(link.owner.load(std::memory_order_acquire));
  epoll_event ev{};
  ev.events = on ? kLinkEvents | EPOLLOUT : kLinkEvents;
  ev.data.ptr = &link;
  if (owner && ::epoll_ctl(owner->ep, EPOLL_CTL_MOD, link.sock, &ev) == 0) {
    link.write_armed = on;
    return;
  }
  int e = errno;
  if (!on) return;  // harmless: one more EPOLLOUT event that finds the queue empty
  // Nothing would ever flush the queue: close the link rather than let it hang.
  log(TS_LOG_ERROR, "link %llu: cannot watch the socket for writing (%s); closing the link",
      static_cast<unsigned long long>(link.pub.Id), os_error_text(e));
  if (link.close_reason == TS_CLOSE_NONE) {
    link.close_reason = TS_CLOSE_ERROR;
    link.close_error = e;
  }
  request_close(link, link.pub.Id, TS_CLOSE_ERROR, true);
}

int EpollBackend::flush_locked(Link& link) {
  while (!link.queue.empty()) {
    iovec iov[kMaxIov];
    int cnt = 0;
    size_t total = 0;
    for (SendItem* it = link.queue.front(); it && cnt < kMaxIov; it = it->next, ++cnt) {
      iov[cnt].iov_base = const_cast<uint8_t*>(it->data);
      iov[cnt].iov_len = it->left;
      total += it->left;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(cnt);
    ssize_t n = sys_sendmsg(link.sock, &msg);
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) return 0;
      return e;
    }
    size_t left = static_cast<size_t>(n);
    int done_items = 0;
    while (left > 0) {
      size_t take = std::min<size_t>(left, link.queue.front()->left);
      if (SendItem* done = link.queue.consume_front(take)) {
        release_item(server_.pool(), done);
        ++done_items;
      }
      left -= take;
    }
    note_written(static_cast<size_t>(n), done_items);
    if (static_cast<size_t>(n) < total) return 0;  // socket full: wait for EPOLLOUT
  }
  return 0;
}

void EpollBackend::handle_write(EpollWorker& w, Link* link) {
  std::unique_lock<std::mutex> lock(link->mu);
  int err = flush_locked(*link);
  // All out: stop watching writability until the next time something is queued.
  if (!err && link->queue.empty() && link->write_armed && link->state == LinkState::kOpen)
    watch_writable_locked(*link, false);
  bool flushed_closing = !err && link->state == LinkState::kClosing && link->queue.empty();
  lock.unlock();
  if (err)
    close_link(w, link, err == ECONNRESET || err == EPIPE ? TS_CLOSE_PEER_RESET : TS_CLOSE_ERROR,
               err == ECONNRESET || err == EPIPE ? 0 : err, true);
  else if (flushed_closing)
    close_link(w, link, TS_CLOSE_NONE, 0, false);  // keeps the reason recorded at close time
}

// ------------------------------------------------------------------------------------------
// Closing
// ------------------------------------------------------------------------------------------

void EpollBackend::request_close(Link& link, uint64_t id, int32_t reason, bool abort) {
  auto* owner = static_cast<EpollWorker*>(link.owner.load(std::memory_order_acquire));
  if (!owner) return;
  if (reason != TS_CLOSE_IDLE && link.id.load(std::memory_order_acquire) == id)
    link.close_requested.store(true, std::memory_order_release);
  owner->post(Task{Task::kClose, abort, reason, &link, id});
}

void EpollBackend::close_link(EpollWorker& w, Link* link, int32_t reason, int err, bool abort) {
  std::unique_lock<std::mutex> lock(link->mu);
  if (link->state != LinkState::kOpen && link->state != LinkState::kClosing) return;
  if (link->close_reason == TS_CLOSE_NONE) {
    link->close_reason = reason;
    link->close_error = err;
  }
  if (!abort && !link->queue.empty()) {  // also when already closing: a second graceful
    link->set_state(LinkState::kClosing);  // close must not drop what is still queued.
    return;                                // No more reads; EPOLLOUT flushes, then we close.
  }
  link->set_state(LinkState::kClosed);
  SendItem* items = link->queue.take_all();
  int fd = link->sock;
  link->sock = -1;
  bool reset = abort && (link->close_reason == TS_CLOSE_BY_APP ||
                         link->close_reason == TS_CLOSE_SEND_QUEUE_FULL);
  lock.unlock();

  if (reset) {  // the application asked to drop what is pending: reset, do not linger
    linger lg{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  ::close(fd);  // also removes it from epoll
  while (items) {
    SendItem* next = items->next;
    release_item(server_.pool(), items);
    items = next;
  }
  server_.link_closed(*link, w);
  w.to_release.push_back(link);
}

void EpollBackend::close_all(EpollWorker& w) {
  std::vector<Link*> mine;
  server_.for_each_link([&](Link& link) {
    LinkState st = link.astate.load(std::memory_order_acquire);
    if (link.owner.load(std::memory_order_relaxed) == &w &&
        (st == LinkState::kOpen || st == LinkState::kClosing))
      mine.push_back(&link);
  });
  for (Link* link : mine) {
    {  // one last chance for what is queued, without waiting
      std::lock_guard<std::mutex> lock(link->mu);
      flush_locked(*link);
    }
    close_link(w, link, TS_CLOSE_SERVER_STOP, 0, true);
  }
}

void EpollBackend::run_tasks(EpollWorker& w) {
  std::vector<Task> tasks;
  {
    std::lock_guard<std::mutex> lock(w.task_mu);
    tasks.swap(w.tasks);
  }
  for (const Task& t : tasks) {
    switch (t.kind) {
      case Task::kAdopt:
        adopt(w, t.link);
        break;
      case Task::kClose: {
        Link* link = t.link;
        if (link->owner.load(std::memory_order_relaxed) != &w ||
            link->id.load(std::memory_order_acquire) != t.id)
          break;
        if (t.reason == TS_CLOSE_IDLE) {
          if (link->state == LinkState::kOpen && !server_.idle_request_still_due(*link)) {
            link->idle_requested.store(false, std::memory_order_release);  // it spoke since
            break;
          }
        }
        close_link(w, link, t.reason, 0, t.abort);
        break;
      }
      case Task::kResume:
        // Still this link, open, and not held back by the pool (retry_paused resumes that).
        if (owned_open(w, t.link, t.id) && !t.link->read_paused) handle_read(w, t.link);
        break;
      case Task::kStop:
        close_all(w);
        w.stopping = true;
        break;
    }
  }
}

}  // namespace

std::unique_ptr<Backend> make_backend(Server& server) {
  return std::make_unique<EpollBackend>(server);
}

// One loop per CPU: each link belongs to one loop, so a thread beyond that only adds switches.
int default_worker_count() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

}  // namespace ts
