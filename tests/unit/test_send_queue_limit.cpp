// Guarantee 3 with TS_OPT_SEND_QUEUE_LIMIT: a peer that never reads cannot make the server
// queue without bound. Policy CLOSE closes the link (TS_CLOSE_SEND_QUEUE_FULL); policy
// REFUSE fails the send (TS_ERR_SEND_QUEUE_FULL, buffer still the caller's) and keeps the link.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "support/blocking_client.h"
#include "support/payload.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kLimit = 64 * 1024;
constexpr int kMaxAttempts = 20000;  // far more than the kernel buffers plus the limit can take

std::atomic<uint64_t> g_link_id{0};
std::atomic<int> g_disconnects{0};
std::atomic<int> g_reason{-1};

int32_t TS_CALL remember_link(TcpLink* link) {
  g_link_id = link->Id;
  return 1;
}
void TS_CALL on_disconnect(TcpLink* link) {
  g_reason = link->CloseReason;
  g_disconnects++;
}

class SendQueueLimitTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_link_id = 0;
    g_disconnects = 0;
    g_reason = -1;
    ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_LIMIT, kLimit), 1);
    SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);
    ASSERT_EQ(SetConnectProc(remember_link), 1);
  }

  // Starts the server and connects a client that will not read (tiny receive buffer).
  void connect_silent_reader(BlockingClient& client) {
    ASSERT_NO_FATAL_FAILURE(start_server());
    ASSERT_TRUE(client.connect(port_, /*rcvbuf=*/4096));
    ASSERT_TRUE(wait_until([] { return g_link_id.load() != 0; }, 5s));
  }
};

TEST_F(SendQueueLimitTest, PolicyCloseClosesTheLink) {
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_POLICY, TS_QUEUE_CLOSE_LINK), 1);
  BlockingClient client;
  ASSERT_NO_FATAL_FAILURE(connect_silent_reader(client));
  const int64_t drops0 = GetServerCounter(TS_COUNTER_SEND_QUEUE_DROPS);

  std::vector<uint8_t> chunk(16 * 1024, 'q');
  int attempts = 0;
  int result = 1;
  while (attempts < kMaxAttempts && (result = SendBufferById(g_link_id, chunk.data(), 16 * 1024)) == 1)
    ++attempts;
  ASSERT_EQ(result, 0) << "the send queue never filled after " << attempts << " sends";
  // The first refusal is the limit (later ones could see the link already closing).
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_SEND_QUEUE_FULL) << GetLastErrorText();
  EXPECT_STRNE(GetLastErrorText(), "");

  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 1; }, 5s)) << "the link was not closed";
  EXPECT_EQ(g_reason.load(), TS_CLOSE_SEND_QUEUE_FULL) << GetCloseReasonText(g_reason.load());
  EXPECT_GT(GetServerCounter(TS_COUNTER_SEND_QUEUE_DROPS), drops0);
  EXPECT_TRUE(client.wait_closed(10s));
}

TEST_F(SendQueueLimitTest, PolicyRefuseFailsTheSendAndKeepsTheLink) {
  constexpr uint64_t kSeed = 31337;
  constexpr int kLen = 2000;
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_POLICY, TS_QUEUE_REFUSE_SEND), 1);
  BlockingClient client;
  ASSERT_NO_FATAL_FAILURE(connect_silent_reader(client));
  const int64_t drops0 = GetServerCounter(TS_COUNTER_SEND_QUEUE_DROPS);
  const uint64_t id = g_link_id;

  uint64_t accepted = 0;  // bytes of successful sends, one pattern stream
  void* refused_mem = nullptr;
  for (int i = 0; i < kMaxAttempts; ++i) {
    void* mem = GetIOMem();
    ASSERT_NE(mem, nullptr) << GetLastErrorText();
    fill_pattern(kSeed, accepted, static_cast<uint8_t*>(mem), kLen);
    if (PostSendById(id, mem, kLen) != 1) {
      refused_mem = mem;
      break;
    }
    accepted += kLen;
  }
  ASSERT_NE(refused_mem, nullptr) << "the send queue never filled";
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_SEND_QUEUE_FULL) << GetLastErrorText();
  EXPECT_STRNE(GetLastErrorText(), "");
  EXPECT_GT(GetServerCounter(TS_COUNTER_SEND_QUEUE_DROPS), drops0);
  // The refused buffer is still ours.
  EXPECT_EQ(FreeIOMem(refused_mem), 1) << GetLastErrorText();

  // The link stays open: the client drains everything that was accepted, in order.
  EXPECT_EQ(g_disconnects.load(), 0);
  EXPECT_EQ(GetLinkCount(), 1);
  std::vector<uint8_t> got;
  ASSERT_TRUE(client.recv_exact(accepted, &got, 20s));
  EXPECT_EQ(pattern_mismatch(kSeed, 0, got.data(), got.size()), got.size());

  // Once drained, sending works again on the same link.
  std::vector<uint8_t> more(kLen);
  fill_pattern(kSeed, accepted, more.data(), more.size());
  ASSERT_TRUE(wait_until([&] { return SendBufferById(id, more.data(), kLen) == 1; }, 5s))
      << GetLastErrorText();
  ASSERT_TRUE(client.recv_exact(kLen, &got, 5s));
  EXPECT_EQ(pattern_mismatch(kSeed, accepted, got.data(), got.size()), got.size());
  EXPECT_EQ(g_disconnects.load(), 0);
}

}  // namespace
