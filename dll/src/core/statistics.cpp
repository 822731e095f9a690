// Server: statistics (the original unit's GetLinkUse ... GetServerExecCount, per server) and
// the counters. Any thread; a figure read while links come and go is a snapshot, not a total
// taken under one lock.
#include "core/errors.h"
#include "core/server.h"

namespace ts {

int32_t Server::link_count() const {
  LinkTable* t = table_.load(std::memory_order_acquire);
  if (!t) return 0;
  // Connections in their TLS handshake, or before their PROXY header, are not links yet: not counted open.
  return static_cast<int32_t>(t->open_count());
}

int32_t Server::link_free() const {
  LinkTable* t = table_.load(std::memory_order_acquire);
  if (t) return static_cast<int32_t>(t->size() - t->in_use());
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return static_cast<int32_t>(opts_[TS_OPT_MAX_LINKS]);
}

double Server::link_use() const {
  int32_t used = link_count();
  int32_t size = used + link_free();
  return size > 0 ? 100.0 * used / size : 0.0;
}

int64_t Server::link_table_bytes() const {
  LinkTable* t = table_.load(std::memory_order_acquire);
  if (t) return static_cast<int64_t>(t->bytes());
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return opts_[TS_OPT_MAX_LINKS] * static_cast<int64_t>(sizeof(Link));
}

int32_t Server::io_mem_free() {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  if (pool) return static_cast<int32_t>(pool->free_count());
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return static_cast<int32_t>(opts_[TS_OPT_IO_BUFFER_COUNT]);
}

int64_t Server::io_mem_bytes() {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  if (pool) return static_cast<int64_t>(pool->bytes());
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return opts_[TS_OPT_IO_BUFFER_COUNT] * (opts_[TS_OPT_IO_BUFFER_SIZE] + IoBuf::kHeaderSize);
}

double Server::io_mem_use() {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  if (!pool) return 0.0;
  return 100.0 * (pool->count() - pool->free_count()) / pool->count();
}

int32_t Server::worker_count() const {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return state_.load() != State::kStopped && backend_ ? backend_->worker_count() : 0;
}

int32_t Server::worker_id(int32_t index) const {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  int count = state_.load() != State::kStopped && backend_ ? backend_->worker_count() : 0;
  if (index < 1 || index > count)
    return fail(TS_ERR_INVALID_ARGUMENT, "worker index %d is outside 1..%d", index, count), 0;
  return static_cast<int32_t>(backend_->worker(index - 1)->os_id.load());
}

int32_t Server::worker_exec_info(int32_t index, uint32_t* busy_ms) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  int count = state_.load() != State::kStopped && backend_ ? backend_->worker_count() : 0;
  if (index < 1 || index > count)
    return fail(TS_ERR_INVALID_ARGUMENT, "worker index %d is outside 1..%d", index, count), -1;
  WorkerCtx* w = backend_->worker(index - 1);
  uint64_t busy_us = w->busy_us.exchange(0, std::memory_order_relaxed);
  if (busy_ms) *busy_ms = static_cast<uint32_t>(busy_us / 1000);
  return static_cast<int32_t>(w->exec_count.load(std::memory_order_relaxed));
}

int64_t Server::counter(int32_t which) const {
  if (which < 1 || which >= kCounterCount)
    return fail(TS_ERR_INVALID_ARGUMENT, "unknown counter %d", which), -1;
  if (which == TS_COUNTER_MEMORY_IN_USE) return static_cast<int64_t>(budget_.used());
  if (which == TS_COUNTER_MEMORY_PEAK) return static_cast<int64_t>(budget_.peak());
  return counters_[which].load(std::memory_order_relaxed);
}

int64_t Server::close_count(int32_t reason) const {
  if (reason < 0 || reason > TS_CLOSE_TLS_NO_CLOSE_NOTIFY || reason == 13)
    return fail(TS_ERR_INVALID_ARGUMENT, "unknown close reason %d (TS_CLOSE_*: 0..%d)", reason,
                TS_CLOSE_TLS_NO_CLOSE_NOTIFY), -1;
  return close_counts_[reason].load(std::memory_order_relaxed);
}

}  // namespace ts
