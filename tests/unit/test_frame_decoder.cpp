// Framing: ts::FrameDecoder (dll/src/core/framing.h) on its own, without sockets. Whole
// messages come out whatever the pieces the bytes arrive in; messages inside one feed are not
// copied; a message spanning feeds is buffered only until it is complete; bad headers stop it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "core/framing.h"
#include "support/payload.h"

using ts::FrameDecoder;
using Status = FrameDecoder::Status;

namespace {

struct Collected {
  std::vector<std::vector<uint8_t>> messages;
  std::vector<const uint8_t*> pointers;  // where each message was passed from
  size_t stop_after = SIZE_MAX;          // the sink returns false after this many messages
};

bool collect(void* ctx, const uint8_t* msg, uint32_t len) {
  auto* c = static_cast<Collected*>(ctx);
  c->messages.emplace_back(msg, msg + len);
  c->pointers.push_back(msg);
  return c->messages.size() < c->stop_after;
}

std::vector<uint8_t> frame(const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out(ts::kFrameHeaderSize + payload.size());
  ts::put_frame_header(out.data(), static_cast<uint32_t>(payload.size()));
  std::copy(payload.begin(), payload.end(), out.begin() + ts::kFrameHeaderSize);
  return out;
}

std::vector<uint8_t> pattern(uint64_t seed, size_t n) {
  std::vector<uint8_t> v(n);
  tstest::fill_pattern(seed, 0, v.data(), n);
  return v;
}

std::vector<uint8_t> header_bytes(uint32_t value) {
  std::vector<uint8_t> h(4);
  ts::put_frame_header(h.data(), value);
  return h;
}

TEST(FrameDecoder, MessagesInsideOneFeedArePassedFromTheFeedWithoutCopy) {
  std::vector<uint8_t> stream;
  const std::vector<size_t> sizes = {1, 0, 300, 7};
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto f = frame(pattern(i, sizes[i]));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameDecoder d(1000);
  Collected c;
  ASSERT_EQ(d.feed(stream.data(), stream.size(), collect, &c), Status::kOk);
  ASSERT_EQ(c.messages.size(), sizes.size());
  size_t offset = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(c.messages[i], pattern(i, sizes[i])) << "message " << i;
    offset += ts::kFrameHeaderSize;
    if (sizes[i] != 0) EXPECT_EQ(c.pointers[i], stream.data() + offset) << "message " << i << " was copied";
    offset += sizes[i];
  }
  EXPECT_FALSE(d.pending());
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoder, OneByteFeedsGiveWholeMessagesAndFreeTheBufferAfterEach) {
  std::vector<uint8_t> stream;
  const std::vector<size_t> sizes = {5, 0, 1, 4096, 0, 9000};
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto f = frame(pattern(100 + i, sizes[i]));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameDecoder d(1 << 20);
  Collected c;
  for (size_t i = 0; i < stream.size(); ++i) {
    size_t before = c.messages.size();
    ASSERT_EQ(d.feed(&stream[i], 1, collect, &c), Status::kOk) << "at byte " << i;
    if (c.messages.size() != before) {
      EXPECT_FALSE(d.pending()) << "at byte " << i;
      EXPECT_EQ(d.buffered(), 0u) << "the assembly buffer outlived its message, at byte " << i;
    } else {
      EXPECT_TRUE(d.pending()) << "at byte " << i;
    }
  }
  ASSERT_EQ(c.messages.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i)
    EXPECT_EQ(c.messages[i], pattern(100 + i, sizes[i])) << "message " << i;
}

