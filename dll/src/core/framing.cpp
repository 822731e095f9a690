// The length-prefixed frame decoder (framing.h): header parsing, whole messages passed in place,
// partial ones gathered in a per-link buffer. One thread per decoder at a time (its link's owner).
#include "core/framing.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "platform/pages.h"

namespace ts {
namespace {
// From this size on, the assembly buffer is whole pages from the OS (platform/pages.h): freed,
// they go back to it at once, and growing them moves pages instead of copying bytes, so a peer
// that makes the server assemble large messages leaves nothing behind in the allocator.
constexpr uint32_t kPagesFrom = 256 * 1024;
// First size of an assembly buffer; it doubles from there up to the announced length, so a
// peer that announces a large message and sends little costs little.
constexpr uint32_t kMinAssembly = 4096;

uint32_t read_header(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}
}  // namespace

FrameDecoder::~FrameDecoder() { free_buffer(); }

void FrameDecoder::reset(uint32_t max_message) {
  free_buffer();
  max_ = std::min(max_message, kMaxFramePayload);
  need_ = 0;
  header_have_ = 0;
  in_payload_ = false;
  over_budget_ = false;
  status_ = Status::kOk;
}

void FrameDecoder::free_buffer() {
  if (budget_) budget_->release(cap_);
  if (cap_ >= kPagesFrom) pages_free(buf_, cap_);
  else std::free(buf_);
  buf_ = nullptr;
  cap_ = 0;
  have_ = 0;
}

bool FrameDecoder::append(const uint8_t* p, uint32_t n) {
  if (n == 0) return true;
  if (have_ + n > cap_) {  // have_ + n <= need_ <= max_ < 2^31: no overflow
    uint32_t cap = std::max<uint32_t>({cap_ <= need_ / 2 ? cap_ * 2 : need_, have_ + n, kMinAssembly});
    cap = std::min(cap, need_);
    if (budget_ && !budget_->try_charge(cap - cap_)) {
      over_budget_ = true;
      return false;
    }
    void* grown;
    if (cap < kPagesFrom) {
      grown = std::realloc(buf_, cap);
    } else if (cap_ >= kPagesFrom) {
      grown = pages_resize(buf_, cap_, cap);
    } else {  // from the allocator to pages
      grown = pages_alloc(cap);
      if (grown) {
        if (have_) std::memcpy(grown, buf_, have_);
        std::free(buf_);
      }
    }
    if (!grown) {
      if (budget_) budget_->release(cap - cap_);
      return false;
    }
    buf_ = static_cast<uint8_t*>(grown);
    cap_ = cap;
  }
  std::memcpy(buf_ + have_, p, n);
  have_ += n;
  return true;
}

FrameDecoder::Status FrameDecoder::feed(const uint8_t* data, size_t len, Sink sink, void* ctx) {
  if (status_ != Status::kOk) return status_;
  const uint8_t* p = data;
  const uint8_t* const end = data + len;
  for (;;) {
    if (in_payload_) {  // a message that spans feeds: gather it
      auto take = static_cast<uint32_t>(std::min<size_t>(need_ - have_, static_cast<size_t>(end - p)));
      if (!append(p, take)) return status_ = over_budget_ ? Status::kOverBudget : Status::kNoMemory;
      p += take;
      if (have_ < need_) return Status::kOk;  // all consumed; the rest comes later
      in_payload_ = false;
      bool go = sink(ctx, buf_, need_);
      free_buffer();
      if (!go) return status_ = Status::kStopped;
      continue;
    }
    if (p == end) return Status::kOk;

    uint32_t announced;
    if (header_have_ == 0 && end - p >= static_cast<ptrdiff_t>(kFrameHeaderSize)) {
      announced = read_header(p);
      p += kFrameHeaderSize;
    } else {  // the header itself is split across feeds
      while (header_have_ < kFrameHeaderSize && p < end) header_[header_have_++] = *p++;
      if (header_have_ < kFrameHeaderSize) return Status::kOk;
      announced = read_header(header_);
      header_have_ = 0;
    }
    need_ = announced;
    if (announced > kMaxFramePayload) return status_ = Status::kBadHeader;
    if (announced > max_) return status_ = Status::kTooLarge;
    if (static_cast<size_t>(end - p) >= announced) {  // whole in this feed: no copy
      const uint8_t* msg = p;
      p += announced;
      if (!sink(ctx, msg, announced)) return status_ = Status::kStopped;
      continue;
    }
    in_payload_ = true;
    have_ = 0;
  }
}

}  // namespace ts
