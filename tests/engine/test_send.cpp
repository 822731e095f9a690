// Guarantee 3: sends from any thread, in order; false keeps ownership; the queue limit.
#include <cstring>
#include <thread>

#include "support.h"

using namespace tst;

namespace {
std::atomic<uint64_t> g_id{0};
std::atomic<int32_t> g_reason{-1};
int32_t TS_CALL keep_id(TcpLink* l) { return g_id = l->Id, 1; }
int32_t TS_CALL ignore(TcpLink*, uint8_t*, int32_t) { return 1; }
void TS_CALL record_reason(TcpLink* l) { g_reason = l->CloseReason; }
}  // namespace

class Send : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_id = 0;
    g_reason = -1;
    SetEventProc(ignore, record_reason, nullptr, nullptr, nullptr);
    SetConnectProc(keep_id);
  }
};

TEST_F(Send, PostSendByIdFromAnotherThreadKeepsCallOrder) {
  uint32_t port = start();
  Client c(port);
  ASSERT_TRUE(wait_until([] { return g_id.load() != 0; }));
  constexpr int kCount = 5000;
  std::thread sender([] {
    for (int i = 0; i < kCount; ++i) {
      void* mem = nullptr;
      // The pool may be briefly empty while the client catches up: wait, do not drop.
      ASSERT_TRUE(wait_until([&] { return (mem = GetIOMem()) != nullptr; }));
      std::memcpy(mem, &i, sizeof i);
      ASSERT_EQ(1, PostSendById(g_id, mem, sizeof i)) << GetLastErrorText();
    }
  });
  for (int i = 0; i < kCount; ++i) {
    int v = -1;
    ASSERT_TRUE(c.recv_exact(&v, sizeof v)) << "message " << i;
    ASSERT_EQ(i, v);
  }
  sender.join();
}

TEST_F(Send, FailedPostSendLeavesTheBufferWithTheCaller) {
  uint32_t port = start();
  {
    Client c(port);
    ASSERT_TRUE(wait_until([] { return g_id.load() != 0; }));
  }
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 0; }));
  void* mem = GetIOMem();
  ASSERT_NE(nullptr, mem);
  int free_before = GetIOMemFree();
  EXPECT_EQ(0, PostSendById(g_id, mem, 10));
  EXPECT_EQ(TS_ERR_LINK_CLOSED, GetLastErrorCode());
  EXPECT_EQ(free_before, GetIOMemFree());
  EXPECT_EQ(1, FreeIOMem(mem)) << GetLastErrorText();  // still ours
}

TEST_F(Send, QueueLimitWithClosePolicyClosesTheLinkWithThatReason) {
  SetServerOption(TS_OPT_SEND_QUEUE_LIMIT, 256 * 1024);
  SetServerOption(TS_OPT_SEND_QUEUE_POLICY, TS_QUEUE_CLOSE_LINK);
  uint32_t port = start();
  Client c(port);  // never reads
  ASSERT_TRUE(wait_until([] { return g_id.load() != 0; }));
  int64_t drops0 = GetServerCounter(TS_COUNTER_SEND_QUEUE_DROPS);
  std::vector<char> chunk(64 * 1024, 'q');
  int sent = 0;
  while (SendBufferById(g_id, chunk.data(), static_cast<int32_t>(chunk.size())) == 1) {
    ASSERT_LT(++sent, 10000) << "the queue limit never applied";
  }
  EXPECT_EQ(TS_ERR_SEND_QUEUE_FULL, GetLastErrorCode());
  ASSERT_TRUE(wait_until([] { return g_reason.load() != -1; }));
  EXPECT_EQ(TS_CLOSE_SEND_QUEUE_FULL, g_reason.load());
  EXPECT_EQ(drops0 + 1, GetServerCounter(TS_COUNTER_SEND_QUEUE_DROPS));
}

TEST_F(Send, QueueLimitWithRefusePolicyRefusesAndKeepsTheLink) {
  SetServerOption(TS_OPT_SEND_QUEUE_LIMIT, 256 * 1024);
  SetServerOption(TS_OPT_SEND_QUEUE_POLICY, TS_QUEUE_REFUSE_SEND);
  uint32_t port = start();
  Client c(port);
  ASSERT_TRUE(wait_until([] { return g_id.load() != 0; }));
  std::vector<char> chunk(64 * 1024, 'r');
  size_t accepted = 0;
  while (SendBufferById(g_id, chunk.data(), static_cast<int32_t>(chunk.size())) == 1) {
    accepted += chunk.size();
    ASSERT_LT(accepted, size_t{1} << 30) << "the queue limit never applied";
  }
  EXPECT_EQ(TS_ERR_SEND_QUEUE_FULL, GetLastErrorCode());
  EXPECT_EQ(1, GetLinkCount());
  // Everything accepted arrives; then the link takes sends again.
  std::string got = c.recv_n(accepted);
  ASSERT_EQ(accepted, got.size());
  EXPECT_EQ(1, SendBufferById(g_id, "ok", 2)) << GetLastErrorText();
  EXPECT_EQ("ok", c.recv_n(2));
  EXPECT_EQ(-1, g_reason.load());
}
