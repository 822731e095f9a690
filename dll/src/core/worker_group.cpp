// WorkerGroup (core/worker.h): a backend's worker threads. The starting/stopping thread, and
// each worker as it exits.
#include <chrono>

#include "core/errors.h"
#include "core/worker.h"

namespace ts {

bool WorkerGroup::start(int count, const std::function<void(int)>& body) {
  for (int i = 0; i < count; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++running_;
    }
    try {
      threads_.emplace_back([body, i] { body(i); });
    } catch (const std::exception& e) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        --running_;
      }
      return fail(TS_ERR_SYSTEM, "cannot start worker thread %d: %s", i + 1, e.what());
    }
  }
  return true;
}

void WorkerGroup::exited() {
  std::lock_guard<std::mutex> lock(mu_);
  --running_;
  cv_.notify_all();
}

bool WorkerGroup::wait(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  auto done = [this] { return running_ == 0; };
  if (timeout_ms < 0) {
    cv_.wait(lock, done);
    return true;
  }
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), done);
}

void WorkerGroup::join() {
  for (std::thread& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace ts
