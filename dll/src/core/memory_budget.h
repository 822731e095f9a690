// One server's memory for its links, against TS_OPT_MEMORY_BUDGET: what queued sends (copies
// and pool buffers), partial framed messages and transports hold, counted as it comes and goes.
// Owned by the Server; the link's send queue and frame decoder charge it. Any thread (atomics).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ts {

class MemoryBudget {
 public:
  // 0 = no budget (still counted). Set while the server is stopped.
  void set_limit(uint64_t limit) { limit_ = limit; }
  uint64_t limit() const { return limit_; }
  // Whether `more` bytes would stay within the budget.
  bool fits(size_t more) const {
    return limit_ == 0 || used_.load(std::memory_order_relaxed) + more <= limit_;
  }
  // Charges `n` bytes if they fit, atomically (two threads cannot both take the last room);
  // false, and nothing charged, if they do not.
  bool try_charge(size_t n) {
    uint64_t used = used_.load(std::memory_order_relaxed);
    do {
      if (limit_ != 0 && used + n > limit_) return false;
    } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
    note_peak(used + n);
    return true;
  }
  void charge(size_t n) { note_peak(used_.fetch_add(n, std::memory_order_relaxed) + n); }
  void release(size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t peak() const { return peak_.load(std::memory_order_relaxed); }

 private:
  void note_peak(uint64_t now) {
    uint64_t peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }

  uint64_t limit_ = 0;
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> peak_{0};
};

}  // namespace ts
