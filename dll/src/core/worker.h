// One engine thread as the core sees it. Backends derive their event loops from WorkerCtx.
#pragma once
#include <atomic>
#include <cstdint>

#include "tcpserver.h"

namespace ts {

struct WorkerCtx {
  TcpWorker pub{};                     // what callbacks see as Link->Worker
  std::atomic<int64_t> exec_count{0};  // events handled (written by this worker's thread only)
  std::atomic<uint64_t> busy_us{0};    // time spent handling them, since last read
  std::atomic<uint32_t> os_id{0};
  virtual ~WorkerCtx() = default;

  // Only the worker's own thread counts, so a plain add suffices (no locked instruction on
  // the per-message path); other threads just read.
  void count_exec() {
    exec_count.store(exec_count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

}  // namespace ts
