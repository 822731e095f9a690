// The epoll backend's threads, event loop, cross-thread tasks and accepting (see
// epoll_backend.h). Worker threads; start/stop from the starting/stopping thread.
#include "backend/epoll/epoll_backend.h"

#include <fcntl.h>

#include "core/errors.h"
#include "core/log.h"

namespace ts {
namespace epoll {

char g_wake_tag;
char g_listen_tag;

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
// Threads
// ------------------------------------------------------------------------------------------

bool EpollBackend::start(socket_t listener, int family, int count) {
  (void)family;  // accept4 makes sockets of the listener's family
  listen_fd_ = listener;
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
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
  if (!threads_.start(count, [this](int i) { run(*workers_[static_cast<size_t>(i)]); })) {
    begin_stop();
    finish_stop(-1);
    return false;
  }
  return true;
}

void EpollBackend::stop_accepting() {
  if (!accepting_.exchange(false, std::memory_order_acq_rel)) return;
  for (auto& w : workers_) ::epoll_ctl(w->ep, EPOLL_CTL_DEL, listen_fd_, nullptr);
  // The socket stops listening (queued connections are reset; an accept4 in progress returns
  // EINVAL); the descriptor itself is closed in finish_stop.
  ::shutdown(listen_fd_, SHUT_RDWR);
}

void EpollBackend::begin_stop() {
  // The listener is closed in finish_stop, once no worker can be inside accept4 on it.
  stopping_.store(true, std::memory_order_release);
  for (auto& w : workers_) ::epoll_ctl(w->ep, EPOLL_CTL_DEL, listen_fd_, nullptr);
  Task stop{Task::kStop};
  for (auto& w : workers_) w->post(stop);
}

bool EpollBackend::finish_stop(int timeout_ms) {
  if (!threads_.wait(timeout_ms)) return false;
  threads_.join();
  for (auto& w : workers_) {
    // Links dealt to a worker after it stopped were never opened: drop them quietly.
    for (Task& t : w->tasks)
      if (t.kind == Task::kAdopt) server_.abandon_link(*t.link, nullptr);
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
      if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) el(*link).peer_hung_up = true;
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) handle_read(w, link);
      if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && link->live()) handle_write(w, link);
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
        !stopping_.load(std::memory_order_acquire) && accepting_.load(std::memory_order_acquire)) {
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
  threads_.exited();
}

// ------------------------------------------------------------------------------------------
// Accepting
// ------------------------------------------------------------------------------------------

void EpollBackend::accept_batch(EpollWorker& w) {
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
    Link* link = server_.accept_link(fd, reinterpret_cast<const sockaddr*>(&addr));
    if (!link) continue;  // link limit: refused and counted
    link->make_backend_state<EpollLink>();
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
    server_.abandon_link(*link, nullptr);
    return;
  }
  epoll_event ev{};
  ev.events = kLinkEvents;
  ev.data.ptr = link;
  if (::epoll_ctl(w.ep, EPOLL_CTL_ADD, link->sock, &ev) != 0) {
    char why[160];
    std::snprintf(why, sizeof why, "cannot watch its socket (epoll_ctl): %s", os_error_text(errno));
    server_.abandon_link(*link, why);
    return;
  }
  server_.open_link(*link, w);  // refused: closed there, retire() queued its release
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
      case Task::kClose:
        if (t.link->owner.load(std::memory_order_relaxed) == &w &&
            t.link->id.load(std::memory_order_acquire) == t.id)
          server_.close_requested_link(*t.link, w, t.reason, t.abort);
        break;
      case Task::kResume:
        // Still this link and open; the gate knows whether the pool still holds it back.
        if (owned_open(w, t.link, t.id)) handle_read(w, t.link);
        break;
      case Task::kStop:
        close_all(w);
        w.stopping = true;
        break;
    }
  }
}


}  // namespace epoll

std::unique_ptr<Backend> make_backend(Server& server) {
  return std::make_unique<epoll::EpollBackend>(server);
}

// One loop per CPU: each link belongs to one loop, so a thread beyond that only adds switches.
int default_worker_count() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

}  // namespace ts
