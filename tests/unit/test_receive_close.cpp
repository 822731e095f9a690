// Guarantee 2: OnReceive returning 0 closes the link with TS_CLOSE_BY_APP, and what was
// queued for it before is still delivered (pending sends flush first).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "support/blocking_client.h"
#include "support/payload.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kSeed = 99;
constexpr size_t kReplyBytes = 8 * 1024 * 1024;  // more than loopback buffers take: it queues
constexpr int kPoolSends = 8;                // then a few PostSend'ed pool buffers

std::atomic<int> g_receives{0};
std::atomic<int> g_disconnects{0};
std::atomic<int> g_reason{-1};
std::atomic<int> g_send_failures{0};
std::atomic<bool> g_also_close_link{false};  // ask to close twice: CloseLink, then return 0

// Answers the one-byte request with kReplyBytes through SendBuffer plus kPoolSends pool
// buffers through PostSend, then returns 0: "close after sending".
int32_t TS_CALL reply_and_close(TcpLink* link, uint8_t*, int32_t) {
  g_receives++;
  std::vector<uint8_t> reply(kReplyBytes);
  fill_pattern(kSeed, 0, reply.data(), reply.size());
  if (!SendBuffer(link, reply.data(), static_cast<int32_t>(reply.size()))) g_send_failures++;
  uint64_t offset = kReplyBytes;
  for (int i = 0; i < kPoolSends; ++i) {
    void* mem = GetIOMem();
    if (!mem) {
      g_send_failures++;
      continue;
    }
    fill_pattern(kSeed, offset, static_cast<uint8_t*>(mem), 1000);
    if (PostSend(link, mem, 1000)) {
      offset += 1000;
    } else {
      g_send_failures++;
      FreeIOMem(mem);
    }
  }
  if (g_also_close_link) CloseLink(link);
  return 0;
}

void TS_CALL on_disconnect(TcpLink* link) {
  g_reason = link->CloseReason;
  g_disconnects++;
}

class ReceiveCloseTest : public ServerTest, public ::testing::WithParamInterface<bool> {};

// Regression (second variant): a second graceful close of a link that was already flushing
// closed it at once and dropped what was still queued.
TEST_P(ReceiveCloseTest, ReceiveReturningZeroClosesByAppAfterFlushingSends) {
  g_also_close_link = GetParam();
  g_receives = 0;
  g_disconnects = 0;
  g_reason = -1;
  g_send_failures = 0;
  SetEventProc(reply_and_close, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());

  BlockingClient client;
  ASSERT_TRUE(client.connect(port_, /*rcvbuf=*/4096));
  ASSERT_TRUE(client.send_all("?"));
  // Do not read until the server has answered and asked to close: its sends must be queued.
  ASSERT_TRUE(wait_until([] { return g_receives.load() == 1; }, 5s));
  EXPECT_EQ(g_send_failures.load(), 0) << GetLastErrorText();

  std::vector<uint8_t> got;
  ASSERT_TRUE(client.wait_closed(20s, &got));
  const size_t expected = kReplyBytes + kPoolSends * 1000;
  ASSERT_EQ(got.size(), expected) << "bytes queued before OnReceive returned 0 were lost";
  EXPECT_EQ(pattern_mismatch(kSeed, 0, got.data(), got.size()), got.size()) << "reply corrupted";

  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 1; }, 5s));
  EXPECT_EQ(g_reason.load(), TS_CLOSE_BY_APP) << GetCloseReasonText(g_reason.load());
  EXPECT_EQ(g_receives.load(), 1);
  EXPECT_EQ(GetLinkCount(), 0);
}

INSTANTIATE_TEST_SUITE_P(CloseOnceOrTwice, ReceiveCloseTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "CloseLinkToo" : "ReturnZeroOnly";
                         });

}  // namespace
