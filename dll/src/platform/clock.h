// Monotonic milliseconds. tick32() is the 32-bit, wrapping clock of TcpLink.TickCountActive
// (the original's GetTickCount); now_ms() is the 64-bit one the engine computes with.
//
// On Linux the millisecond clock is CLOCK_MONOTONIC_COARSE: it is read for every receive (the
// link's activity time), and the coarse clock costs a few loads where the precise one reads the
// TSC (measured at ~0.5 % of a small-message echo). It advances in steps of one kernel tick
// (1-4 ms), like Windows' GetTickCount (10-16 ms), and every millisecond reading of the engine
// uses it, so TickCountActive and GetTickCount32() always compare consistently. Any thread.
#pragma once
#include <chrono>
#include <cstdint>
#if defined(__linux__)
#include <time.h>
#endif

namespace ts {

inline uint64_t now_ms() {
#if defined(__linux__) && defined(CLOCK_MONOTONIC_COARSE)
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
#else
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
#endif
}
inline uint64_t now_us() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count());
}
inline uint32_t tick32() { return static_cast<uint32_t>(now_ms()); }

}  // namespace ts
