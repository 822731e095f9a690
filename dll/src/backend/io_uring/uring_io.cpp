// The io_uring backend's receiving, sending and closing of links (see uring_backend.h): the
// requests around the core's read gate, queue and close state machine. The link's owner
// worker, except write_locked / queued_locked / post_close / resume_*, which any thread may
// call.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "backend/io_uring/uring_backend.h"
#include "core/errors.h"
#include "core/log.h"

namespace ts {
namespace uring {

namespace {

UringWorker& owner_of(Link& link) {
  return *static_cast<UringWorker*>(link.owner.load(std::memory_order_relaxed));
}

void free_held(UringLink& u) {
  while (u.held) {
    Held* next = u.held->next;
    std::free(u.held);
    u.held = next;
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Receiving (owner)
// ------------------------------------------------------------------------------------------

void UringBackend::arm_recv(UringWorker& w, Link& link) {
  UringLink& u = ul(link);
  io_uring_sqe* s = sqe(w);
  io_uring_prep_recv_multishot(s, link.sock, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kBufGroup;
  s->user_data = link_tag(link, kTagRecv);
  u.recv = Recv::kArmed;
  ++u.refs;
}

// Arms the receive unless something holds reading back (a resume arms it later).
void UringBackend::maybe_arm_recv(UringWorker& w, Link& link) {
  UringLink& u = ul(link);
  if (u.recv != Recv::kIdle || u.held || !link.reading() || link.paused_by_pool ||
      link.hold.load(std::memory_order_acquire) != 0 ||
      link.close_requested.load(std::memory_order_acquire))
    return;
  arm_recv(w, link);
}

// No more reading: the receive's last completion (ECANCELED, or bytes it had already read)
// follows.
void UringBackend::stop_recv(UringWorker& w, Link& link) {
  UringLink& u = ul(link);
  if (u.recv != Recv::kArmed) return;
  cancel(w, link_tag(link, kTagRecv));
  u.recv = Recv::kCancelling;
}

void UringBackend::release_buffer(UringWorker& w, unsigned bid, uint32_t used, uint32_t flags) {
  if (w.buf_inc) {
    w.buf_off[bid] += used;
    if (flags & kCqeBufMore) return;  // the kernel goes on filling it
    w.buf_off[bid] = 0;
  }
  io_uring_buf_ring_add(w.br, w.bufs + static_cast<size_t>(bid) * w.buf_size, w.buf_size,
                        static_cast<unsigned short>(bid), io_uring_buf_ring_mask(w.buf_count), 0);
  io_uring_buf_ring_advance(w.br, 1);
}

void UringBackend::on_recv(UringWorker& w, Link& link, io_uring_cqe* cqe) {
  UringLink& u = ul(link);
  const bool last = !(cqe->flags & IORING_CQE_F_MORE);
  const int res = cqe->res;
  if (last) u.recv = Recv::kIdle;
  int bid = -1;
  uint32_t off = 0;
  const uint8_t* data = nullptr;
  if (cqe->flags & IORING_CQE_F_BUFFER) {
    bid = static_cast<int>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    off = w.buf_inc ? w.buf_off[bid] : 0;
    data = w.bufs + static_cast<size_t>(bid) * w.buf_size + off;
  }
  const uint32_t len = res > 0 ? static_cast<uint32_t>(res) : 0;
  uint32_t joined = 0;  // bytes of this completion delivered with the link's kept piece
  if (u.split && res != -ENOBUFS) joined = join_split(w, link, data, len);
  bool out_of_buffers = false;
  if (res > 0) {
    if (joined == len) {
      // all of it went with the kept piece
    } else if (off > 0 && !(cqe->flags & kCqeBufMore) && off + len == w.buf_size) {
      // This piece ended a buffer other reads had begun: the kernel read no further into it,
      // so what arrived with it may follow in the next buffer. Kept until then (or the end of
      // this batch), so that OnReceive sees it whole, as one read of up to the buffer size.
      keep_split(w, link, data + joined, len - joined);
    } else {
      take(w, link, data + joined, len - joined, 0);
    }
  } else if (res == 0) {
    take(w, link, nullptr, 0, 0);  // the peer closed its side
  } else if (res == -ENOBUFS) {
    out_of_buffers = true;  // every buffer is in use this batch: arm again after it
  } else if (res != -ECANCELED) {
    take(w, link, nullptr, 0, -res);
  }
  if (bid >= 0) release_buffer(w, static_cast<unsigned>(bid), len, cqe->flags);
  if (!last) return;
  if (out_of_buffers) {
    if (link.reading()) w.to_arm.emplace_back(&link, link.pub.Id);
  } else {
    maybe_arm_recv(w, link);
  }
  unref(w, link);
}

// What one completion read (`len` bytes at `data`; len 0: the end of the stream, or the error
// `err`), through the read gate.
void UringBackend::take(UringWorker& w, Link& link, const uint8_t* data, uint32_t len, int err) {
  UringLink& u = ul(link);
  if (!link.reading()) {  // closing or closed: nothing more is delivered
    stop_recv(w, link);
    return;
  }
  if (u.held || link.paused_by_pool) {  // behind what is already held back: keep the order
    if (!hold(link, data, len, err)) server_.close_link(link, w, TS_CLOSE_ERROR, ENOMEM, true);
    else stop_recv(w, link);
    return;
  }
  switch (server_.read_gate(link)) {
    case ReadGate::kRead:
      break;
    case ReadGate::kStop:  // closing, or closed: nothing more is delivered
      stop_recv(w, link);
      return;
    case ReadGate::kHeld:
    case ReadGate::kPoolPaused: {
      bool pool = link.paused_by_pool;
      if (!hold(link, data, len, err)) {
        server_.close_link(link, w, TS_CLOSE_ERROR, ENOMEM, true);
        return;
      }
      stop_recv(w, link);
      if (pool) {  // retry_paused pumps it when buffers return
        w.paused.emplace_back(&link, link.pub.Id);
        server_.wait_for_pool();
      }
      return;
    }
  }
  if (len == 0) {
    end_of_stream(w, link, err);
    return;
  }
  if (int32_t reason = server_.received(link, w, const_cast<uint8_t*>(data), static_cast<int32_t>(len)))
    server_.close_link(link, w, reason, 0, false);
}

void UringBackend::keep_split(UringWorker& w, Link& link, const uint8_t* data, uint32_t len) {
  auto* h = static_cast<Held*>(std::malloc(sizeof(Held) + w.buf_size));
  if (!h) {  // no memory to wait: deliver the piece as it is
    take(w, link, data, len, 0);
    return;
  }
  h->next = nullptr;
  h->len = len;
  h->err = 0;
  std::memcpy(h->data, data, len);
  w.splits.push_back(UringWorker::Split{&link, link.pub.Id, h});
  ul(link).split = true;
}

// The link's kept piece, with as much of `data` (the completion after it) as fits in one
// buffer, goes through the gate. Returns how many bytes of `data` went with it.
uint32_t UringBackend::join_split(UringWorker& w, Link& link, const uint8_t* data, uint32_t len) {
  ul(link).split = false;
  Held* h = nullptr;
  for (auto& s : w.splits)
    if (s.link == &link && s.piece) {
      h = s.piece;
      s.piece = nullptr;  // flush_splits drops the entry
      break;
    }
  if (!h) return 0;
  uint32_t used = std::min(len, w.buf_size - h->len);
  if (used) std::memcpy(h->data + h->len, data, used);
  h->len += used;
  take(w, link, h->data, h->len, 0);
  std::free(h);
  return used;
}

// End of a batch: a kept piece whose rest did not come (nothing more had arrived) is delivered
// as it is; pieces of links closed meanwhile are dropped.
void UringBackend::flush_splits(UringWorker& w) {
  if (w.splits.empty()) return;
  std::vector<UringWorker::Split> splits;
  splits.swap(w.splits);
  for (auto& s : splits) {
    if (!s.piece) continue;
    if (owned_open(w, s.link, s.id) && ul(*s.link).split) {
      ul(*s.link).split = false;
      take(w, *s.link, s.piece->data, s.piece->len, 0);
    }
    std::free(s.piece);
  }
}

void UringBackend::end_of_stream(UringWorker& w, Link& link, int err) {
  if (err) server_.close_for_error(link, w, err);
  else server_.close_link(link, w, server_.eof_reason(link), 0, false);
}

// Keeps a copy (the receive buffer goes back to the kernel at once, so a link that stays
// paused holds none of them). False if out of memory.
bool UringBackend::hold(Link& link, const uint8_t* data, uint32_t len, int err) {
  auto* h = static_cast<Held*>(std::malloc(sizeof(Held) + len));
  if (!h) {
    log(TS_LOG_ERROR, "link %llu: out of memory keeping %u received bytes while it is paused; "
        "closing the link", static_cast<unsigned long long>(link.pub.Id), len);
    return false;
  }
  h->next = nullptr;
  h->len = len;
  h->err = err;
  if (len) std::memcpy(h->data, data, len);
  Held** tail = &ul(link).held;
  while (*tail) tail = &(*tail)->next;
  *tail = h;
  return true;
}

// The link may read again (resumed by the application or the pool): what was held back goes
// first, through the gate, then the receive is armed again.
void UringBackend::pump(UringWorker& w, Link& link) {
  UringLink& u = ul(link);
  while (u.held) {
    switch (server_.read_gate(link)) {
      case ReadGate::kRead:
        break;
      case ReadGate::kStop:
      case ReadGate::kHeld:
        return;
      case ReadGate::kPoolPaused:
        w.paused.emplace_back(&link, link.pub.Id);
        server_.wait_for_pool();
        return;
    }
    Held* h = u.held;
    u.held = h->next;
    if (h->len == 0) {
      int err = h->err;
      std::free(h);
      end_of_stream(w, link, err);
      return;
    }
    int32_t reason = server_.received(link, w, h->data, static_cast<int32_t>(h->len));
    std::free(h);
    if (reason) {
      server_.close_link(link, w, reason, 0, false);
      return;
    }
    if (!link.reading()) return;
  }
  maybe_arm_recv(w, link);
}

void UringBackend::retry_paused(UringWorker& w) {
  std::vector<LinkRef> paused;
  paused.swap(w.paused);
  for (auto& [link, id] : paused) {
    if (!owned_open(w, link, id)) continue;
    link->paused_by_pool = false;
    pump(w, *link);
  }
}

void UringBackend::resume_paused_readers() {
  // May run under a link's lock (a send completing frees a buffer): only flags and wake-ups.
  for (auto& w : workers_) {
    w->resume_readers.store(true, std::memory_order_release);
    wake(*w);
  }
}

void UringBackend::resume_reading(Link& link, uint64_t id) {
  auto* owner = static_cast<UringWorker*>(link.owner.load(std::memory_order_acquire));
  if (owner) owner->post(Task{Task::kResume, false, 0, &link, id});
}

// ------------------------------------------------------------------------------------------
// Sending
// ------------------------------------------------------------------------------------------

long UringBackend::write_locked(Link& link, const ConstBuf* parts, int count, int* err) {
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += parts[i].len;
  // The owner batches: nothing written now, the core queues it and queued_locked puts the link
  // on this batch's flush list.
  if (total <= kBatchedWriteMax && owner_of(link).on_thread()) return 0;
  return write_parts(link.sock, parts, count, err);
}

int UringBackend::queued_locked(Link& link) {
  UringLink& u = ul(link);
  if (u.send_in_flight || u.flush_pending) return 0;  // its completion or the flush sends it
  u.flush_pending = true;
  UringWorker& owner = owner_of(link);
  if (owner.on_thread()) owner.to_flush.emplace_back(&link, link.pub.Id);
  else owner.post(Task{Task::kFlush, false, 0, &link, link.pub.Id});
  return 0;
}

// Every link that queued something this batch: its whole queue in one request.
void UringBackend::flush_batch(UringWorker& w) {
  for (auto& [link, id] : w.to_flush) {
    std::lock_guard<std::mutex> lock(link->mu);
    if (link->id.load(std::memory_order_relaxed) != id) continue;  // a new link in that slot
    UringLink& u = ul(*link);
    u.flush_pending = false;
    if (link->live() && !u.send_in_flight && !link->queue.empty()) prep_send_locked(w, *link);
  }
  w.to_flush.clear();
}

void UringBackend::prep_send_locked(UringWorker& w, Link& link) {
  UringLink& u = ul(link);
  io_uring_sqe* s = sqe(w);
  SendItem* first = link.queue.front();
  if (!first->next) {
    io_uring_prep_send(s, link.sock, first->data, first->left, MSG_NOSIGNAL);
  } else {
    w.msgs.emplace_back();
    SendMsg& m = w.msgs.back();
    size_t total;
    m.msg = msghdr{};
    m.msg.msg_iov = m.iov;
    m.msg.msg_iovlen = static_cast<size_t>(gather_queue(link.queue, m.iov, &total));
    io_uring_prep_sendmsg(s, link.sock, &m.msg, MSG_NOSIGNAL);
  }
  s->user_data = link_tag(link, kTagSend);
  u.send_in_flight = true;
  ++u.refs;
}

void UringBackend::on_send(UringWorker& w, Link& link, io_uring_cqe* cqe) {
  UringLink& u = ul(link);
  const int res = cqe->res;
  int err = 0;
  bool flushed = false;
  SendItem* dead = nullptr;
  {
    std::lock_guard<std::mutex> lock(link.mu);
    u.send_in_flight = false;
    if (link.live()) {
      if (res > 0) server_.consume_written_locked(link, static_cast<size_t>(res));
      if (res < 0 && res != -EINTR && res != -EAGAIN) err = -res;
      else if (!link.queue.empty()) prep_send_locked(w, link);
      else flushed = link.state_now() == LinkState::kClosing;
    } else {
      dead = link.queue.take_all();  // closed while this send was in flight
    }
  }
  while (dead) {
    SendItem* next = dead->next;
    release_item(server_.pool(), dead);
    dead = next;
  }
  if (err) server_.close_for_error(link, w, err);
  else if (flushed) server_.finish_graceful_close(link, w);
  unref(w, link);
}

// ------------------------------------------------------------------------------------------
// Requests and closing
// ------------------------------------------------------------------------------------------

void UringBackend::post_close(Link& link, uint64_t id, int32_t reason, bool abort) {
  auto* owner = static_cast<UringWorker*>(link.owner.load(std::memory_order_acquire));
  if (owner) owner->post(Task{Task::kClose, abort, reason, &link, id});
}

// The core closed the link (owner): its requests are cancelled, the descriptor closed. The
// kernel keeps the socket until the cancelled requests let go of it, so the FIN (or reset)
// leaves with this batch.
// The descriptor is closed by the ring, after this batch's requests, never by close(): a send
// or receive prepared in this batch and not yet submitted names the descriptor by number, and
// a number closed now could be taken (by another worker's accept, or any thread of the
// process) before the batch is submitted, so the request would reach that other connection.
// Requests of one submission are issued in order, and each takes hold of its socket when
// issued, so the close frees the number only after them.
void UringBackend::close_socket(Link& link, socket_t s, bool reset) {
  UringWorker& w = owner_of(link);
  UringLink& u = ul(link);
  stop_recv(w, link);
  if (u.send_in_flight) cancel(w, link_tag(link, kTagSend));
  free_held(u);
  if (reset) reset_on_close(s);
  io_uring_sqe* c = sqe(w);
  io_uring_prep_close(c, s);
  c->flags |= IOSQE_CQE_SKIP_SUCCESS;
  c->user_data = kTagIgnore;
}

void UringBackend::retire(Link& link, WorkerCtx& w) {
  unref(static_cast<UringWorker&>(w), link);  // the open reference
}

void UringBackend::unref(UringWorker& w, Link& link) {
  if (--ul(link).refs == 0) w.to_release.push_back(&link);  // after this batch
}

void UringBackend::close_all(UringWorker& w) {
  std::vector<Link*> mine;
  server_.for_each_link([&](Link& link) {
    if (link.owner.load(std::memory_order_relaxed) == &w && link.live()) mine.push_back(&link);
  });
  for (Link* link : mine) {
    {  // one last chance for what is queued, without waiting
      std::lock_guard<std::mutex> lock(link->mu);
      if (!ul(*link).send_in_flight && !link->queue.empty()) {
        ssize_t sent = send_queue_once(link->sock, link->queue);
        if (sent > 0) server_.consume_written_locked(*link, static_cast<size_t>(sent));
      }
    }
    server_.close_link(*link, w, TS_CLOSE_SERVER_STOP, 0, true);
  }
}

}  // namespace uring
}  // namespace ts
