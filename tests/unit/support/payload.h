// Deterministic test data: byte `offset` of stream `seed` is a hash of both, so a lost,
// duplicated or reordered byte (or bytes from another stream) shows up as a mismatch.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tstest {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline uint8_t pattern_byte(uint64_t seed, uint64_t offset) {
  uint64_t word = splitmix64(seed * 0x100000001B3ull ^ (offset >> 3));
  return static_cast<uint8_t>(word >> ((offset & 7) * 8));
}

// Writes bytes [offset, offset + n) of stream `seed` to dst.
// One hash per 8 bytes: large streams (hundreds of MiB per test) stay cheap.
inline void fill_pattern(uint64_t seed, uint64_t offset, uint8_t* dst, size_t n) {
  uint64_t word_index = ~0ull, word = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t at = offset + i;
    if ((at >> 3) != word_index) {
      word_index = at >> 3;
      word = splitmix64(seed * 0x100000001B3ull ^ word_index);
    }
    dst[i] = static_cast<uint8_t>(word >> ((at & 7) * 8));
  }
}

// Index of the first byte of p[0..n) that differs from the stream at `offset`; n if none.
inline size_t pattern_mismatch(uint64_t seed, uint64_t offset, const uint8_t* p, size_t n) {
  uint64_t word_index = ~0ull, word = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t at = offset + i;
    if ((at >> 3) != word_index) {
      word_index = at >> 3;
      word = splitmix64(seed * 0x100000001B3ull ^ word_index);
    }
    if (p[i] != static_cast<uint8_t>(word >> ((at & 7) * 8))) return i;
  }
  return n;
}

}  // namespace tstest
