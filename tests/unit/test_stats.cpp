// Statistics agree with what the clients did: counters of bytes, messages, accepts and
// closes; link and pool figures while connected and after; service and worker activity.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "support/blocking_client.h"
#include "support/payload.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

class StatsTest : public ServerTest {};

TEST_F(StatsTest, CountersMatchClientTraffic) {
  constexpr int kClients = 5;
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());  // built-in echo
  auto counter = [](int c) { return GetServerCounter(c); };
  const int64_t in0 = counter(TS_COUNTER_BYTES_IN), out0 = counter(TS_COUNTER_BYTES_OUT);
  const int64_t msgs_in0 = counter(TS_COUNTER_MSGS_IN), msgs_out0 = counter(TS_COUNTER_MSGS_OUT);
  const int64_t accepts0 = counter(TS_COUNTER_ACCEPTS), closed0 = counter(TS_COUNTER_CLOSED);
  const int max_links = static_cast<int>(GetServerOption(TS_OPT_MAX_LINKS));
  const int exec_count0 = GetServerExecCount();
  EXPECT_EQ(GetLinkCount(), 0);
  EXPECT_EQ(GetLinkFree(), max_links);
  EXPECT_GT(GetLinkSize(), 0);

  std::vector<BlockingClient> clients(kClients);
  int64_t total = 0;
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(clients[i].connect(port_));
    std::vector<uint8_t> data(3000 + 100 * static_cast<size_t>(i));
    fill_pattern(static_cast<uint64_t>(i), 0, data.data(), data.size());
    ASSERT_TRUE(clients[i].send_all(data.data(), data.size()));
    std::vector<uint8_t> got;
    ASSERT_TRUE(clients[i].recv_exact(data.size(), &got));
    EXPECT_EQ(got, data);
    total += static_cast<int64_t>(data.size());
  }

  EXPECT_EQ(counter(TS_COUNTER_ACCEPTS) - accepts0, kClients);
  EXPECT_EQ(GetLinkCount(), kClients);
  EXPECT_EQ(GetLinkFree(), max_links - kClients);
  EXPECT_NEAR(GetLinkUse(), 100.0 * kClients / max_links, 1e-9);
  EXPECT_EQ(counter(TS_COUNTER_BYTES_IN) - in0, total);
  // The engine counts a write after send() returns, which can be after the client read it.
  EXPECT_TRUE(wait_until([&] { return counter(TS_COUNTER_BYTES_OUT) - out0 == total; }, 2s))
      << "TS_COUNTER_BYTES_OUT grew by " << counter(TS_COUNTER_BYTES_OUT) - out0 << ", sent " << total;
  // At least one message per client; at most one per byte.
  EXPECT_GE(counter(TS_COUNTER_MSGS_IN) - msgs_in0, kClients);
  EXPECT_LE(counter(TS_COUNTER_MSGS_IN) - msgs_in0, total);
  EXPECT_TRUE(wait_until([&] { return counter(TS_COUNTER_MSGS_OUT) - msgs_out0 >= kClients; }, 2s));
  EXPECT_LE(counter(TS_COUNTER_MSGS_OUT) - msgs_out0, total);

  // Workers report the work they did; the service thread runs its passes.
  int64_t worker_execs = 0;
  for (int i = 1; i <= GetWorkerCount(); ++i) {
    uint32_t busy_ms = 12345;
    int32_t n = GetWorkerExecInfo(i, &busy_ms);
    EXPECT_GE(n, 0) << GetLastErrorText();
    EXPECT_NE(busy_ms, 12345u) << "busy time not written";
    worker_execs += n;
  }
  EXPECT_GE(worker_execs, kClients);
  EXPECT_TRUE(wait_until([&] { return GetServerExecCount() > exec_count0; }, 3s))
      << "the service thread made no pass";

  // Pool figures are consistent.
  EXPECT_GE(static_cast<int64_t>(GetIOMemSize()),
            GetServerOption(TS_OPT_IO_BUFFER_COUNT) * GetServerOption(TS_OPT_IO_BUFFER_SIZE));
  EXPECT_TRUE(wait_until([] { return GetIOMemFree() == GetServerOption(TS_OPT_IO_BUFFER_COUNT); }, 5s));
  EXPECT_DOUBLE_EQ(GetIOMemUse(), 0.0);
  void* mem = GetIOMem();
  ASSERT_NE(mem, nullptr);
  EXPECT_EQ(GetIOMemFree(), GetServerOption(TS_OPT_IO_BUFFER_COUNT) - 1);
  EXPECT_GT(GetIOMemUse(), 0.0);
  EXPECT_EQ(FreeIOMem(mem), 1);

  for (auto& c : clients) c.close();
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 0; }, 5s)) << "links: " << GetLinkCount();
  EXPECT_TRUE(wait_until([&] { return counter(TS_COUNTER_CLOSED) - closed0 == kClients; }, 5s));
  // A closed link's slot returns to the free list after its OnDisconnect, later than the count.
  EXPECT_TRUE(wait_until([&] { return GetLinkFree() == max_links; }, 10s))
      << GetLinkFree() << " free of " << max_links;
  EXPECT_DOUBLE_EQ(GetLinkUse(), 0.0);
}

TEST_F(StatsTest, TickCountAdvancesWithTheSteadyClock) {
  const uint32_t t0 = GetTickCount32();
  const auto c0 = Clock::now();
  std::this_thread::sleep_for(200ms);  // measuring a clock: the time passing is the point
  const uint32_t elapsed = GetTickCount32() - t0;  // wraps correctly in uint32 arithmetic
  const long long real = ms_since(c0);
  EXPECT_GE(elapsed + 20, static_cast<uint32_t>(real));
  EXPECT_LE(elapsed, static_cast<uint32_t>(real + 20));
}

}  // namespace
