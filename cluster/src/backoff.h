// The wait before reconnecting to Redis: doubling from a minimum to a maximum, with jitter (a
// random point in the upper half), so nodes that lost Redis together do not all return at the
// same instant. Pure; each instance belongs to one thread (the publishing or the subscribing).
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace tc {

class Backoff {
 public:
  Backoff(int64_t min_ms, int64_t max_ms, uint64_t seed)
      : min_(std::max<int64_t>(1, min_ms)), max_(std::max(min_, max_ms)), rng_(seed) {}

  // The next wait: min, 2 min, 4 min ... up to max, each taken at random in [base/2, base].
  std::chrono::milliseconds next() {
    int64_t base = min_;
    for (int i = 0; i < attempts_ && base < max_; ++i) base *= 2;
    base = std::min(base, max_);
    ++attempts_;
    std::uniform_int_distribution<int64_t> pick(std::max<int64_t>(1, base / 2), base);
    return std::chrono::milliseconds(pick(rng_));
  }
  // A connection succeeded: the next loss starts from the minimum again.
  void reset() { attempts_ = 0; }

 private:
  int64_t min_, max_;
  int attempts_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace tc
