// The memory budget and the flood limits (API 1.3), one behaviour per test: start refuses
// per-link limits above the budget; a send past the budget fails as the queue policy says; a
// partial framed message past it closes its link; a message that stops growing closes at
// TS_OPT_MESSAGE_TIMEOUT_MS; a held link (high-water mark) that neither reads nor sends closes
// at the idle timeout; connections per address and per second are limited, refused without a
// callback and counted; GetCloseCount counts each reason. Small figures, so they run in
// seconds natively and under Wine; the full-size floods are in tests/reliability.
#include <algorithm>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "support/blocking_client.h"
#include "support/frames.h"
#include "support/server_fixture.h"
#include "support/socket_compat.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::atomic<int> g_connects{0};
std::atomic<int> g_disconnects{0};
std::mutex g_mu;
std::vector<int32_t> g_reasons;  // close reasons, in order
std::vector<uint64_t> g_ids;     // links seen by OnConnect, in order

int32_t TS_CALL on_connect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_ids.push_back(link->Id);
  g_connects++;
  return 1;
}
void TS_CALL on_disconnect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_reasons.push_back(link->CloseReason);
  g_disconnects++;
}
int32_t TS_CALL swallow(TcpLink*, uint8_t*, int32_t) { return 1; }

int count_reason(int32_t reason) {
  std::lock_guard<std::mutex> lock(g_mu);
  int n = 0;
  for (int32_t r : g_reasons) n += r == reason;
  return n;
}
uint64_t link_id(size_t i) {
  std::lock_guard<std::mutex> lock(g_mu);
  return i < g_ids.size() ? g_ids[i] : 0;
}

// A client from a chosen loopback address (127.0.0.2 is a different remote address).
socket_t connect_from(const char* local_ip, uint16_t port) {
  socket_t s = tcp_socket(AF_INET, /*nonblocking=*/false);
  if (s == kNoSocket) return s;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, local_ip, &local.sin_addr);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::bind(s, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close_socket(s);
    return kNoSocket;
  }
  return s;
}

class MemoryBudgetTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_connects = 0;
    g_disconnects = 0;
    std::lock_guard<std::mutex> lock(g_mu);
    g_reasons.clear();
    g_ids.clear();
  }
};

TEST_F(MemoryBudgetTest, StartRefusesAPerLinkLimitAboveTheBudget) {
  ASSERT_EQ(SetServerOption(TS_OPT_MEMORY_BUDGET, 1 << 20), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_LIMIT, 2 << 20), 1);
  EXPECT_EQ(StartTcpServer("127.0.0.1", 0), 0);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_OPTION_RANGE);
  EXPECT_NE(std::strstr(GetLastErrorText(), "TS_OPT_SEND_QUEUE_LIMIT"), nullptr) << GetLastErrorText();
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_LIMIT, 512 << 10), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_FRAMING, TS_FRAMING_LENGTH_PREFIXED), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_MESSAGE_SIZE, 2 << 20), 1);
  EXPECT_EQ(StartTcpServer("127.0.0.1", 0), 0);
  EXPECT_NE(std::strstr(GetLastErrorText(), "TS_OPT_MAX_MESSAGE_SIZE"), nullptr) << GetLastErrorText();
  EXPECT_EQ(IsTcpServerActive(), 0);
  ASSERT_EQ(SetServerOption(TS_OPT_MEMORY_BUDGET, 0), 1);  // no budget: anything goes, as before
  ASSERT_NO_FATAL_FAILURE(start_server());
  ASSERT_TRUE(stop_server());
  // "No limit per link" (0) is allowed with a budget: the budget bounds every link then.
  ASSERT_EQ(SetServerOption(TS_OPT_MEMORY_BUDGET, 1 << 20), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_FRAMING, TS_FRAMING_RAW), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_LIMIT, 0), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
}

// Two links that do not read; the application sends to both. The first queues 600 KiB, under
// its own limit; the second then reaches the server-wide budget before its own limit.
class BudgetSendTest : public MemoryBudgetTest,
                       public ::testing::WithParamInterface<int32_t> {};

