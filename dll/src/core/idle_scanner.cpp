// Server: the service thread (the original's "server thread"): every 100 ms it scans the
// links for idle timeouts and asks their owners to close the ones silent too long (each owner
// checks again before closing, core/link_life.cpp). The service thread only.
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
    if (running_opts_[TS_OPT_IDLE_TIMEOUT_MS] > 0) scan_idle(now_ms());
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

void Server::scan_idle(uint64_t now) {
  auto timeout = static_cast<uint64_t>(running_opts_[TS_OPT_IDLE_TIMEOUT_MS]);
  LinkTable* table = table_.load(std::memory_order_acquire);
  for (uint32_t slot = 0; slot < table->high_water(); ++slot) {
    Link& link = table->at(slot);
    if (!link.live()) continue;
    if (now - link.last_active_ms.load(std::memory_order_relaxed) < timeout) continue;
    if (link.idle_requested.exchange(true, std::memory_order_acq_rel)) continue;
    request_close(link, link.id.load(std::memory_order_acquire), TS_CLOSE_IDLE, true);
  }
}

}  // namespace ts
