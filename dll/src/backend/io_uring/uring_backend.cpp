// The io_uring backend's threads, ring loop, cross-thread tasks and wake-ups, and accepting
// (see uring_backend.h). Worker threads; start/stop from the starting/stopping thread; wake and
// post from any thread.
#include "backend/io_uring/uring_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "backend/io_uring/uring_probe.h"
#include "core/errors.h"
#include "core/log.h"

namespace ts {
namespace uring {

namespace {

// The provided buffers of one ring: TS_OPT_IO_BUFFER_SIZE each, about 2 MiB in all (a power of
// two between 16 and 4096 buffers). Each is consumed incrementally where the kernel can
// (Linux 6.12), so small messages of many links share one buffer.
constexpr size_t kBufBytesPerRing = 2u << 20;

uint32_t buffer_count(uint32_t size) {
  uint32_t n = 16;
  while (n < 4096 && static_cast<size_t>(n) * 2 * size <= kBufBytesPerRing) n *= 2;
  return n;
}

}  // namespace

void UringWorker::post(const Task& t) {
  {
    std::lock_guard<std::mutex> lock(task_mu);
    tasks.push_back(t);
  }
  backend->wake(*this);
}

// ------------------------------------------------------------------------------------------
// Wake-ups
// ------------------------------------------------------------------------------------------

void UringBackend::wake(UringWorker& target) {
  // One wake-up on its way is enough: the worker clears the flag before it looks at its tasks.
  if (target.woken.exchange(true, std::memory_order_acq_rel)) return;
  if (target.on_thread()) return;  // it looks at the flag before it waits again
  for (auto& w : workers_) {
    if (!w->on_thread()) continue;
    // A worker of this backend: a message on its own ring, sent with its next batch.
    io_uring_sqe* s = sqe(*w);
    io_uring_prep_msg_ring(s, static_cast<int>(target.ring_fd), 0, kTagWake, 0);
    s->flags |= IOSQE_CQE_SKIP_SUCCESS;
    s->user_data = kTagIgnore;
    return;
  }
  // Any other thread: the worker's eventfd.
  std::shared_lock<std::shared_mutex> lock(wake_mu_);
  if (!wake_fds_open_) return;  // stopped: nothing left to wake
  uint64_t one = 1;
  ssize_t r = ::write(target.wake_fd, &one, sizeof one);
  (void)r;  // EAGAIN: the counter is full, so a wake-up is pending anyway
}

void UringBackend::arm_wake_read(UringWorker& w) {
  io_uring_sqe* s = sqe(w);
  io_uring_prep_read(s, w.wake_fd, &w.wake_value, sizeof w.wake_value, 0);
  s->user_data = kTagWakeFd;
  w.wake_armed = true;
}

// ------------------------------------------------------------------------------------------
// Threads
// ------------------------------------------------------------------------------------------

UringBackend::~UringBackend() {
  if (!workers_.empty()) {
    begin_stop();
    finish_stop(-1);
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

bool UringBackend::start(socket_t listener, int family, int count) {
  (void)family;
  listen_fd_ = listener;
  spare_.open();
  for (int i = 0; i < count; ++i) {
    auto w = std::make_unique<UringWorker>();
    w->backend = this;
    w->index = i;
    w->pub.Index = i + 1;
    workers_.push_back(std::move(w));
  }
  bool started = threads_.start(count, [this](int i) { run(*workers_[static_cast<size_t>(i)]); });
  int expected = started ? count : 0;
  if (!started) {  // the ones that did start report too; count them as they come
    std::unique_lock<std::mutex> lock(start_mu_);
    start_verdict_ = -1;
    start_cv_.notify_all();
  }
  bool ok = false;
  {
    std::unique_lock<std::mutex> lock(start_mu_);
    if (started) start_cv_.wait(lock, [&] { return start_reported_ == expected; });
    ok = started && start_error_.empty();
    start_verdict_ = ok ? 1 : -1;
    start_cv_.notify_all();
  }
  if (ok) {
    std::unique_lock<std::shared_mutex> lock(wake_mu_);
    wake_fds_open_ = true;
    return true;
  }
  std::string why = start_error_;
  finish_stop(-1);
  if (!started) return false;  // error set by WorkerGroup
  return fail(TS_ERR_SYSTEM, "io_uring: %s; set TS_OPT_BACKEND to TS_BACKEND_EPOLL", why.c_str());
}

bool UringBackend::setup_ring(UringWorker& w, std::string* why) {
  io_uring_params p{};
  p.flags = kUringSetupFlags;
  p.cq_entries = kCqEntries;
  int e = io_uring_queue_init_params(kSqEntries, &w.ring, &p);
  if (e < 0) {
    *why = std::string("cannot make the ring of worker ") + std::to_string(w.index + 1) + " (" +
           os_error_text(-e) + ")";
    return false;
  }
  w.ring_ok = true;
  w.ring_fd = w.ring.ring_fd;
  w.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w.wake_fd < 0) {
    *why = std::string("cannot make an eventfd (") + os_error_text(errno) + ")";
    return false;
  }
  w.buf_size = static_cast<uint32_t>(server_.opts()[TS_OPT_IO_BUFFER_SIZE]);
  w.buf_count = buffer_count(w.buf_size);
  long page = sysconf(_SC_PAGESIZE);
  w.br_bytes = (w.buf_count * sizeof(io_uring_buf) + static_cast<size_t>(page) - 1) /
               static_cast<size_t>(page) * static_cast<size_t>(page);
  w.bufs_bytes = static_cast<size_t>(w.buf_count) * w.buf_size;
  void* br = mmap(nullptr, w.br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* bufs = mmap(nullptr, w.bufs_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (br == MAP_FAILED || bufs == MAP_FAILED) {
    if (br != MAP_FAILED) munmap(br, w.br_bytes);
    if (bufs != MAP_FAILED) munmap(bufs, w.bufs_bytes);
    *why = std::string("out of memory for the receive buffers (") + os_error_text(errno) + ")";
    return false;
  }
  w.br = static_cast<io_uring_buf_ring*>(br);
  w.bufs = static_cast<uint8_t*>(bufs);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(w.br);
  reg.ring_entries = w.buf_count;
  reg.bgid = kBufGroup;
  reg.pad = kBufRingInc;  // "flags" in newer headers
  e = io_uring_register_buf_ring(&w.ring, &reg, 0);
  if (e == -EINVAL) {  // before Linux 6.12: whole buffers
    reg.pad = 0;
    e = io_uring_register_buf_ring(&w.ring, &reg, 0);
  }
  if (e < 0) {
    *why = std::string("cannot register the receive buffers (") + os_error_text(-e) + ")";
    return false;
  }
  w.buf_inc = reg.pad != 0;
  w.buf_off.assign(w.buf_count, 0);
  io_uring_buf_ring_init(w.br);
  for (uint32_t i = 0; i < w.buf_count; ++i)
    io_uring_buf_ring_add(w.br, w.bufs + static_cast<size_t>(i) * w.buf_size, w.buf_size,
                          static_cast<unsigned short>(i), io_uring_buf_ring_mask(w.buf_count),
                          static_cast<int>(i));
  io_uring_buf_ring_advance(w.br, static_cast<int>(w.buf_count));
  return true;
}

void UringBackend::teardown_ring(UringWorker& w) {
  // Nothing is pending on the ring any more (the loop waited for every completion), so the
  // kernel no longer writes into the buffers once the ring is gone. What the last pass
  // prepared and did not submit (the closes of the last links' descriptors: close_socket)
  // goes to the kernel first.
  if (w.ring_ok) {
    io_uring_submit(&w.ring);
    io_uring_queue_exit(&w.ring);
  }
  w.ring_ok = false;
  if (w.br) munmap(w.br, w.br_bytes);
  if (w.bufs) munmap(w.bufs, w.bufs_bytes);
  w.br = nullptr;
  w.bufs = nullptr;
}

void UringBackend::stop_accepting() {
  if (!accepting_.exchange(false, std::memory_order_acq_rel)) return;
  // The socket stops listening: queued connections are reset, and each ring's multishot accept
  // (or listener poll) ends with an error, which on_accept and on_listen_poll take as the end;
  // arm_accept arms nothing more. The descriptor itself is closed in finish_stop.
  ::shutdown(listen_fd_, SHUT_RDWR);
}

void UringBackend::begin_stop() {
  // The listener is closed in finish_stop, once no ring has an accept on it any more.
  stopping_.store(true, std::memory_order_release);
  Task stop{Task::kStop};
  for (auto& w : workers_) w->post(stop);
}

bool UringBackend::finish_stop(int timeout_ms) {
  if (!threads_.wait(timeout_ms)) return false;
  threads_.join();
  {
    std::unique_lock<std::shared_mutex> lock(wake_mu_);
    wake_fds_open_ = false;
    for (auto& w : workers_)
      if (w->wake_fd >= 0) ::close(w->wake_fd);
  }
  for (auto& w : workers_) {
    // Links dealt to a worker after it stopped were never opened: drop them quietly.
    for (Task& t : w->tasks)
      if (t.kind == Task::kAdopt) server_.abandon_link(*t.link, nullptr);
    w->tasks.clear();
  }
  workers_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  spare_.close();
  listen_fd_ = -1;
  return true;
}

io_uring_sqe* UringBackend::sqe(UringWorker& w) {
  io_uring_sqe* s = io_uring_get_sqe(&w.ring);
  while (!s) {  // the submission queue is full: hand it to the kernel now
    io_uring_submit(&w.ring);
    s = io_uring_get_sqe(&w.ring);
  }
  return s;
}

void UringBackend::cancel(UringWorker& w, uint64_t user_data) {
  io_uring_sqe* s = sqe(w);
  io_uring_prep_cancel64(s, user_data, 0);
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  s->user_data = kTagIgnore;
}

void UringBackend::run(UringWorker& w) {
  w.thread = pthread_self();
  std::string why;
  bool ok = setup_ring(w, &why);
  {
    std::unique_lock<std::mutex> lock(start_mu_);
    if (!ok && start_error_.empty()) start_error_ = why;
    ++start_reported_;
    start_cv_.notify_all();
    start_cv_.wait(lock, [this] { return start_verdict_ != 0; });
    ok = ok && start_verdict_ > 0;
  }
  if (!ok) {
    teardown_ring(w);
    threads_.exited();
    return;
  }
  server_.thread_begin(w, true);
  arm_wake_read(w);
  arm_accept(w);
  uint64_t t0 = now_us();
  for (;;) {
    if (w.woken.exchange(false, std::memory_order_acq_rel)) run_tasks(w);
    if (w.resume_readers.exchange(false, std::memory_order_acq_rel)) retry_paused(w);
    if (!w.to_arm.empty()) {
      std::vector<LinkRef> again;
      again.swap(w.to_arm);
      for (auto& [link, id] : again)
        if (owned_open(w, link, id)) maybe_arm_recv(w, *link);
    }
    if (!w.listening && !w.stopping && now_ms() >= w.listen_resume_ms) {
      w.listening = true;
      if (!w.accept_armed) arm_accept(w);
    }
    flush_batch(w);
    for (Link* link : w.to_release) {
      server_.release_link(*link);
      --w.links;
    }
    w.to_release.clear();
    if (w.stopping && w.links == 0 && !w.accept_armed && !w.poll_armed) {
      // Last, the eventfd read (it writes into this worker): cancelled, and its end awaited.
      if (!w.wake_armed) break;
      if (!w.wake_cancelled) cancel(w, kTagWakeFd);
      w.wake_cancelled = true;
    }
    w.busy_us.fetch_add(now_us() - t0, std::memory_order_relaxed);

    // Send this batch's requests and wait for the next completions, in one system call.
    io_uring_cqe* cqe = nullptr;
    int e;
    if (!w.listening && !w.stopping) {
      uint64_t now = now_ms();
      uint64_t left = w.listen_resume_ms > now ? w.listen_resume_ms - now : 0;
      __kernel_timespec ts{static_cast<long long>(left / 1000),
                           static_cast<long long>(left % 1000) * 1000000};
      e = io_uring_submit_and_wait_timeout(&w.ring, &cqe, 1, &ts, nullptr);
    } else {
      e = io_uring_submit_and_wait(&w.ring, 1);
    }
    w.msgs.clear();  // the kernel has its own copy of what it was handed
    t0 = now_us();
    if (e < 0 && e != -EINTR && e != -ETIME && e != -EAGAIN && e != -EBUSY) {
      log(TS_LOG_ERROR, "worker %d: io_uring_enter failed: %s", w.index + 1, os_error_text(-e));
      break;
    }
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&w.ring, head, cqe) {
      handle(w, cqe);
      ++seen;
    }
    io_uring_cq_advance(&w.ring, seen);
    flush_splits(w);
  }
  server_.thread_end(w, true);
  teardown_ring(w);
  threads_.exited();
}

void UringBackend::handle(UringWorker& w, io_uring_cqe* cqe) {
  uint64_t ud = cqe->user_data;
  if (ud >= kLinkMin) {
    Link& link = *reinterpret_cast<Link*>(ud & ~kTagMask);
    if ((ud & kTagMask) == kTagRecv) on_recv(w, link, cqe);
    else on_send(w, link, cqe);
    return;
  }
  if (ud == kTagWakeFd) {
    w.wake_armed = false;
    if (!w.wake_cancelled && cqe->res != -ECANCELED) arm_wake_read(w);
    return;
  }
  if (ud == kTagAccept) on_accept(w, cqe);
  else if (ud == kTagListenPoll) on_listen_poll(w, cqe);
  // kTagWake: the flag it came for is looked at in the loop (as for kTagWakeFd). kTagIgnore: a cancellation that
  // found its request already done (ENOENT, EALREADY), or a wake-up to a stopped ring.
}

void UringBackend::run_tasks(UringWorker& w) {
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
      case Task::kFlush:
        // flush_batch checks the id and the state again under the link's lock.
        w.to_flush.emplace_back(t.link, t.id);
        break;
      case Task::kResume:
        // Still this link and open; the gate knows whether the pool still holds it back.
        if (owned_open(w, t.link, t.id)) pump(w, *t.link);
        break;
      case Task::kStop:
        w.stopping = true;
        if (w.accept_armed) cancel(w, kTagAccept);
        if (w.poll_armed) cancel(w, kTagListenPoll);
        close_all(w);
        break;
    }
  }
}

// ------------------------------------------------------------------------------------------
// Accepting
// ------------------------------------------------------------------------------------------

void UringBackend::arm_accept(UringWorker& w) {
  if (!accepting_.load(std::memory_order_acquire)) return;  // DrainTcpServer stopped accepting
  io_uring_sqe* s = sqe(w);
  io_uring_prep_multishot_accept(s, listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  s->user_data = kTagAccept;
  w.accept_armed = true;
}

void UringBackend::on_accept(UringWorker& w, io_uring_cqe* cqe) {
  if (!(cqe->flags & IORING_CQE_F_MORE)) w.accept_armed = false;
  const int res = cqe->res;
  if (!accepting_.load(std::memory_order_acquire)) {
    if (res >= 0) ::close(res);  // accepted just as the listener shut: not served
    return;
  }
  if (res >= 0) {
    if (w.stopping || stopping_.load(std::memory_order_acquire)) {
      ::close(res);
    } else {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      if (::getpeername(res, reinterpret_cast<sockaddr*>(&addr), &len) != 0) addr.ss_family = 0;
      Link* link = server_.accept_link(res, reinterpret_cast<const sockaddr*>(&addr));
      if (link) {  // else the link limit: refused and counted
        link->make_backend_state<UringLink>();
        auto& target =
            *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
        link->owner.store(&target, std::memory_order_release);
        if (&target == &w) adopt(w, link);
        else target.post(Task{Task::kAdopt, false, 0, link, link->pub.Id});
      }
    }
  } else if (res == -EMFILE || res == -ENFILE) {
    // io_uring takes the descriptor before it looks for a connection, so an accept armed again
    // now would fail at once, for ever: drop one waiting connection, then wait (a poll, which
    // needs no descriptor) for the next one before accepting again.
    if (w.accept_armed) cancel(w, kTagAccept);
    w.accept_armed = false;
    if (handle_emfile(w)) arm_listen_poll(w);
    return;
  } else if (res != -ECANCELED && res != -EINTR && res != -ECONNABORTED && res != -EAGAIN) {
    log(TS_LOG_ERROR, "worker %d: accept failed: %s", w.index + 1, os_error_text(-res));
  }
  if (!w.accept_armed && w.listening && !w.stopping) arm_accept(w);
}

void UringBackend::arm_listen_poll(UringWorker& w) {
  io_uring_sqe* s = sqe(w);
  io_uring_prep_poll_add(s, listen_fd_, POLLIN);
  s->user_data = kTagListenPoll;
  w.poll_armed = true;
}

void UringBackend::on_listen_poll(UringWorker& w, io_uring_cqe* cqe) {
  w.poll_armed = false;
  if (cqe->res == -ECANCELED || w.stopping || !w.listening) return;
  if (!w.accept_armed) arm_accept(w);  // a connection waits: accept it, or drop it (EMFILE)
}

bool UringBackend::handle_emfile(UringWorker& w) {
  if (spare_.drop_one(listen_fd_, server_)) return true;
  // Not even that: stop accepting on this worker for a while instead of spinning.
  w.listening = false;
  w.listen_resume_ms = now_ms() + kListenPauseMs;
  return false;
}

void UringBackend::adopt(UringWorker& w, Link* link) {
  if (w.stopping) {
    server_.abandon_link(*link, nullptr);
    return;
  }
  ul(*link).refs = 1;  // the open reference, until retire()
  ++w.links;
  if (!server_.open_link(*link, w)) return;  // refused: closed there, retire() dropped it
  maybe_arm_recv(w, *link);
}

}  // namespace uring

// backend/backend_select.cpp picks it.
std::unique_ptr<Backend> make_uring_backend(Server& server) {
  return std::make_unique<uring::UringBackend>(server);
}

}  // namespace ts
