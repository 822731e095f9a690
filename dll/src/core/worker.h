// One engine thread as the core sees it (WorkerCtx; backends derive their event loops from it),
// and a backend's group of worker threads (WorkerGroup). Which threads: see each member.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tcpserver.h"

namespace ts {

struct WorkerCtx {
  TcpWorker pub{};                     // what callbacks see as Link->Worker
  std::atomic<int64_t> exec_count{0};  // events handled (written by this worker's thread only)
  std::atomic<uint64_t> busy_us{0};    // time spent handling them, since last read
  std::atomic<uint32_t> os_id{0};
  std::vector<uint8_t> plain;  // a transport's application bytes, before OnReceive (own thread)
  virtual ~WorkerCtx() = default;

  // Only the worker's own thread counts, so a plain add suffices (no locked instruction on
  // the per-message path); other threads just read.
  void count_exec() {
    exec_count.store(exec_count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

// A backend's worker threads: started together, counted while they run, waited for with a
// deadline, then joined. start/wait/join from the thread that starts or stops the server;
// exited() by each worker as its last act.
class WorkerGroup {
 public:
  // Runs body(i) on a new thread for i in 0..count-1. False (error set) if a thread could not
  // start: the ones already running are left to the caller's stop.
  bool start(int count, const std::function<void(int)>& body);
  void exited();
  // Waits up to timeout_ms (-1 = forever) for every started thread to call exited().
  bool wait(int timeout_ms);
  void join();  // after wait() returned true

 private:
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;
};

}  // namespace ts
