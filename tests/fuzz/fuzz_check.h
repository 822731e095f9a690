// What the TLS fuzz targets share: CHECK (a contract breach aborts with the condition's text,
// which libFuzzer reports with the input) and the xorshift generator that cuts their streams.
// Header only; `kFuzzTarget` names the target in the message (each defines it).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace fuzzcheck {

[[noreturn]] inline void violated(const char* target, const char* what) {
  std::fprintf(stderr, "%s: %s\n", target, what);
  std::abort();
}

// Deterministic pseudo-random numbers from the input's seed bytes (seed must not be 0).
struct Rng {
  uint32_t x;
  uint32_t next() {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  }
};

}  // namespace fuzzcheck

#define CHECK(cond)                                               \
  do {                                                            \
    if (!(cond)) ::fuzzcheck::violated(kFuzzTarget, #cond);       \
  } while (0)
