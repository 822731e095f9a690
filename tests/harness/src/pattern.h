// Deterministic pseudo-random numbers and payload bytes (splitmix64), so a connection's data
// can be regenerated for checking instead of being stored.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tsh {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform-enough value in 1..max (max >= 1).
  size_t between_1_and(size_t max) { return 1 + static_cast<size_t>(next() % max); }

 private:
  uint64_t state_;
};

// The payload of one connection: a byte stream that never contains '\n'. A received chunk
// that ends in '\n' may be taken for a protocol command (PROTOCOL.md), so echo data must
// never end in one.
class PayloadStream {
 public:
  PayloadStream(uint64_t seed, size_t connection)
      : rng_(seed * 0x100000001B3ull + connection * 0x9E3779B1ull + 1) {}
  uint8_t next() {
    if (left_ == 0) {
      word_ = rng_.next();
      left_ = 8;
    }
    uint8_t b = static_cast<uint8_t>(word_);
    word_ >>= 8;
    --left_;
    return b == '\n' ? static_cast<uint8_t>(0x8A) : b;
  }
  void fill(uint8_t* out, size_t n) {
    for (size_t i = 0; i < n; ++i) out[i] = next();
  }

 private:
  Rng rng_;
  uint64_t word_ = 0;
  int left_ = 0;
};

}  // namespace tsh