TEST_P(BudgetSendTest, ASendPastTheBudgetFailsAsThePolicySays) {
  const int32_t policy = GetParam();
  constexpr int64_t kBudget = 1 << 20, kLimit = 768 << 10;
  ASSERT_EQ(SetServerOption(TS_OPT_MEMORY_BUDGET, kBudget), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_LIMIT, kLimit), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_POLICY, policy), 1);
  SetEventProc(swallow, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(on_connect), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient a, b;
  ASSERT_TRUE(a.connect(port_, /*rcvbuf=*/4096));
  ASSERT_TRUE(wait_until([] { return g_connects.load() == 1; }, 10s));
  ASSERT_TRUE(b.connect(port_, /*rcvbuf=*/4096));
  ASSERT_TRUE(wait_until([] { return g_connects.load() == 2; }, 10s));
  const int64_t refusals0 = GetServerCounter(TS_COUNTER_BUDGET_REFUSALS);
  const int64_t budget_closes0 = GetCloseCount(TS_CLOSE_MEMORY_BUDGET);  // earlier tests' too
  std::vector<uint8_t> chunk(16 * 1024, 'b');
  for (int i = 0; i < 10000 && GetSendQueueBytesById(link_id(0)) < (600 << 10); ++i)
    ASSERT_EQ(SendBufferById(link_id(0), chunk.data(), 16 * 1024), 1) << GetLastErrorText();
  ASSERT_GE(GetSendQueueBytesById(link_id(0)), 600 << 10);
  int sent = 0;
  while (sent < 10000 && SendBufferById(link_id(1), chunk.data(), 16 * 1024)) ++sent;
  ASSERT_LT(sent, 10000) << "the budget never refused a send";
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_MEMORY_BUDGET) << GetLastErrorText();
  EXPECT_NE(std::strstr(GetLastErrorText(), "TS_OPT_MEMORY_BUDGET"), nullptr) << GetLastErrorText();
  EXPECT_GE(GetServerCounter(TS_COUNTER_BUDGET_REFUSALS) - refusals0, 1);
  EXPECT_LE(GetServerCounter(TS_COUNTER_MEMORY_IN_USE), kBudget);
  EXPECT_LE(GetServerCounter(TS_COUNTER_MEMORY_PEAK), kBudget);
  if (policy == TS_QUEUE_REFUSE_SEND) {
    EXPECT_EQ(g_disconnects.load(), 0) << "refusing a send must leave the link open";
    EXPECT_GE(GetSendQueueBytesById(link_id(1)), 0);
  } else {
    ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 1; }, 10s));
    EXPECT_EQ(count_reason(TS_CLOSE_MEMORY_BUDGET), 1) << "the second link closes at the budget";
    EXPECT_EQ(GetCloseCount(TS_CLOSE_MEMORY_BUDGET) - budget_closes0, 1);
  }
  a.close();
  b.close();
  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 2; }, 10s));
  // Everything the links held went back.
  EXPECT_TRUE(wait_until([] { return GetServerCounter(TS_COUNTER_MEMORY_IN_USE) == 0; }, 10s));
}

INSTANTIATE_TEST_SUITE_P(Policies, BudgetSendTest,
                         ::testing::Values(TS_QUEUE_REFUSE_SEND, TS_QUEUE_CLOSE_LINK),
                         [](const ::testing::TestParamInfo<int32_t>& p) {
                           return p.param == TS_QUEUE_CLOSE_LINK ? "CloseLink" : "RefuseSend";
                         });

TEST_F(MemoryBudgetTest, APartialMessagePastTheBudgetClosesItsLink) {
  constexpr int64_t kBudget = 1 << 20;
  ASSERT_EQ(SetServerOption(TS_OPT_MEMORY_BUDGET, kBudget), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_LIMIT, 64 << 10), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_FRAMING, TS_FRAMING_LENGTH_PREFIXED), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_MESSAGE_SIZE, kBudget), 1);
  SetEventProc(swallow, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  // Three clients each send 400 KiB of an announced 1 MiB message: their assembly buffers
  // cannot all fit in 1 MiB.
  std::vector<uint8_t> start;
  append_header(start, static_cast<uint32_t>(kBudget));
  start.resize(4 + (400 << 10), 'm');
  BlockingClient c[3];
  for (auto& client : c) {
    ASSERT_TRUE(client.connect(port_));
    ASSERT_TRUE(client.send_all(start.data(), start.size()));
  }
  ASSERT_TRUE(wait_until([] { return count_reason(TS_CLOSE_MEMORY_BUDGET) >= 1; }, 20s))
      << "no link was closed at the budget";
  EXPECT_LE(GetServerCounter(TS_COUNTER_MEMORY_PEAK), kBudget);
  EXPECT_GE(GetServerCounter(TS_COUNTER_BUDGET_REFUSALS), 1);
  EXPECT_EQ(GetServerCounter(TS_COUNTER_FRAMING_ERRORS), 0) << "the budget is not a framing error";
}

