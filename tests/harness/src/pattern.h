// Deterministic pseudo-random numbers and payload bytes (splitmix64), so a connection's data
// can be regenerated for checking instead of being stored.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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

// The stream of one connection in framing mode (PROTOCOL.md, --framing 1): `messages` messages,
// each a 4-byte big-endian payload length followed by that many PayloadStream bytes (so no
// payload ends in '\n' and none is taken for a command). Sizes are log-uniform in
// 1..max_message, so small and multi-MiB messages mix; connection #0's first message is
// exactly max_message bytes, so the largest allowed size is always exercised.
class FrameStream {
 public:
  FrameStream(uint64_t seed, size_t connection, size_t messages, uint32_t max_message)
      : payload_(seed, connection) {
    Rng sizes(seed * 0xC2B2AE3D27D4EB4Full + connection * 0x165667B19E3779F9ull + 7);
    int bits = 0;
    while (bits < 31 && (uint64_t{1} << bits) < max_message) ++bits;
    for (size_t i = 0; i < messages; ++i) {
      size_t cap = std::min<uint64_t>(max_message, uint64_t{1} << (sizes.next() % (bits + 1)));
      uint32_t size = connection == 0 && i == 0 ? max_message
                                                : static_cast<uint32_t>(sizes.between_1_and(cap));
      sizes_.push_back(size);
      total_ += 4 + uint64_t{size};
      largest_ = std::max(largest_, size);
    }
  }
  uint8_t next() {
    while (pos_ == 4 + uint64_t{sizes_[index_]}) {
      ++index_;
      pos_ = 0;
    }
    uint32_t size = sizes_[index_];
    uint64_t at = pos_++;
    return at < 4 ? static_cast<uint8_t>(size >> (8 * (3 - at))) : payload_.next();
  }
  void fill(uint8_t* out, size_t n) {
    for (size_t i = 0; i < n; ++i) out[i] = next();
  }
  uint64_t total() const { return total_; }  // header bytes included
  uint32_t largest() const { return largest_; }
  size_t messages() const { return sizes_.size(); }

 private:
  PayloadStream payload_;
  std::vector<uint32_t> sizes_;
  uint64_t total_ = 0;
  uint32_t largest_ = 0;
  size_t index_ = 0;
  uint64_t pos_ = 0;  // position within the current frame, header included
};

// The bytes of FLOOD <n> (PROTOCOL.md): byte i is i % 251.
inline uint8_t flood_byte(uint64_t i) { return static_cast<uint8_t>(i % 251); }

// A big-endian 4-byte frame header.
inline void put_header(uint8_t* out, uint32_t len) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(len >> (8 * (3 - i)));
}

// One message: the header, then the payload (at most 2^31-1 bytes).
inline std::string with_header(const std::string& payload) {
  uint8_t header[4];
  put_header(header, static_cast<uint32_t>(payload.size()));
  return std::string(reinterpret_cast<char*>(header), 4) + payload;
}

}  // namespace tsh
