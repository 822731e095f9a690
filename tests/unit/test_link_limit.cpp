// Guarantee 6: with TS_OPT_MAX_LINKS = N, N+5 clients get exactly N served; the other 5 are
// closed by the server and counted in TS_COUNTER_REFUSED. A freed slot serves a new client.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "support/blocking_client.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::atomic<int> g_connects{0};

int32_t TS_CALL count_connect(TcpLink*) {
  g_connects++;
  return 1;
}

class LinkLimitTest : public ServerTest {};

TEST_F(LinkLimitTest, ExtraConnectionsAreRefusedAndCounted) {
  constexpr int kMax = 10;
  constexpr int kExtra = 5;
  g_connects = 0;
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_LINKS, kMax), 1);
  ASSERT_EQ(SetConnectProc(count_connect), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t refused0 = GetServerCounter(TS_COUNTER_REFUSED);
  const int64_t accepts0 = GetServerCounter(TS_COUNTER_ACCEPTS);

  std::vector<BlockingClient> clients(kMax + kExtra);
  for (auto& c : clients) ASSERT_TRUE(c.connect(port_));
  ASSERT_TRUE(wait_until([&] { return GetServerCounter(TS_COUNTER_REFUSED) - refused0 == kExtra; }, 10s))
      << "refused: " << GetServerCounter(TS_COUNTER_REFUSED) - refused0;
  ASSERT_TRUE(wait_until([] { return g_connects.load() == kMax; }, 10s)) << "served: " << g_connects.load();
  // An accept is counted after its OnConnect returns: waited for, not read at once.
  EXPECT_TRUE(wait_until([&] { return GetServerCounter(TS_COUNTER_ACCEPTS) - accepts0 == kMax; }, 10s))
      << "accepts: " << GetServerCounter(TS_COUNTER_ACCEPTS) - accepts0;
  EXPECT_EQ(GetLinkCount(), kMax);
  EXPECT_EQ(GetLinkFree(), 0);
  EXPECT_DOUBLE_EQ(GetLinkUse(), 100.0);

  // Each client either gets its echo (served) or sees the close (refused): nothing in between.
  int served = 0, closed = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    const std::string msg = "ping " + std::to_string(i);
    clients[i].send_all(msg);  // fails harmlessly on a refused one
    std::vector<uint8_t> got;
    auto r = BlockingClient::ReadResult::kData;
    while (r == BlockingClient::ReadResult::kData && got.size() < msg.size())
      r = clients[i].read_some(5s, &got);
    if (r == BlockingClient::ReadResult::kClosed) {
      ++closed;
      EXPECT_TRUE(got.empty()) << "client " << i << " got data and then a close";
    } else {
      ASSERT_NE(r, BlockingClient::ReadResult::kTimeout) << "client " << i << ": neither served nor closed";
      EXPECT_EQ(std::string(got.begin(), got.end()), msg);
      ++served;
    }
  }
  EXPECT_EQ(served, kMax);
  EXPECT_EQ(closed, kExtra);

  // Freeing a slot lets the next client in.
  for (auto& c : clients) {
    if (c.read_some(0ms, nullptr) == BlockingClient::ReadResult::kTimeout) {  // a served one
      c.close();
      break;
    }
  }
  // The link stops counting as it closes; its slot returns to the free list after its
  // OnDisconnect: the late client comes once the slot is free, or it would be refused.
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == kMax - 1 && GetLinkFree() == 1; }, 10s))
      << GetLinkCount() << " links, " << GetLinkFree() << " free";
  BlockingClient late;
  ASSERT_TRUE(late.connect(port_));
  ASSERT_TRUE(late.send_all("late"));
  std::vector<uint8_t> got;
  ASSERT_TRUE(late.recv_exact(4, &got, 5s));
  EXPECT_EQ(std::string(got.begin(), got.end()), "late");
  EXPECT_EQ(GetServerCounter(TS_COUNTER_REFUSED) - refused0, kExtra);
}

}  // namespace