TEST_F(MemoryBudgetTest, AMessageThatStopsGrowingClosesAtTheMessageTimeout) {
  ASSERT_EQ(SetServerOption(TS_OPT_FRAMING, TS_FRAMING_LENGTH_PREFIXED), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_MESSAGE_TIMEOUT_MS, 1000), 1);
  SetEventProc(swallow, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t timeouts0 = GetServerCounter(TS_COUNTER_MESSAGE_TIMEOUTS);
  // The stalled one: a header and part of the payload, then nothing.
  std::vector<uint8_t> part;
  append_header(part, 100000);
  part.resize(4 + 3000, 's');
  BlockingClient stalled, slow;
  ASSERT_TRUE(stalled.connect(port_));
  ASSERT_TRUE(stalled.send_all(part.data(), part.size()));
  ASSERT_TRUE(slow.connect(port_));
  ASSERT_TRUE(slow.send_all(part.data(), part.size()));
  // The slow one: the rest of the same message, 4 850 bytes every 200 ms (20 pieces, 4 s in
  // all), each well inside the timeout.
  auto t0 = Clock::now();
  std::vector<uint8_t> more(4850, 's');
  for (int piece = 1; piece <= 20; ++piece) {
    ASSERT_TRUE(wait_until([&] { return ms_since(t0) >= piece * 200; }, 5s));
    ASSERT_TRUE(slow.send_all(more.data(), more.size()));
  }
  ASSERT_TRUE(wait_until([] { return count_reason(TS_CLOSE_MESSAGE_TIMEOUT) == 1; }, 20s))
      << "the stalled message was not timed out";
  EXPECT_TRUE(stalled.wait_closed(10s));
  EXPECT_EQ(GetServerCounter(TS_COUNTER_MESSAGE_TIMEOUTS) - timeouts0, 1);
  EXPECT_EQ(GetLinkCount(), 1) << "the message that kept growing must not be timed out";
}

TEST_F(MemoryBudgetTest, AHeldLinkThatNeitherReadsNorSendsClosesAtTheIdleTimeout) {
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_HIGH_WATER, 64 << 10), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, 1500), 1);
  SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);  // built-in echo
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_, /*rcvbuf=*/4096));
  std::vector<uint8_t> chunk(64 * 1024, 'i');
  // Write without reading until the link is held (our writes then stop going in).
  ASSERT_TRUE(wait_until([&] {
    client.try_send(chunk.data(), chunk.size());
    return GetServerCounter(TS_COUNTER_LINKS_HELD) == 1;
  }, 30s)) << "the link was never held";
  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 1; }, 30s));
  EXPECT_EQ(count_reason(TS_CLOSE_IDLE), 1);
  EXPECT_EQ(GetServerCounter(TS_COUNTER_LINKS_HELD), 0);
}

