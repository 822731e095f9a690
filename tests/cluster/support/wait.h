// Waiting on a condition with a deadline instead of sleeping and hoping. Any thread.
#pragma once
#include <chrono>
#include <thread>

namespace tctest {

// Polls pred every `step` until it holds or `timeout` has passed; returns its last value.
template <typename Pred>
bool wait_until(Pred&& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(step);
  }
  return true;
}

}  // namespace tctest
