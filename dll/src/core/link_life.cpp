// Server: the life of a link, written once for every backend. Accepting (options, the peer's
// address, OnConnect), the read gate (a close on its way, PauseReceive, the pool running low),
// received bytes through the link's transport, the end of the stream, written bytes leaving the
// queue, and the close state machine (first reason wins, graceful close flushes first, when to
// reset, releasing the queue, the idle re-check). Backends call these from the link's owner
// thread, except where a function says "any thread" (then with link.mu held).
#include <algorithm>

#include "core/errors.h"
#include "core/log.h"
#include "core/proxy_protocol.h"
#include "core/server.h"
#include "core/tls_server.h"
#include "core/transport.h"
#include "platform/clock.h"

namespace ts {

// ------------------------------------------------------------------------------------------
// Accepting
// ------------------------------------------------------------------------------------------

bool Server::admit(socket_t s, const sockaddr* remote, AddressKey* key) {
  char text[TS_REMOTE_IP_SIZE];
  uint32_t port = 0, held = 0;
  int32_t counter = 0;
  if (!accept_rate_.try_take(now_ms())) {
    counter = TS_COUNTER_RATE_REFUSED;
  } else if (links_per_address_ != 0 && !proxy_protocol_) {  // (PROXY: the header's address)
    *key = address_key(remote);
    if (key->family && !address_links_.try_add(*key, links_per_address_, &held)) {
      counter = TS_COUNTER_ADDRESS_REFUSED;
      key->family = 0;
    }
  }
  if (counter == 0) return true;
  close_socket(s, false);
  count(counter);
  // A flood is logged once a second at most, with the count so far.
  uint64_t now = now_ms(), last = last_refusal_log_ms_.load(std::memory_order_relaxed);
  if (now - last < 1000 || !last_refusal_log_ms_.compare_exchange_strong(last, now))
    return false;
  format_address(remote, text, sizeof text, &port);
  if (counter == TS_COUNTER_RATE_REFUSED)
    log(TS_LOG_WARN, "connection from %s refused: more than TS_OPT_ACCEPT_RATE=%lld connections "
        "a second (%lld refused so far)", text,
        static_cast<long long>(running_opts_[TS_OPT_ACCEPT_RATE]),
        static_cast<long long>(counters_[counter].load()));
  else
    log(TS_LOG_WARN, "connection from %s refused: that address holds %u links, "
        "TS_OPT_MAX_LINKS_PER_ADDRESS=%u (%lld refused so far)", text, held, links_per_address_,
        static_cast<long long>(counters_[counter].load()));
  return false;
}

Link* Server::accept_link(socket_t s, const sockaddr* remote) {
  AddressKey key;
  if (!admit(s, remote, &key)) return nullptr;
  Link* link = table_.load(std::memory_order_acquire)->acquire();
  if (!link) {
    if (key.family) address_links_.remove(key);
    close_socket(s, false);
    count(TS_COUNTER_REFUSED);
    log(TS_LOG_WARN, "connection refused: all %d links are in use (raise TS_OPT_MAX_LINKS)",
        static_cast<int>(running_opts_[TS_OPT_MAX_LINKS]));
    return nullptr;
  }
  apply_link_options(s, link_socket_opts_);
  link->sock = s;  // not visible to other threads before open_link
  link->address_key = key.value;
  link->address_family = key.family;
  link->queue.set_budget(&budget_);
  link->decoder.set_budget(&budget_);
  format_address(remote, link->pub.RemoteIP, sizeof link->pub.RemoteIP, &link->pub.RemotePort);
  if (proxy_protocol_) {  // the balancer's header comes first
    link->proxy = new (std::nothrow) ProxyHeaderParser;
    if (!link->proxy) {
      abandon_link(*link, "out of memory for its PROXY header");
      return nullptr;
    }
  }
  if (tls_active_) {  // every link of this server speaks TLS
    link->transport = tls_->new_transport();
    if (!link->transport) {
      abandon_link(*link, "out of memory for its TLS session");
      return nullptr;
    }
    std::lock_guard<std::mutex> lock(link->mu);
    charge_transport_locked(*link);
  }
  return link;
}

void Server::abandon_link(Link& link, const char* why) {
  close_socket(link.sock, false);
  link.sock = kNoSocket;
  if (why) {
    log(TS_LOG_ERROR, "cannot serve a new connection: %s", why);
    count(TS_COUNTER_REFUSED);
  }
  release_link(link);
}

bool Server::open_link(Link& link, WorkerCtx& w) {
  link.decoder.reset(static_cast<uint32_t>(running_opts_[TS_OPT_MAX_MESSAGE_SIZE]));
  if (link.proxy || (link.transport && !link.transport->established())) {
    // A PROXY header or a TLS handshake first: read, but no link for the application until
    // they are complete.
    {
      std::lock_guard<std::mutex> lock(link.mu);
      link.set_state(LinkState::kHandshaking);
      // The PROXY header's deadline (the TLS handshake, which follows it, gets its own).
      if (link.proxy) link.handshake_started_ms.store(now_ms(), std::memory_order_release);
    }
    if (!link.proxy) begin_tls_handshake(link);
    return true;
  }
  {
    std::lock_guard<std::mutex> lock(link.mu);
    link.set_state(LinkState::kOpen);  // visible from here: sends, broadcasts, ids, idle scan
    table_.load(std::memory_order_acquire)->mark_open_locked(&link);
  }
  return accept_for_app(link, w);
}

// A TLS handshake starts: counted in progress; at the cap the oldest handshake is dropped to make
// room, counted here, and closed by its owner.
void Server::begin_tls_handshake(Link& link) {
  auto cap = static_cast<uint32_t>(running_opts_[TS_OPT_TLS_MAX_HANDSHAKES]);
  auto victim = tls_->begin_handshake(link, link.pub.Id, cap,
                                      counters_[TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS], now_ms());
  if (victim.first) {
    count(TS_COUNTER_TLS_HANDSHAKES_DROPPED);
    request_close(*victim.first, victim.second, kCloseHandshakeDropped, true);
  }
}

// OnConnect; accepted, the link is the application's (its OnDisconnect will come); refused, it
// closes without further callbacks.
bool Server::accept_for_app(Link& link, WorkerCtx& w) {
  bool accepted = call_connect(link, w);
  count(accepted ? TS_COUNTER_ACCEPTS : TS_COUNTER_REFUSED);
  if (!accepted) {
    close_link(link, w, TS_CLOSE_NONE, 0, true, false);
    return false;
  }
  link.visible = true;
  return true;
}

// The transport finished its handshake: the connection becomes a link for the application,
// unless it was dropped at the handshake cap meanwhile: then the reason to close it with.
int32_t Server::handshake_completed(Link& link, WorkerCtx& w) {
  bool resumed = false;
  {
    std::lock_guard<std::mutex> lock(link.mu);
    if (link.state_now() != LinkState::kHandshaking) return TS_CLOSE_NONE;
    if (!tls_->end_handshake(link, counters_[TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS]))
      return kCloseHandshakeDropped;
    // Its life as a link starts now: the time its handshake took is not the link's silence.
    const uint64_t now = now_ms();
    link.last_active_ms.store(now, std::memory_order_relaxed);
    link.pub.TickCountActive = static_cast<uint32_t>(now);
    link.set_state(LinkState::kOpen);
    table_.load(std::memory_order_acquire)->mark_open_locked(&link);
    resumed = tls_resumed_locked(link);
  }
  count(TS_COUNTER_TLS_HANDSHAKES);
  if (resumed) count(TS_COUNTER_TLS_RESUMED);
  accept_for_app(link, w);  // refused: closed already
  return TS_CLOSE_NONE;
}

// ------------------------------------------------------------------------------------------
// Reading
// ------------------------------------------------------------------------------------------

ReadGate Server::pause_for_pool(Link& link) {
  // Leave the bytes in the kernel (TCP holds the peer back) until buffers return.
  link.paused_by_pool.store(true, std::memory_order_relaxed);
  count(TS_COUNTER_RECV_PAUSES);
  return ReadGate::kPoolPaused;
}

void Server::wait_for_pool() {
  // Parked first, then marked: a buffer returning after this line wakes the parked links
  // through the pool's callback; one that returned before it is seen here.
  pool_->mark_waiting();
  if (!pool_->low()) backend_->resume_paused_readers();
}

int32_t Server::eof_reason(Link& link) {
  if (link.state_now() == LinkState::kHandshaking)  // the client left mid-handshake
    return handshake_failed(link, TS_TLS_CAUSE_PEER_CLOSED);
  if (framing() && link.decoder.pending()) {
    count(TS_COUNTER_FRAMING_ERRORS);
    return TS_CLOSE_FRAME_TRUNCATED;
  }
  // A TLS peer ends its stream with close_notify (reported by the transport before this FIN).
  if (link.transport) return TS_CLOSE_TLS_NO_CLOSE_NOTIFY;
  return TS_CLOSE_PEER_CLOSED;
}

// Bytes of a connection that has something before its application bytes: the balancer's PROXY
// header (then the connection becomes a link, or its TLS handshake starts), and the transport.
int32_t Server::received_before_app(Link& link, WorkerCtx& w, uint8_t* data, int32_t len) {
  size_t off = 0;
  if (link.proxy) {
    if (int32_t reason = received_proxy_header(link, w, data, len, &off)) return reason;
    if (link.proxy || !link.reading()) return TS_CLOSE_NONE;  // more to come, or refused
    if (off == static_cast<size_t>(len)) return TS_CLOSE_NONE;
  }
  if (link.transport)
    return received_through_transport(link, w, data + off, len - static_cast<int32_t>(off));
  return deliver(link, w, data + off, len - static_cast<int32_t>(off));
}

// The PROXY header: on completion the link takes the client's address (and counts against its
// TS_OPT_MAX_LINKS_PER_ADDRESS), and without TLS it becomes a link for the application now.
int32_t Server::received_proxy_header(Link& link, WorkerCtx& w, uint8_t* data, int32_t len,
                                      size_t* consumed) {
  ProxyHeaderParser::Result r = link.proxy->feed(data, static_cast<size_t>(len));
  *consumed = r.consumed;
  if (r.status == ProxyHeaderParser::Status::kNeedMore) return TS_CLOSE_NONE;
  if (r.status == ProxyHeaderParser::Status::kInvalid) {
    count(TS_COUNTER_REFUSED);
    log(TS_LOG_WARN, "connection from %s port %u refused: %s (TS_OPT_PROXY_PROTOCOL is on)",
        link.pub.RemoteIP, link.pub.RemotePort, link.proxy->error().c_str());
    return kCloseHandshakeFailed;
  }
  if (link.proxy->has_address()) {
    const sockaddr* client = link.proxy->address();
    format_address(client, link.pub.RemoteIP, sizeof link.pub.RemoteIP, &link.pub.RemotePort);
    uint32_t held = 0;
    AddressKey key = address_key(client);
    if (links_per_address_ != 0 && key.family) {
      if (!address_links_.try_add(key, links_per_address_, &held)) {
        count(TS_COUNTER_ADDRESS_REFUSED);
        log(TS_LOG_WARN, "connection from %s refused: that address holds %u links, "
            "TS_OPT_MAX_LINKS_PER_ADDRESS=%u", link.pub.RemoteIP, held, links_per_address_);
        return kCloseHandshakeFailed;
      }
      link.address_key = key.value;
      link.address_family = key.family;
    }
  }
  delete link.proxy;
  link.proxy = nullptr;
  {
    std::lock_guard<std::mutex> lock(link.mu);
    if (link.state_now() != LinkState::kHandshaking) return TS_CLOSE_NONE;
    link.handshake_started_ms.store(0, std::memory_order_release);
    if (!link.transport) {
      link.set_state(LinkState::kOpen);
      table_.load(std::memory_order_acquire)->mark_open_locked(&link);
    }
  }
  if (link.transport) {  // the TLS handshake comes next
    begin_tls_handshake(link);
    return TS_CLOSE_NONE;
  }
  accept_for_app(link, w);  // refused: closed there
  return TS_CLOSE_NONE;
}

// Wire bytes through the link's transport: what it has to send goes out, and the application's
// bytes it yields are delivered, each piece outside the lock, into the worker's own buffer (the
// IO buffer size, so OnReceive never gets more than without a transport).
int32_t Server::received_through_transport(Link& link, WorkerCtx& w, uint8_t* data, int32_t len) {
  const size_t cap = static_cast<size_t>(running_opts_[TS_OPT_IO_BUFFER_SIZE]);
  if (w.plain.size() < cap) w.plain.resize(cap);
  uint8_t* plain = w.plain.data();
  size_t off = 0;
  const auto n = static_cast<size_t>(len);
  for (;;) {
    Transport::Result r;
    {
      std::lock_guard<std::mutex> lock(link.mu);
      if (!link.reading()) return TS_CLOSE_NONE;  // a failed write closed it meanwhile
      r = link.transport->receive(data + off, n - off, plain, cap);
      flush_transport_locked(link);
      charge_transport_locked(link);
    }
    off += r.consumed;
    if (r.produced) {
      if (int32_t reason = deliver(link, w, plain, static_cast<int32_t>(r.produced))) return reason;
      // Closed from the callback (CloseLink, a failed send): no OnReceive after that.
      if (!link.open() || link.close_requested.load(std::memory_order_acquire)) return TS_CLOSE_NONE;
    }
    switch (r.status) {
      case Transport::Status::kNeedInput:
        if (off >= n) return TS_CLOSE_NONE;
        break;
      case Transport::Status::kMore:
        break;
      case Transport::Status::kEstablished:
        if (int32_t reason = handshake_completed(link, w)) return reason;  // dropped meanwhile
        // Refused by OnConnect (closed already), or closed from it: no OnReceive.
        if (!link.open() || link.close_requested.load(std::memory_order_acquire)) return TS_CLOSE_NONE;
        break;
      case Transport::Status::kPeerClosed:  // close_notify: a clean end, as a FIN without TLS
        if (framing() && link.decoder.pending()) {
          count(TS_COUNTER_FRAMING_ERRORS);
          return TS_CLOSE_FRAME_TRUNCATED;
        }
        return TS_CLOSE_PEER_CLOSED;
      case Transport::Status::kFailed:
        return transport_failed(link);
    }
  }
}

// The transport failed: a handshake that never became a link is logged, and counted by its
// cause when it closes (no callback); an established link closes with TS_CLOSE_TLS_ERROR and the
// cause as its CloseError. Either way what the transport queued (its alert) is flushed first.
int32_t Server::transport_failed(Link& link) {
  const int32_t cause = link.transport->failure_cause();
  if (link.state_now() == LinkState::kHandshaking) {
    log(TS_LOG_INFO, "TLS handshake from %s port %u failed: %s", link.pub.RemoteIP,
        link.pub.RemotePort, link.transport->failure_text());
    return handshake_failed(link, cause);
  }
  count(TS_COUNTER_TLS_ERRORS);
  log(TS_LOG_INFO, "link %llu (%s): TLS error, closing the link: %s",
      static_cast<unsigned long long>(link.pub.Id), link.pub.RemoteIP,
      link.transport->failure_text());
  std::lock_guard<std::mutex> lock(link.mu);
  if (link.close_reason == TS_CLOSE_NONE) {
    link.close_reason = TS_CLOSE_TLS_ERROR;
    link.close_error = cause;
  }
  return TS_CLOSE_TLS_ERROR;
}

// A handshake failed for `cause`: recorded as the connection's close reason (the first wins), to
// be counted once it closes (handshake_closed).
int32_t Server::handshake_failed(Link& link, int32_t cause) {
  std::lock_guard<std::mutex> lock(link.mu);
  if (link.close_reason == TS_CLOSE_NONE) {
    link.close_reason = kCloseHandshakeFailed;
    link.close_error = cause;
  }
  return kCloseHandshakeFailed;
}

void Server::count_handshake_failure(int32_t cause) {
  count(TS_COUNTER_TLS_HANDSHAKE_FAILURES);
  if (cause == TS_TLS_CAUSE_NOT_TLS) count(TS_COUNTER_TLS_NOT_TLS);
  tls_->count_failure(cause);
}

// The transport's output goes out (link.mu held, any thread). Output it cannot hand over (out
// of memory) would be lost: the link is closed instead.
void Server::flush_transport_locked(Link& link) {
  if (SendItem* out = link.transport->take_output()) send_items_locked(link, out);
  else if (link.transport->has_output()) request_close(link, link.pub.Id, TS_CLOSE_ERROR, true);
}

// The memory budget follows what the transport holds (link.mu held, any thread).
void Server::charge_transport_locked(Link& link) {
  size_t now = link.transport->memory_estimate();
  if (now > link.transport_charged) budget_.charge(now - link.transport_charged);
  else budget_.release(link.transport_charged - now);
  link.transport_charged = now;
}

// ------------------------------------------------------------------------------------------
// Writing (any thread, link.mu held)
// ------------------------------------------------------------------------------------------

void Server::consume_written_locked(Link& link, size_t n) {
  size_t left = n;
  int done_items = 0;
  while (left > 0 && !link.queue.empty()) {
    size_t take = std::min<size_t>(left, link.queue.front()->left);
    if (SendItem* done = link.queue.consume_front(take)) {
      release_item(*pool_, done);
      ++done_items;
    }
    left -= take;
  }
  count_written(link, n, done_items);
  // Drained to the low-water mark (half the high one): read the link again.
  if ((link.hold.load(std::memory_order_relaxed) & kHeldByHighWater) &&
      link.queue.bytes() <= high_water_ / 2) {
    link.hold.fetch_and(static_cast<uint8_t>(~kHeldByHighWater), std::memory_order_acq_rel);
    count(TS_COUNTER_LINKS_HELD, -1);
    if (link.open()) backend_->resume_reading(link, link.pub.Id);
  }
}

void Server::write_failed_locked(Link& link, int err) {
  const int32_t reason = is_reset_error(err) ? TS_CLOSE_PEER_RESET : TS_CLOSE_ERROR;
  // This send took the socket's error: the owner's next read may see a plain end of stream and
  // call it PEER_CLOSED. Record why now (the first reason recorded wins).
  if (link.close_reason == TS_CLOSE_NONE) {
    link.close_reason = reason;
    link.close_error = reason == TS_CLOSE_ERROR ? err : 0;
  }
  request_close(link, link.pub.Id, reason, true);
}

// ------------------------------------------------------------------------------------------
// Closing
// ------------------------------------------------------------------------------------------

void Server::request_close(Link& link, uint64_t id, int32_t reason, bool abort) {
  // Stop delivering at once (the owner checks this before every OnReceive); a request of the
  // service thread's scan is only a question until the owner re-checks it.
  // (A drop at the handshake cap is decided: begin_handshake took the connection out already.)
  if (reason != TS_CLOSE_IDLE && reason != TS_CLOSE_MESSAGE_TIMEOUT &&
      reason != kCloseHandshakeTimeout && link.id.load(std::memory_order_acquire) == id)
    link.close_requested.store(true, std::memory_order_release);
  backend_->post_close(link, id, reason, abort);
}

bool Server::idle_close_still_due(Link& link) const {
  auto timeout = static_cast<uint64_t>(running_opts_[TS_OPT_IDLE_TIMEOUT_MS]);
  return timeout != 0 && now_ms() - link.last_active_ms.load(std::memory_order_relaxed) >= timeout;
}

bool Server::message_timeout_still_due(Link& link) const {
  auto timeout = static_cast<uint64_t>(running_opts_[TS_OPT_MESSAGE_TIMEOUT_MS]);
  return timeout != 0 && link.message_pending.load(std::memory_order_relaxed) &&
         now_ms() - link.last_active_ms.load(std::memory_order_relaxed) >= timeout;
}

void Server::close_requested_link(Link& link, WorkerCtx& w, int32_t reason, bool abort) {
  if (reason == TS_CLOSE_IDLE && link.open() && !idle_close_still_due(link)) {
    link.scan_requested.store(false, std::memory_order_release);  // it spoke since the scan
    return;
  }
  if (reason == TS_CLOSE_MESSAGE_TIMEOUT && link.open() && !message_timeout_still_due(link)) {
    link.scan_requested.store(false, std::memory_order_release);  // it grew (or ended) since
    return;
  }
  // A handshake's deadline: only while it is still in its handshake (a connection that failed
  // its handshake and is still sending its alert is, and closes now). A drop at the cap was
  // decided when it was made: the connection cannot have become a link since.
  if (reason == kCloseHandshakeTimeout &&
      link.handshake_started_ms.load(std::memory_order_acquire) == 0) {
    link.scan_requested.store(false, std::memory_order_release);  // it completed since
    return;
  }
  close_link(link, w, reason, 0, abort);
}

CloseStep Server::close_link(Link& link, WorkerCtx& w, int32_t reason, int err, bool abort,
                             bool notify) {
  std::unique_lock<std::mutex> lock(link.mu);
  if (!link.live()) return CloseStep::kNone;
  if (link.close_reason == TS_CLOSE_NONE) {
    link.close_reason = reason;
    link.close_error = err;
  }
  // A graceful close of a TLS link says goodbye (close_notify) before the FIN; nothing is
  // awaited from the peer. A connection that never became the application's link (dropped
  // just as its handshake completed) gets none.
  if (!abort && link.visible && link.transport && link.transport->established()) {
    link.transport->shutdown();
    flush_transport_locked(link);
  }
  if (!abort && !link.queue.empty()) {       // also when already closing: a second graceful
    link.set_state(LinkState::kClosing);     // close must not drop what is still queued.
    return CloseStep::kFlushing;             // No more reads; the flush finishes the close.
  }
  link.set_state(LinkState::kClosed);
  // GetLinkCount no longer counts it, nor TS_COUNTER_LINKS_HELD (before its OnDisconnect, if
  // it has one; its slot may return to the free list only later, after the backend's events).
  table_.load(std::memory_order_acquire)->mark_closed_locked(&link);
  const bool was_held = (link.hold.fetch_and(static_cast<uint8_t>(~kHeldByHighWater),
                                             std::memory_order_acq_rel) & kHeldByHighWater) != 0;
  // A connection that closes in its handshake leaves the count of handshakes in progress
  // (unless the cap dropped it, which counted it then), and is counted by how it ended.
  // One still waiting for its PROXY header was never counted as a TLS handshake.
  const bool awaited_proxy_header =
      link.proxy && link.handshake_started_ms.exchange(0, std::memory_order_acq_rel) != 0;
  const bool handshake_ended =
      !awaited_proxy_header && link.transport &&
      link.handshake_started_ms.load(std::memory_order_acquire) != 0 &&
      tls_->end_handshake(link, counters_[TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS]);
  const int32_t close_reason = link.close_reason, close_error = link.close_error;
  // Its address stops counting toward TS_OPT_MAX_LINKS_PER_ADDRESS now, as the link leaves
  // GetLinkCount: a client may reconnect from OnDisconnect on (the slot is released later).
  const AddressKey address{link.address_key, link.address_family};
  link.address_family = 0;
  socket_t s = link.sock;
  link.sock = kNoSocket;
  // Items of a write still in the kernel stay queued: its completion releases them.
  SendItem* items = backend_->write_in_flight_locked(link) ? nullptr : link.queue.take_all();
  // The application asked to drop what is pending: reset, do not linger.
  bool reset = abort && (link.close_reason == TS_CLOSE_BY_APP ||
                         link.close_reason == TS_CLOSE_SEND_QUEUE_FULL);
  lock.unlock();

  if (was_held) count(TS_COUNTER_LINKS_HELD, -1);
  if (address.family) address_links_.remove(address);
  if (awaited_proxy_header && close_reason == kCloseHandshakeTimeout)
    log(TS_LOG_INFO, "connection from %s port %u closed: no PROXY header after %lld ms",
        link.pub.RemoteIP, link.pub.RemotePort,
        static_cast<long long>(running_opts_[TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS]));
  if (handshake_ended || close_reason == kCloseHandshakeDropped)
    handshake_closed(link, handshake_ended, close_reason, close_error);
  backend_->close_socket(link, s, reset);
  while (items) {
    SendItem* next = items->next;
    release_item(*pool_, items);
    items = next;
  }
  if (notify && link.visible) link_closed(link, w);
  backend_->retire(link, w);
  return CloseStep::kClosed;
}

// A connection closed during its handshake: it never was a link (no callback). Counted by how
// it ended, once: `counted` is false when the handshake cap dropped it (counted then).
void Server::handshake_closed(Link& link, bool counted, int32_t reason, int32_t cause) {
  if (!counted) {
    log(TS_LOG_INFO, "TLS handshake from %s port %u dropped: TS_OPT_TLS_MAX_HANDSHAKES=%lld "
        "were in progress and a new connection came", link.pub.RemoteIP, link.pub.RemotePort,
        static_cast<long long>(running_opts_[TS_OPT_TLS_MAX_HANDSHAKES]));
    return;
  }
  switch (reason) {
    case kCloseHandshakeFailed:
      count_handshake_failure(cause);
      break;
    case TS_CLOSE_SERVER_STOP:
      break;
    case kCloseHandshakeTimeout:
      count(TS_COUNTER_TLS_HANDSHAKE_TIMEOUTS);
      log(TS_LOG_INFO, "TLS handshake from %s port %u closed: not complete after "
          "TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS=%lld", link.pub.RemoteIP, link.pub.RemotePort,
          static_cast<long long>(running_opts_[TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS]));
      break;
    default:  // the client reset or vanished mid-handshake
      count_handshake_failure(TS_TLS_CAUSE_PEER_CLOSED);
      break;
  }
}

void Server::close_for_error(Link& link, WorkerCtx& w, int err) {
  if (is_reset_error(err)) close_link(link, w, TS_CLOSE_PEER_RESET, 0, true);
  else close_link(link, w, TS_CLOSE_ERROR, err, true);
}

void Server::finish_graceful_close(Link& link, WorkerCtx& w) {
  close_link(link, w, TS_CLOSE_NONE, 0, false);  // keeps the reason recorded at close time
}

void Server::release_link(Link& link) {
  delete link.proxy;
  link.proxy = nullptr;
  if (link.transport) {
    budget_.release(link.transport_charged);
    link.transport_charged = 0;
    delete link.transport;
    link.transport = nullptr;
  }
  link.decoder.reset(link.decoder.max_message());  // a message cut short frees its buffer
  if (link.hold.exchange(0, std::memory_order_relaxed) & kHeldByHighWater)
    count(TS_COUNTER_LINKS_HELD, -1);
  if (link.address_family) {
    address_links_.remove(AddressKey{link.address_key, link.address_family});
    link.address_family = 0;
  }
  table_.load(std::memory_order_acquire)->release(&link);
}

}  // namespace ts
