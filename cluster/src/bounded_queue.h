// A multi-producer, single-consumer queue bounded by item count and by bytes, with the figures
// the node reports (length, bytes, peak). Producers are any threads (engine workers among
// them): push never waits, it refuses when full. The consumer is the publishing thread, which
// takes items in batches and may wait with a deadline. Pure (no I/O).
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

namespace tc {

template <typename T>
class BoundedQueue {
 public:
  using Clock = std::chrono::steady_clock;

  BoundedQueue(size_t max_items, size_t max_bytes) : max_items_(max_items), max_bytes_(max_bytes) {}

  // Only while nothing is queued (the node sets them at start).
  void set_limits(size_t max_items, size_t max_bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    max_items_ = max_items;
    max_bytes_ = max_bytes;
  }

  // Queues item (counted as `bytes`) and wakes the consumer; false (item untouched) when the
  // queue is at either bound.
  bool try_push(T&& item, size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (items_.size() >= max_items_ || bytes_ + bytes > max_bytes_) return false;
      items_.emplace_back(std::move(item), bytes);
      bytes_ += bytes;
      peak_ = std::max<uint64_t>(peak_, items_.size());
      publish_figures_locked();
    }
    cv_.notify_one();
    return true;
  }

  // Moves up to `max` items (in order) to the end of *out. Waits until there is one, wake() is
  // called, or `deadline` passes. Returns how many were moved.
  size_t take(std::vector<T>* out, size_t max, Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return !items_.empty() || woken_; });
    woken_ = false;
    size_t n = std::min(max, items_.size());
    for (size_t i = 0; i < n; ++i) {
      bytes_ -= items_.front().second;
      out->push_back(std::move(items_.front().first));
      items_.pop_front();
    }
    publish_figures_locked();
    return n;
  }

  // Makes the consumer's current or next take() return at once.
  void wake() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      woken_ = true;
    }
    cv_.notify_one();
  }

  // Lock-free reads for counters (may lag a push or take by an instant).
  size_t length() const { return length_.load(std::memory_order_relaxed); }
  size_t bytes() const { return bytes_now_.load(std::memory_order_relaxed); }
  uint64_t peak() const { return peak_now_.load(std::memory_order_relaxed); }

 private:
  void publish_figures_locked() {
    length_.store(items_.size(), std::memory_order_relaxed);
    bytes_now_.store(bytes_, std::memory_order_relaxed);
    peak_now_.store(peak_, std::memory_order_relaxed);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<T, size_t>> items_;
  size_t max_items_, max_bytes_;
  size_t bytes_ = 0;
  uint64_t peak_ = 0;
  bool woken_ = false;
  std::atomic<size_t> length_{0}, bytes_now_{0};
  std::atomic<uint64_t> peak_now_{0};
};

}  // namespace tc
