// Length-prefixed framing (TS_OPT_FRAMING = TS_FRAMING_LENGTH_PREFIXED): every message is a
// 4-byte big-endian payload length followed by that many payload bytes.
//
// ts::FrameDecoder turns the bytes of one connection, fed in whatever pieces the reads return,
// back into whole messages. It is a pure class: no socket, no Server, no thread, no global
// state; one decoder per connection, used by one thread at a time.
//
// Interface (also what a fuzzer drives):
//
//   FrameDecoder d(max_message);          // payloads above max_message are an error
//   Status s = d.feed(data, len, sink, ctx);
//     Calls sink(ctx, msg, msg_len) once for every message completed by these bytes, in
//     order, including zero-length ones (msg may then be any pointer; the engine treats them
//     as heartbeats). `msg` is valid only during the call. A message lying whole inside
//     `data` is passed straight from `data` (no copy); only a message that spans feeds is
//     assembled in the decoder's own buffer, which grows as the bytes arrive (never to more
//     than the announced length, so a header alone cannot make it allocate max_message) and
//     is freed as soon as that message has been passed on.
//     Returns:
//       kOk          every byte was consumed; a partial message may be pending.
//       kStopped     the sink returned false: decoding stopped right after that message; the
//                    rest of `data` was not looked at.
//       kTooLarge    a header announced more than max_message (announced() tells how much).
//       kBadHeader   a header had its top bit set (not a valid length; announced() has it).
//       kNoMemory    the assembly buffer could not grow.
//       kOverBudget  growing it would pass the memory budget given to set_budget().
//     Every status but kOk is final: the stream position is lost, and later feeds return the
//     same status without calling the sink (the caller closes the connection).
//   d.pending()       true while a message (or a header) has been started but not completed:
//                     an end of stream then means a truncated message.
//   d.buffered()      bytes held in the assembly buffer (0 when nothing spans feeds).
//   d.reset(max)      back to the start of a stream, buffer freed (a recycled connection).
//   d.set_budget(b)   the assembly buffer's bytes are charged to `b` (core/memory_budget.h) as
//                     it grows and released as it is freed; nullptr (the default): not counted.
//
// The engine keeps one in each link and calls reset() when the link is opened and released, so
// an idle link holds no buffer.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/memory_budget.h"

namespace ts {

constexpr uint32_t kFrameHeaderSize = 4;
constexpr uint32_t kMaxFramePayload = 0x7FFFFFFFu;  // a header with the top bit set is invalid

// Writes the big-endian header for a payload of `len` bytes.
inline void put_frame_header(uint8_t* out, uint32_t len) {
  out[0] = static_cast<uint8_t>(len >> 24);
  out[1] = static_cast<uint8_t>(len >> 16);
  out[2] = static_cast<uint8_t>(len >> 8);
  out[3] = static_cast<uint8_t>(len);
}

class FrameDecoder {
 public:
  enum class Status : uint8_t { kOk, kStopped, kTooLarge, kBadHeader, kNoMemory, kOverBudget };
  // Called for every whole message; false stops decoding (kStopped).
  using Sink = bool (*)(void* ctx, const uint8_t* msg, uint32_t len);

  explicit FrameDecoder(uint32_t max_message = 16u * 1024 * 1024) { reset(max_message); }
  ~FrameDecoder();
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  Status feed(const uint8_t* data, size_t len, Sink sink, void* ctx);
  bool pending() const { return header_have_ != 0 || in_payload_; }
  size_t buffered() const { return have_; }
  uint32_t announced() const { return need_; }
  uint32_t max_message() const { return max_; }
  void reset(uint32_t max_message);
  void set_budget(MemoryBudget* budget) { budget_ = budget; }  // with no buffer held

 private:
  bool append(const uint8_t* p, uint32_t n);  // into buf_, growing it; false if out of memory
  void free_buffer();

  uint8_t* buf_ = nullptr;  // assembly buffer of a message that spans feeds
  uint32_t cap_ = 0;
  uint32_t have_ = 0;       // payload bytes in buf_
  uint32_t need_ = 0;       // payload length of the current message (or the bad announcement)
  uint32_t max_ = 0;
  uint8_t header_[kFrameHeaderSize] = {};
  uint8_t header_have_ = 0;  // header bytes gathered (a header split across feeds)
  bool in_payload_ = false;  // header complete, payload incomplete (in buf_)
  bool over_budget_ = false; // append failed for the budget, not for malloc
  MemoryBudget* budget_ = nullptr;
  Status status_ = Status::kOk;
};

}  // namespace ts
