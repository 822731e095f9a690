// One engine thread as the core sees it. Backends derive their event loops from WorkerCtx.
#pragma once
#include <atomic>
#include <cstdint>

#include "tcpserver.h"

namespace ts {

struct WorkerCtx {
  TcpWorker pub{};                     // what callbacks see as Link->Worker
  std::atomic<int64_t> exec_count{0};  // events handled
  std::atomic<uint64_t> busy_us{0};    // time spent handling them, since last read
  std::atomic<uint32_t> os_id{0};
  virtual ~WorkerCtx() = default;
};

}  // namespace ts
