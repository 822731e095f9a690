// Waiting on conditions with a deadline instead of sleeping and hoping.
#pragma once
#include <chrono>
#include <thread>

namespace tstest {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Polls `pred` every `step` until it is true or `timeout` has passed; returns its last value.
template <typename Pred>
bool wait_until(Pred&& pred, milliseconds timeout, milliseconds step = milliseconds(2)) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(step);
  }
}

// Milliseconds elapsed since `since` on the steady clock.
inline long long ms_since(Clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

}  // namespace tstest
