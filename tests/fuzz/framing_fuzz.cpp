// libFuzzer target for ts::FrameDecoder (dll/src/core/framing.h): a random byte stream, cut
// into random pieces, fed to the decoder and checked against a plain reference parser that
// reads the whole stream at once. The decoder must deliver the same messages (same bytes, same
// order), return the same error after the same header (or stop after the same message when the
// sink says so), report a truncated tail as pending, hold no more than the current message's
// bytes received so far (so never more than the max size), and stay silent once it failed.
// Then, after reset(), the whole stream in one piece must decode the same way again.
//
// Input layout: byte 0 picks the max message size, byte 1 after how many messages the sink
// stops (0 = never), bytes 2..9 seed the cut positions; the rest is the stream.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/framing.h"

namespace {

using Status = ts::FrameDecoder::Status;

[[noreturn]] void violated(const char* what, size_t at) {
  std::fprintf(stderr, "framing_fuzz: %s (stream offset %zu)\n", what, at);
  std::abort();
}
#define CHECK(cond, at) \
  do {                  \
    if (!(cond)) violated(#cond, (at)); \
  } while (0)

// What the reference parser expects of the whole stream.
struct Expected {
  struct Msg {
    size_t offset, len, end;  // payload at [offset, offset + len); known once byte end-1 is in
  };
  std::vector<Msg> msgs;
  Status final = Status::kOk;  // kOk: the stream ended without an error or a stop
  size_t final_end = 0;        // bytes consumed when `final` became known
  uint32_t announced = 0;      // the header behind kTooLarge / kBadHeader
  bool pending = false;        // kOk and the stream ends inside a header or a payload
  size_t partial_offset = 0;   // where the unfinished message's payload starts (pending)
};

Expected reference(const uint8_t* s, size_t n, uint32_t max, size_t stop_after) {
  Expected e;
  size_t pos = 0;
  for (;;) {
    if (n - pos < 4) {
      e.pending = pos < n;
      e.partial_offset = n;  // inside a header: no payload yet
      return e;
    }
    const uint32_t len = (uint32_t{s[pos]} << 24) | (uint32_t{s[pos + 1]} << 16) |
                         (uint32_t{s[pos + 2]} << 8) | uint32_t{s[pos + 3]};
    if (len > 0x7FFFFFFFu || len > max) {
      e.final = len > 0x7FFFFFFFu ? Status::kBadHeader : Status::kTooLarge;
      e.final_end = pos + 4;
      e.announced = len;
      return e;
    }
    if (n - pos - 4 < len) {
      e.pending = true;
      e.partial_offset = pos + 4;
      return e;
    }
    e.msgs.push_back({pos + 4, len, pos + 4 + len});
    pos += 4 + len;
    if (stop_after != 0 && e.msgs.size() == stop_after) {
      e.final = Status::kStopped;
      e.final_end = pos;
      return e;
    }
  }
}

struct Sink {
  const uint8_t* stream;
  const Expected* expected;
  size_t next = 0;         // index of the next expected message
  size_t stop_after = 0;
  size_t fed_end = 0;      // stream bytes handed to the decoder so far, this feed included
  size_t fed_begin = 0;    // where this feed starts

  static bool on_message(void* ctx, const uint8_t* msg, uint32_t len) {
    auto& self = *static_cast<Sink*>(ctx);
    const auto& msgs = self.expected->msgs;
    CHECK(self.next < msgs.size(), self.fed_end);
    const Expected::Msg& m = msgs[self.next];
    CHECK(len == m.len, m.offset);
    CHECK(len == 0 || std::memcmp(msg, self.stream + m.offset, len) == 0, m.offset);
    // Delivered in the feed that completed it, not earlier, not later.
    CHECK(m.end > self.fed_begin && m.end <= self.fed_end, m.end);
    ++self.next;
    return self.stop_after == 0 || self.next < self.stop_after;
  }
};

uint64_t next_random(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 10) return 0;
  static const uint32_t kMaxes[8] = {0, 1, 7, 64, 1000, 4096, 65536, 16u << 20};
  const uint32_t max = kMaxes[data[0] % 8];
  const size_t stop_after = data[1] % 4 == 0 ? data[1] / 4 : 0;  // a quarter of inputs stop
  uint64_t cut_state = 0;
  std::memcpy(&cut_state, data + 2, 8);
  const uint8_t* stream = data + 10;
  const size_t n = size - 10;

  const Expected expected = reference(stream, n, max, stop_after);
  ts::FrameDecoder decoder(max);
  Sink sink{stream, &expected};
  sink.stop_after = stop_after;

  size_t pos = 0;
  bool failed = false;
  while (pos < n) {
    // Pieces of 0 to 16 bytes mostly (split headers), sometimes up to 4 KiB.
    const uint64_t r = next_random(cut_state);
    size_t piece = (r & 7) == 0 ? static_cast<size_t>((r >> 3) % 4097) : static_cast<size_t>((r >> 3) % 17);
    piece = std::min(piece, n - pos);
    sink.fed_begin = pos;
    sink.fed_end = pos + piece;
    const size_t delivered_before = sink.next;
    const Status s = decoder.feed(stream + pos, piece, &Sink::on_message, &sink);
    if (failed) {  // once failed: the same status, and silence
      CHECK(s == expected.final, pos);
      CHECK(sink.next == delivered_before, pos);
    } else if (expected.final != Status::kOk && expected.final_end > pos && expected.final_end <= pos + piece) {
      CHECK(s == expected.final, expected.final_end);
      failed = true;
      if (s == Status::kTooLarge || s == Status::kBadHeader) CHECK(decoder.announced() == expected.announced, pos);
    } else {
      CHECK(s == Status::kOk, pos);
    }
    pos += piece;
    // Memory: at most the unfinished message's payload bytes received so far (so never more
    // than the max size, whatever a header announces), nothing between messages.
    CHECK(decoder.buffered() <= max, pos);
    if (!failed) {
      const size_t payload_start = sink.next < expected.msgs.size() ? expected.msgs[sink.next].offset
                                   : expected.pending                ? expected.partial_offset
                                                                     : n;
      CHECK(decoder.buffered() <= (pos > payload_start ? pos - payload_start : 0), pos);
      CHECK(decoder.pending() || decoder.buffered() == 0, pos);
    }
  }
  CHECK(sink.next == expected.msgs.size(), n);
  if (!failed) {
    CHECK(expected.final == Status::kOk, n);
    CHECK(decoder.pending() == expected.pending, n);
  }
  // After reset, the same stream in one piece decodes the same way.
  decoder.reset(max);
  CHECK(!decoder.pending() && decoder.buffered() == 0, 0);
  Sink again{stream, &expected};
  again.stop_after = stop_after;
  again.fed_end = n;
  const Status whole = decoder.feed(stream, n, &Sink::on_message, &again);
  CHECK(whole == expected.final, n);
  CHECK(again.next == expected.msgs.size(), n);
  CHECK(decoder.buffered() <= max, n);
  return 0;
}