TEST(FrameDecoder, RandomSplitsOfRandomMessagesComeOutWhole) {
  std::mt19937_64 rng(6);
  std::vector<std::vector<uint8_t>> sent;
  std::vector<uint8_t> stream;
  for (int i = 0; i < 400; ++i) {
    size_t n = rng() % 4 == 0 ? 0 : static_cast<size_t>(rng() % 5000);
    sent.push_back(pattern(1000 + i, n));
    auto f = frame(sent.back());
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameDecoder d(5000);
  Collected c;
  for (size_t at = 0; at < stream.size();) {
    size_t n = std::min<size_t>(stream.size() - at, 1 + rng() % 9000);
    ASSERT_EQ(d.feed(stream.data() + at, n, collect, &c), Status::kOk);
    at += n;
  }
  EXPECT_EQ(c.messages, sent);
  EXPECT_FALSE(d.pending());
}

TEST(FrameDecoder, LargestAllowedMessagePassesOneMoreByteIsTooLarge) {
  FrameDecoder ok(64);
  Collected c;
  auto f = frame(pattern(1, 64));
  EXPECT_EQ(ok.feed(f.data(), f.size(), collect, &c), Status::kOk);
  ASSERT_EQ(c.messages.size(), 1u);

  FrameDecoder d(64);
  auto h = header_bytes(65);
  EXPECT_EQ(d.feed(h.data(), h.size(), collect, &c), Status::kTooLarge);
  EXPECT_EQ(d.announced(), 65u);
  EXPECT_EQ(c.messages.size(), 1u);
  // Final: later bytes are not decoded.
  auto next = frame(pattern(2, 3));
  EXPECT_EQ(d.feed(next.data(), next.size(), collect, &c), Status::kTooLarge);
  EXPECT_EQ(c.messages.size(), 1u);
}

TEST(FrameDecoder, TopBitInTheHeaderIsABadHeaderEvenSplit) {
  FrameDecoder d(ts::kMaxFramePayload);
  Collected c;
  auto h = header_bytes(0x80000000u);
  ASSERT_EQ(d.feed(h.data(), 2, collect, &c), Status::kOk);
  EXPECT_TRUE(d.pending());
  EXPECT_EQ(d.feed(h.data() + 2, 2, collect, &c), Status::kBadHeader);
  EXPECT_EQ(d.announced(), 0x80000000u);
  EXPECT_TRUE(c.messages.empty());
}

TEST(FrameDecoder, MessagesBeforeABadHeaderAreDelivered) {
  auto f = frame(pattern(3, 10));
  auto bad = header_bytes(0xFFFFFFFFu);
  f.insert(f.end(), bad.begin(), bad.end());
  FrameDecoder d(100);
  Collected c;
  EXPECT_EQ(d.feed(f.data(), f.size(), collect, &c), Status::kBadHeader);
  ASSERT_EQ(c.messages.size(), 1u);
  EXPECT_EQ(c.messages[0], pattern(3, 10));
}

TEST(FrameDecoder, SinkReturningFalseStopsRightAfterThatMessage) {
  std::vector<uint8_t> stream;
  for (int i = 0; i < 3; ++i) {
    auto f = frame(pattern(i, 5));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  FrameDecoder d(100);
  Collected c;
  c.stop_after = 2;
  EXPECT_EQ(d.feed(stream.data(), stream.size(), collect, &c), Status::kStopped);
  EXPECT_EQ(c.messages.size(), 2u);
  EXPECT_EQ(d.feed(stream.data(), stream.size(), collect, &c), Status::kStopped);
  EXPECT_EQ(c.messages.size(), 2u);
}

TEST(FrameDecoder, PartialMessageIsPendingAndBuffersOnlyWhatArrived) {
  FrameDecoder d(16u << 20);
  Collected c;
  auto h = header_bytes(16u << 20);  // announces 16 MiB, sends 10 bytes
  ASSERT_EQ(d.feed(h.data(), h.size(), collect, &c), Status::kOk);
  EXPECT_TRUE(d.pending());
  EXPECT_EQ(d.buffered(), 0u);
  auto some = pattern(9, 10);
  ASSERT_EQ(d.feed(some.data(), some.size(), collect, &c), Status::kOk);
  EXPECT_TRUE(d.pending());
  EXPECT_EQ(d.buffered(), 10u);
  EXPECT_TRUE(c.messages.empty());
  d.reset(100);  // the link closed: back to a clean stream
  EXPECT_FALSE(d.pending());
  EXPECT_EQ(d.buffered(), 0u);
  auto f = frame(pattern(4, 100));
  EXPECT_EQ(d.feed(f.data(), f.size(), collect, &c), Status::kOk);
  ASSERT_EQ(c.messages.size(), 1u);
}

TEST(FrameDecoder, ResetClearsAFinalStatus) {
  FrameDecoder d(4);
  Collected c;
  auto h = header_bytes(5);
  ASSERT_EQ(d.feed(h.data(), h.size(), collect, &c), Status::kTooLarge);
  d.reset(5);
  auto f = frame(pattern(5, 5));
  EXPECT_EQ(d.feed(f.data(), f.size(), collect, &c), Status::kOk);
  EXPECT_EQ(c.messages.size(), 1u);
}

TEST(FrameDecoder, EmptyFeedChangesNothing) {
  FrameDecoder d(10);
  Collected c;
  EXPECT_EQ(d.feed(nullptr, 0, collect, &c), Status::kOk);
  EXPECT_FALSE(d.pending());
  EXPECT_TRUE(c.messages.empty());
}

}  // namespace
