// The epoll backend's reading, writing and closing of links (see epoll_backend.h): the system
// calls around the core's read loop, flush and close state machine. The link's owner worker,
// except write_locked / queued_locked / post_close / resume_*, which any thread may call.
#include "backend/epoll/epoll_backend.h"

#include "core/errors.h"
#include "core/log.h"

namespace ts {
namespace epoll {

// ------------------------------------------------------------------------------------------
// Reading
// ------------------------------------------------------------------------------------------

void EpollBackend::handle_read(EpollWorker& w, Link* link) {
  const int fd = link->sock;
  ReadEnd end = server_.read_until_blocked(
      *link, w, w.rbuf.data(), w.rbuf.size(), el(*link).peer_hung_up,
      [fd](uint8_t* buf, size_t size) -> RecvResult {
        for (;;) {
          ssize_t n = sys_recv(fd, buf, size);
          if (n >= 0) return {static_cast<long>(n), 0};
          if (errno == EINTR) continue;
          return {-1, errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno};
        }
      });
  switch (end) {
    case ReadEnd::kBudget:  // others' turn: read on after this batch
      w.more_to_read.emplace_back(link, link->pub.Id);
      break;
    case ReadEnd::kPoolPaused:  // retry_paused reads on when buffers return
      w.paused.emplace_back(link, link->pub.Id);
      server_.wait_for_pool();
      break;
    default:  // drained: the next edge brings more; held: a kResume task reads on
      break;
  }
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
    link->paused_by_pool.store(false, std::memory_order_relaxed);
    handle_read(w, link);
  }
}

// ------------------------------------------------------------------------------------------
// Writing
// ------------------------------------------------------------------------------------------

long EpollBackend::write_locked(Link& link, const ConstBuf* parts, int count, int* err) {
  return write_parts(link.sock, parts, count, err);
}

int EpollBackend::queued_locked(Link& link) {
  if (el(link).write_armed) return 0;
  // The socket is full (or earlier data waits): EPOLLOUT on the owner flushes in order.
  int e = watch_writable_locked(link, true);
  if (e)  // nothing would ever flush the queue: the core closes the link rather than let it hang
    log(TS_LOG_ERROR, "link %llu: cannot watch the socket for writing (%s); closing the link",
        static_cast<unsigned long long>(link.pub.Id), os_error_text(e));
  return e;
}

// Called with link.mu held. epoll_ctl may come from any thread; MOD re-checks readiness, so a
// socket that drained before this call still reports EPOLLOUT (no lost edge).
int EpollBackend::watch_writable_locked(Link& link, bool on) {
  auto* owner = static_cast<EpollWorker*>(link.owner.load(std::memory_order_acquire));
  epoll_event ev{};
  ev.events = on ? kLinkEvents | EPOLLOUT : kLinkEvents;
  ev.data.ptr = &link;
  if (!owner) return EBADF;
  if (::epoll_ctl(owner->ep, EPOLL_CTL_MOD, link.sock, &ev) != 0) return errno;
  el(link).write_armed = on;
  return 0;
}

int EpollBackend::flush_locked(Link& link) {
  while (!link.queue.empty()) {
    iovec iov[kMaxSendIov];
    size_t total;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(gather_queue(link.queue, iov, &total));
    ssize_t n = sys_sendmsg(link.sock, &msg);
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) return 0;
      return e;
    }
    server_.consume_written_locked(link, static_cast<size_t>(n));
    if (static_cast<size_t>(n) < total) return 0;  // socket full: wait for EPOLLOUT
  }
  return 0;
}

void EpollBackend::handle_write(EpollWorker& w, Link* link) {
  std::unique_lock<std::mutex> lock(link->mu);
  int err = flush_locked(*link);
  // All out: stop watching writability until the next time something is queued (a failure
  // only costs one more EPOLLOUT that finds the queue empty).
  if (!err && link->queue.empty() && el(*link).write_armed && link->open())
    watch_writable_locked(*link, false);
  bool flushed_closing =
      !err && link->state_now() == LinkState::kClosing && link->queue.empty();
  lock.unlock();
  if (err) server_.close_for_error(*link, w, err);
  else if (flushed_closing) server_.finish_graceful_close(*link, w);
}

// ------------------------------------------------------------------------------------------
// Closing
// ------------------------------------------------------------------------------------------

void EpollBackend::post_close(Link& link, uint64_t id, int32_t reason, bool abort) {
  auto* owner = static_cast<EpollWorker*>(link.owner.load(std::memory_order_acquire));
  if (owner) owner->post(Task{Task::kClose, abort, reason, &link, id});
}

void EpollBackend::close_socket(Link&, socket_t s, bool reset) {
  ts::close_socket(s, reset);  // also removes it from epoll
}

void EpollBackend::retire(Link& link, WorkerCtx& w) {
  // Freed after the event batch: a later event of this batch may still name the link.
  static_cast<EpollWorker&>(w).to_release.push_back(&link);
}

void EpollBackend::close_all(EpollWorker& w) {
  std::vector<Link*> mine;
  server_.for_each_link([&](Link& link) {
    if (link.owner.load(std::memory_order_relaxed) == &w && link.live()) mine.push_back(&link);
  });
  for (Link* link : mine) {
    {  // one last chance for what is queued, without waiting
      std::lock_guard<std::mutex> lock(link->mu);
      flush_locked(*link);
    }
    server_.close_link(*link, w, TS_CLOSE_SERVER_STOP, 0, true);
  }
}

}  // namespace epoll
}  // namespace ts
