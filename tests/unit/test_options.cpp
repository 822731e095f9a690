// Options: documented defaults, kept across restarts, applied at the next start (buffer size
// bounds OnReceive chunks; the pool is not resized under buffers the app holds); the log
// level applies at once; IPv6 literals bind.
#include <gtest/gtest.h>


#include <atomic>
#include <string>
#include <vector>

#include "support/blocking_client.h"
#include "support/error_check.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

// Runs first in its own process (CTest runs each test alone): nothing has set an option yet.
TEST(OptionDefaults, MatchTheHeader) {
  for (const OptionDefault& d : kOptionDefaults)
    EXPECT_EQ(GetServerOption(d.option), d.value) << "option " << d.option;
}

class OptionsTest : public ServerTest {};

TEST_F(OptionsTest, ValuesAreKeptAcrossStopAndStart) {
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_LINKS, 7), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_EQ(GetLinkFree(), 7);
  ASSERT_TRUE(stop_server());
  EXPECT_EQ(GetServerOption(TS_OPT_MAX_LINKS), 7);
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_EQ(GetLinkFree(), 7);
}

std::atomic<int> g_max_len{0};
std::atomic<int> g_bad_len{0};
std::atomic<int64_t> g_received{0};
int32_t TS_CALL record_len(TcpLink*, uint8_t*, int32_t len) {
  if (len < 1) g_bad_len++;
  int prev = g_max_len.load();
  while (len > prev && !g_max_len.compare_exchange_weak(prev, len)) {
  }
  g_received += len;
  return 1;
}

TEST_F(OptionsTest, BufferSizeBoundsReceiveChunks) {
  constexpr int kSize = 4096;
  constexpr size_t kBytes = 512 * 1024;
  g_max_len = 0;
  g_bad_len = 0;
  g_received = 0;
  ASSERT_EQ(SetServerOption(TS_OPT_IO_BUFFER_SIZE, kSize), 1);
  SetEventProc(record_len, nullptr, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_GE(static_cast<int64_t>(GetIOMemSize()), kSize * GetServerOption(TS_OPT_IO_BUFFER_COUNT))
      << "the pool did not take the new buffer size";
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_));
  std::vector<uint8_t> data(kBytes, 'z');
  ASSERT_TRUE(client.send_all(data.data(), data.size()));
  ASSERT_TRUE(wait_until([] { return g_received.load() == static_cast<int64_t>(kBytes); }, 10s))
      << "received " << g_received.load();
  EXPECT_EQ(g_bad_len.load(), 0);
  EXPECT_LE(g_max_len.load(), kSize) << "OnReceive got more than one IO buffer";
  EXPECT_GT(g_max_len.load(), 2048) << "chunks did not grow with the buffer size";
}

TEST_F(OptionsTest, PoolIsNotResizedUnderHeldBuffers) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  ASSERT_TRUE(stop_server());
  void* held = GetIOMem();
  ASSERT_NE(held, nullptr);
  ASSERT_EQ(SetServerOption(TS_OPT_IO_BUFFER_COUNT, 32), 1);
  EXPECT_CALL_FAILS(StartTcpServer("127.0.0.1", 0), 0, TS_ERR_BUSY);
  EXPECT_EQ(IsTcpServerActive(), 0);
  EXPECT_EQ(FreeIOMem(held), 1) << "the held buffer stays valid and ours: " << GetLastErrorText();
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_EQ(GetIOMemFree(), 32);
}

TEST_F(OptionsTest, LogLevelAppliesAtOnce) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  ASSERT_EQ(SetServerOption(TS_OPT_LOG_LEVEL, TS_LOG_DEBUG), 1) << GetLastErrorText();
  EXPECT_EQ(GetServerOption(TS_OPT_LOG_LEVEL), TS_LOG_DEBUG);
  WriteLog("unit-test log probe");
  EXPECT_TRUE(log_contains("unit-test log probe")) << "WriteLog did not reach the log callback";
}

// Regression: WriteLog used to go through the level filter as INFO, so at the default level
// (WARN) the application's own lines vanished; the original unit wrote every one.
TEST_F(OptionsTest, WriteLogReachesTheLogAtEveryLevel) {
  ASSERT_EQ(GetServerOption(TS_OPT_LOG_LEVEL), TS_LOG_WARN) << "the default level changed";
  WriteLog("probe at the default level");
  EXPECT_TRUE(log_contains("probe at the default level"));
  ASSERT_EQ(SetServerOption(TS_OPT_LOG_LEVEL, TS_LOG_ERROR), 1) << GetLastErrorText();
  const std::string long_line(5000, 'w');
  WriteLog(long_line.c_str());
  EXPECT_TRUE(log_contains(long_line)) << "a long WriteLog line was cut or dropped";
}

TEST_F(OptionsTest, ListensOnIPv6Loopback) {
  const socket_t probe = tcp_socket(AF_INET6, /*nonblocking=*/false);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool v6 = probe != kNoSocket && ::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (probe != kNoSocket) close_socket(probe);
  if (!v6) GTEST_SKIP() << "no IPv6 loopback on this machine";

  ASSERT_EQ(StartTcpServer("::1", 0), 1) << GetLastErrorText();
  const uint16_t port = static_cast<uint16_t>(GetServerPort());
  ASSERT_NE(port, 0);
  BlockingClient client;
  ASSERT_TRUE(client.connect_ipv6(port));
  ASSERT_TRUE(client.send_all("v6"));
  std::vector<uint8_t> got;
  ASSERT_TRUE(client.recv_exact(2, &got));
  EXPECT_EQ(std::string(got.begin(), got.end()), "v6");
}

}  // namespace
