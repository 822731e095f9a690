// The IOCP backend's per-link actor, reading, writing, cross-thread requests and closing (see
// iocp_backend.h): the Winsock calls around the core's read loop and close state machine.
// Whichever worker holds a link's busy flag; write_locked / queued_locked / post_close /
// resume_* from any thread.
#include "backend/iocp/iocp_backend.h"

#include "core/errors.h"
#include "core/log.h"

namespace ts {
namespace iocp {

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
  Link& link = *st->link;
  if (ev & kEvClose) handle_close_requests(w, st);
  if (ev & kEvSendFailed) server_.close_for_error(link, w, st->send_error.load());
  if (ev & kEvFlushed) server_.finish_graceful_close(link, w);
  if (ev & kEvRecv) on_recv_done(w, st);
  if ((ev & kEvResume) && link.paused_by_pool.load(std::memory_order_relaxed)) {
    link.paused_by_pool.store(false, std::memory_order_relaxed);
    read_some(w, st);
  }
  // Only a link that stopped held (no receive posted) starts again here; one still
  // held back by the pool waits for kEvResume, whose read then asks the gate again.
  if ((ev & kEvReadOn) && st->stopped_held && !link.paused_by_pool.load(std::memory_order_relaxed)) {
    st->stopped_held = false;
    read_some(w, st);
  }
}

void IocpBackend::unref(IocpLink* st) {
  if (st->refs.fetch_sub(1) != 1) return;
  Link* link = st->link;
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
  server_.close_for_error(*st->link, w, e);
}

void IocpBackend::on_recv_done(IocpWorker& w, IocpLink* st) {
  if (!st->link->reading()) return;  // closing: no more reads
  if (st->recv_op.ov.Internal != 0) {
    DWORD bytes = 0, flags = 0;
    int e = WSAGetOverlappedResult(st->sock, &st->recv_op.ov, &bytes, FALSE, &flags)
                ? 0 : WSAGetLastError();
    server_.close_for_error(*st->link, w, e ? e : WSAECONNRESET);
    return;
  }
  read_some(w, st);
}

void IocpBackend::read_some(IocpWorker& w, IocpLink* st) {
  const SOCKET s = st->sock;
  ReadEnd end = server_.read_until_blocked(
      *st->link, w, w.rbuf.data(), w.rbuf.size(), false,
      [s](uint8_t* buf, size_t size) -> RecvResult {
        int n = ::recv(s, reinterpret_cast<char*>(buf), static_cast<int>(size), 0);
        if (n >= 0) return {n, 0};
        int e = WSAGetLastError();
        return {-1, e == WSAEWOULDBLOCK ? 0 : e};
      });
  switch (end) {
    case ReadEnd::kDrained:  // the zero-byte receive tells when more comes
    case ReadEnd::kBudget:   // (then it completes at once, after other work)
      post_recv(w, st);
      break;
    case ReadEnd::kHeld:
      st->stopped_held = true;
      break;
    case ReadEnd::kPoolPaused:
      park(st);
      break;
    case ReadEnd::kStopped:
      break;
  }
}

void IocpBackend::park(IocpLink* st) {
  st->refs.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(paused_mu_);
    st->in_pool_wait_list = true;
    paused_.push_back(st);
  }
  server_.wait_for_pool();
}

void IocpBackend::unpark(IocpLink* st) {
  bool was;
  {
    std::lock_guard<std::mutex> lock(paused_mu_);
    was = st->in_pool_wait_list;
    if (was) {
      st->in_pool_wait_list = false;
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
    for (IocpLink* st : list) st->in_pool_wait_list = false;
  }
  for (IocpLink* st : list) {
    dispatch(w, st, kEvResume);
    unref(st);  // the parked reference
  }
}

// ------------------------------------------------------------------------------------------
// Writing
// ------------------------------------------------------------------------------------------

long IocpBackend::write_locked(Link& link, const ConstBuf* parts, int count, int* err) {
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
  // Without an OVERLAPPED, WSASend on this non-blocking socket acts as send() does.
  DWORD sent = 0;
  if (WSASend(link.sock, bufs, used, &sent, 0, nullptr, nullptr) == 0) return static_cast<long>(sent);
  int e = WSAGetLastError();
  if (e == WSAEWOULDBLOCK) return 0;
  *err = e;
  return -1;
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

int IocpBackend::queued_locked(Link& link) {
  IocpLink* st = state_of(link);
  if (st->send_in_flight) return 0;  // its completion posts the next
  return post_send_locked(st);
}

void IocpBackend::on_send_done(IocpWorker& w, IocpLink* st, DWORD bytes) {
  Link* link = st->link;
  uint32_t ev = 0;
  SendItem* dead = nullptr;
  {
    std::lock_guard<std::mutex> lock(link->mu);
    st->send_in_flight = false;
    if (link->live()) {
      int e = 0;
      if (st->send_op.ov.Internal != 0) {
        DWORD n = 0, flags = 0;
        e = WSAGetOverlappedResult(link->sock, &st->send_op.ov, &n, FALSE, &flags)
                ? WSAECONNRESET : WSAGetLastError();
      } else {
        server_.consume_written_locked(*link, bytes);
        if (!link->queue.empty()) e = post_send_locked(st);
        else if (link->state_now() == LinkState::kClosing) ev = kEvFlushed;
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
// Requests and closing
// ------------------------------------------------------------------------------------------

bool IocpBackend::post_link_packet(ULONG_PTR key, Link& link, uint64_t id, int32_t reason,
                                   bool abort) {
  HANDLE iocp = iocp_.load();
  if (!iocp) return true;  // stopped: nothing to tell
  auto* p = new (std::nothrow) LinkPacket{};
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

void IocpBackend::post_close(Link& link, uint64_t id, int32_t reason, bool abort) {
  if (!post_link_packet(kKeyClose, link, id, reason, abort))
    log(TS_LOG_ERROR, "cannot queue the close of link %llu (out of memory?)",
        static_cast<unsigned long long>(id));
}

void IocpBackend::resume_reading(Link& link, uint64_t id) {
  if (!post_link_packet(kKeyReadOn, link, id, 0, false))
    log(TS_LOG_ERROR, "cannot queue ResumeReceive of link %llu (out of memory?)",
        static_cast<unsigned long long>(id));
}

void IocpBackend::on_link_packet(IocpWorker& w, LinkPacket* p, ULONG_PTR key) {
  Link* link = p->link;
  IocpLink* st = nullptr;
  {
    std::lock_guard<std::mutex> lock(link->mu);
    if (link->id.load() == p->id && link->live()) {
      st = state_of(*link);
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
  for (const CloseReq& r : reqs) {
    if (!st->link->live()) return;
    server_.close_requested_link(*st->link, w, r.reason, r.abort);
  }
}

// The core closed the link (busy holder): its pending operations complete as cancelled.
void IocpBackend::close_socket(Link& link, socket_t s, bool reset) {
  IocpLink* st = state_of(link);
  st->sock = INVALID_SOCKET;
  unpark(st);
  CancelIoEx(reinterpret_cast<HANDLE>(s), nullptr);
  ts::close_socket(s, reset);
}

void IocpBackend::retire(Link& link, WorkerCtx&) {
  unref(state_of(link));  // the open reference; the caller still holds one, so st stays valid
}

}  // namespace iocp
}  // namespace ts
