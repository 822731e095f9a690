// Monotonic milliseconds. tick32() is the 32-bit, wrapping clock of TcpLink.TickCountActive
// (the original's GetTickCount); now_ms() is the 64-bit one the engine computes with.
#pragma once
#include <chrono>
#include <cstdint>

namespace ts {

inline uint64_t now_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}
inline uint64_t now_us() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count());
}
inline uint32_t tick32() { return static_cast<uint32_t>(now_ms()); }

}  // namespace ts
