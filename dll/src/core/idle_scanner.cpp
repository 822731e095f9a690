// Server: the service thread (the original's "server thread"): every 100 ms it scans the
// links for idle timeouts (TS_OPT_IDLE_TIMEOUT_MS), framed messages that stopped growing
// (TS_OPT_MESSAGE_TIMEOUT_MS) and TLS handshakes past TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS, and asks the owners to close those links (each owner checks
// again before closing, core/link_life.cpp). The service thread only.
#include <chrono>

#include "core/server.h"
#include "platform/clock.h"

namespace ts {

void Server::service_loop() {
  thread_begin(service_ctx_, false);
  constexpr auto kPeriod = std::chrono::milliseconds(100);
  std::unique_lock<std::mutex> lock(service_mu_);
  while (!service_cv_.wait_for(lock, kPeriod, [this] { return service_stop_; })) {
    lock.unlock();
    uint64_t t0 = now_us();
    if (running_opts_[TS_OPT_IDLE_TIMEOUT_MS] > 0 || tls_active_ || proxy_protocol_ ||
        (framing() && running_opts_[TS_OPT_MESSAGE_TIMEOUT_MS] > 0))
      scan_links(now_ms());
    service_exec_ms_.store(static_cast<uint32_t>((now_us() - t0) / 1000), std::memory_order_relaxed);
    service_exec_count_.fetch_add(1, std::memory_order_relaxed);
    lock.lock();
  }
  lock.unlock();
  thread_end(service_ctx_, false);
  lock.lock();
  service_done_ = true;
  service_cv_.notify_all();
}

void Server::scan_links(uint64_t now) {
  const auto idle = static_cast<uint64_t>(running_opts_[TS_OPT_IDLE_TIMEOUT_MS]);
  const auto message = framing() ? static_cast<uint64_t>(running_opts_[TS_OPT_MESSAGE_TIMEOUT_MS]) : 0;
  const auto handshake = tls_active_ || proxy_protocol_
                             ? static_cast<uint64_t>(running_opts_[TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS])
                             : 0;
  LinkTable* table = table_.load(std::memory_order_acquire);
  for (uint32_t slot = 0; slot < table->high_water(); ++slot) {
    Link& link = table->at(slot);
    if (!link.live()) continue;
    // Times stored after this scan read the clock are later than `now`: not silent, not due
    // (unsigned, `now - later` would be huge and close a handshake as it begins).
    const uint64_t last = link.last_active_ms.load(std::memory_order_relaxed);
    const uint64_t silent = now > last ? now - last : 0;
    int32_t reason = TS_CLOSE_NONE;
    const uint64_t started = link.handshake_started_ms.load(std::memory_order_relaxed);
    if (started != 0) {  // in its handshake: only the handshake's deadline applies
      if (handshake == 0 || now < started || now - started < handshake) continue;
      reason = kCloseHandshakeTimeout;
    } else if (idle != 0 && silent >= idle) {
      reason = TS_CLOSE_IDLE;
    } else if (message != 0 && silent >= message &&
               link.message_pending.load(std::memory_order_relaxed) &&
               // Not read on purpose (held, or the pool is low): its message cannot grow.
               link.hold.load(std::memory_order_relaxed) == 0 &&
               !link.paused_by_pool.load(std::memory_order_relaxed)) {
      reason = TS_CLOSE_MESSAGE_TIMEOUT;
    }
    if (reason == TS_CLOSE_NONE) continue;
    if (link.scan_requested.exchange(true, std::memory_order_acq_rel)) continue;
    request_close(link, link.id.load(std::memory_order_acquire), reason, true);
  }
}

}  // namespace ts
