// ts::tls::ByteQueue, the chunked FIFO behind a TlsSession's output and stash: order across
// chunks, bytes that never move while queued, and no memory held once empty.
#include <gtest/gtest.h>

#include <string>

#include "tls/tls_byte_queue.h"
#include "tls_test_support.h"

using ts::tls::ByteQueue;
using ts::tls::ByteSpan;

namespace {
std::string drain(ByteQueue& q) {
  std::string s(q.size(), '\0');
  size_t n = q.read(&s[0], s.size());
  s.resize(n);
  return s;
}
}  // namespace

TEST(TlsByteQueueTest, KeepsOrderAcrossChunksAndFreesEverythingWhenEmpty) {
  ByteQueue q;
  std::string all;
  for (int i = 0; i < 50; ++i) {
    std::string part = tstest::pattern_bytes(static_cast<size_t>(i) * 97 + 1, i);
    ASSERT_TRUE(q.append(part.data(), part.size()));
    all += part;
  }
  EXPECT_EQ(q.size(), all.size());
  EXPECT_GE(q.allocated(), all.size());
  EXPECT_EQ(drain(q), all);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.allocated(), 0u);
}

TEST(TlsByteQueueTest, FrontBytesStayPutWhileMoreIsAppended) {
  ByteQueue q;
  std::string first = tstest::pattern_bytes(1000, 1);
  ASSERT_TRUE(q.append(first.data(), first.size()));
  ByteSpan f = q.front();
  const uint8_t* where = f.data;
  for (int i = 0; i < 20; ++i) {
    std::string more = tstest::pattern_bytes(5000, 100 + i);
    ASSERT_TRUE(q.append(more.data(), more.size()));
  }
  // An in-flight send may point at these bytes: same address, same content.
  EXPECT_EQ(q.front().data, where);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(where), first.size()), first);
}

TEST(TlsByteQueueTest, ConsumeFreesDrainedChunksAndPiecesCoverTheRest) {
  ByteQueue q;
  std::string a = tstest::pattern_bytes(3000, 7), b = tstest::pattern_bytes(9000, 8);
  ASSERT_TRUE(q.append(a.data(), a.size()));
  ASSERT_TRUE(q.append(b.data(), b.size()));
  size_t before = q.allocated();
  q.consume(2500);
  ByteSpan pieces[8];
  size_t n = q.pieces(pieces, 8);
  std::string rest;
  for (size_t i = 0; i < n; ++i) rest.append(reinterpret_cast<const char*>(pieces[i].data), pieces[i].size);
  EXPECT_EQ(rest, (a + b).substr(2500));
  q.consume(q.front().size);  // the first chunk is now drained and freed
  EXPECT_LT(q.allocated(), before);
  q.consume(q.size());
  EXPECT_EQ(q.allocated(), 0u);
  EXPECT_EQ(q.front().data, nullptr);
}
