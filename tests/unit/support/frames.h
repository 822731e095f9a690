// The client side of length-prefixed framing (TS_FRAMING_LENGTH_PREFIXED), written
// independently of the engine's decoder so the tests check the engine against the format, not
// against itself.
#pragma once
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "support/blocking_client.h"

namespace tstest {

inline void append_header(std::vector<uint8_t>& out, uint32_t len) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(len >> shift));
}

inline std::vector<uint8_t> framed(const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out;
  out.reserve(payload.size() + 4);
  append_header(out, static_cast<uint32_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// Reads one framed message (header, then payload) into *payload.
inline ::testing::AssertionResult read_frame(BlockingClient& client, std::vector<uint8_t>* payload,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::vector<uint8_t> header;
  auto r = client.recv_exact(4, &header, timeout);
  if (!r) return r << " (reading a message header)";
  uint32_t len = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                 (uint32_t{header[2]} << 8) | uint32_t{header[3]};
  if (len & 0x80000000u) return ::testing::AssertionFailure() << "header with the top bit set: " << len;
  payload->clear();
  if (len == 0) return ::testing::AssertionSuccess();
  r = client.recv_exact(len, payload, timeout);
  if (!r) return r << " (reading a payload of " << len << " bytes)";
  return ::testing::AssertionSuccess();
}

// Splits a byte stream into framed messages as it arrives, in any pieces.
class FrameParser {
 public:
  // Returns false on a header with the top bit set.
  template <typename OnMessage>
  bool feed(const uint8_t* p, size_t n, OnMessage&& on_message) {
    while (n > 0) {
      if (header_have_ < 4) {
        header_ = (header_ << 8) | *p++;
        --n;
        if (++header_have_ < 4) continue;
        if (header_ & 0x80000000u) return false;
        body_.clear();
        if (header_ == 0) {
          on_message(body_);
          header_have_ = 0;
          header_ = 0;
        }
        continue;
      }
      size_t take = std::min<size_t>(n, header_ - body_.size());
      body_.insert(body_.end(), p, p + take);
      p += take;
      n -= take;
      if (body_.size() == header_) {
        on_message(body_);
        header_have_ = 0;
        header_ = 0;
      }
    }
    return true;
  }
  bool mid_message() const { return header_have_ != 0; }

 private:
  uint32_t header_ = 0;
  int header_have_ = 0;
  std::vector<uint8_t> body_;
};

}  // namespace tstest