TEST_F(MemoryBudgetTest, LinksPerAddressAreLimitedAndTheExtraOnesRefusedWithoutACallback) {
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_LINKS_PER_ADDRESS, 3), 1);
  SetEventProc(swallow, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(on_connect), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  std::vector<socket_t> mine;
  for (int i = 0; i < 5; ++i) {
    mine.push_back(connect_from("127.0.0.1", port_));
    ASSERT_NE(mine.back(), kNoSocket);
  }
  ASSERT_TRUE(wait_until([] { return GetServerCounter(TS_COUNTER_ADDRESS_REFUSED) == 2; }, 10s))
      << GetServerCounter(TS_COUNTER_ADDRESS_REFUSED) << " refused";
  // The admitted three reach OnConnect on their worker, after the accepting worker counted
  // (on io_uring an accepted link is handed to the next worker's ring): waited for, not read.
  EXPECT_TRUE(wait_until([] { return g_connects.load() == 3; }, 10s)) << g_connects.load();
  // Which two are refused depends on the order the server accepted them in (IOCP completes its
  // accepts in any order): two of the five are closed by the server, the other three stay open.
  std::vector<bool> closed(mine.size(), false);
  ASSERT_TRUE(wait_until([&] {
    size_t n = 0;
    for (size_t i = 0; i < mine.size(); ++i) {
      if (!closed[i]) {
        pollfd p = poll_entry(mine[i], POLLIN);
        char c;
        closed[i] = poll_sockets(&p, 1, 0) > 0 && recv_some(mine[i], &c, 1) <= 0;
      }
      n += closed[i] ? 1 : 0;
    }
    return n == 2;
  }, 10s)) << "the two refused connections were not closed by the server";
  const size_t served = static_cast<size_t>(std::find(closed.begin(), closed.end(), false) - closed.begin());
  // Another address is served.
  socket_t other = connect_from("127.0.0.2", port_);
  ASSERT_NE(other, kNoSocket);
  ASSERT_TRUE(wait_until([] { return g_connects.load() == 4; }, 10s));
  // A link given back makes room for one more from the first address.
  close_socket(mine[served]);
  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 1; }, 10s));
  socket_t again = connect_from("127.0.0.1", port_);
  ASSERT_NE(again, kNoSocket);
  ASSERT_TRUE(wait_until([] { return g_connects.load() == 5; }, 10s));
  EXPECT_EQ(GetServerCounter(TS_COUNTER_ADDRESS_REFUSED), 2);
  EXPECT_TRUE(log_contains("TS_OPT_MAX_LINKS_PER_ADDRESS"));
  for (socket_t s : mine) close_socket(s);
  close_socket(other);
  close_socket(again);
}

TEST_F(MemoryBudgetTest, TheAcceptRateLimitRefusesAFloodAndServesAgainLater) {
  constexpr int kRate = 5, kFlood = 30;
  ASSERT_EQ(SetServerOption(TS_OPT_ACCEPT_RATE, kRate), 1);
  SetEventProc(swallow, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(on_connect), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  const auto t0 = Clock::now();
  std::vector<socket_t> flood;
  for (int i = 0; i < kFlood; ++i) flood.push_back(connect_from("127.0.0.1", port_));
  ASSERT_TRUE(wait_until([&] {
    return g_connects.load() + GetServerCounter(TS_COUNTER_RATE_REFUSED) == kFlood;
  }, 20s)) << "every connection must be served or refused";
  // The bucket holds kRate and refills kRate a second: at most that many got in.
  const double seconds = ms_since(t0) / 1000.0;
  EXPECT_LE(g_connects.load(), kRate + static_cast<int>(kRate * seconds) + 1);
  EXPECT_GE(GetServerCounter(TS_COUNTER_RATE_REFUSED), 1);
  // Later, new connections are served again.
  const int served = g_connects.load();
  socket_t later = kNoSocket;
  ASSERT_TRUE(wait_until([&] {
    if (later != kNoSocket) close_socket(later);
    later = connect_from("127.0.0.1", port_);
    return wait_until([&] { return g_connects.load() > served; }, 300ms);
  }, 20s));
  for (socket_t s : flood) if (s != kNoSocket) close_socket(s);
  if (later != kNoSocket) close_socket(later);
}

TEST_F(MemoryBudgetTest, GetCloseCountCountsEachReasonAndRefusesAnUnknownOne) {
  SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t peer0 = GetCloseCount(TS_CLOSE_PEER_CLOSED);
  {
    BlockingClient c;
    ASSERT_TRUE(c.connect(port_));
    ASSERT_TRUE(c.send_all("hi"));
    std::vector<uint8_t> echo;
    ASSERT_TRUE(c.recv_exact(2, &echo));
  }
  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 1; }, 10s));
  EXPECT_EQ(GetCloseCount(TS_CLOSE_PEER_CLOSED) - peer0, 1);
  prime_last_error(TS_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(GetCloseCount(-1), -1);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(GetCloseCount(99), -1);
  EXPECT_EQ(TcpServerGetCloseCount(nullptr, TS_CLOSE_IDLE), -1);
}

}  // namespace
