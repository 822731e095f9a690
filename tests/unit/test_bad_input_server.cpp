// Guarantee 7 for the server and its settings: bad addresses and ports, double starts, calls
// before start and after stop, bad options, too-small output buffers, unknown indexes. Each
// returns its failure value with a specific error and text, and changes nothing.
#include <gtest/gtest.h>


#include <cstring>
#include <string>
#include <vector>

#include "support/blocking_client.h"
#include "support/error_check.h"
#include "support/proc_stats.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

class BadServerInputTest : public ServerTest {
 protected:
  // A failed start leaves no server, thread or descriptor behind.
  void expect_not_started() {
    EXPECT_EQ(IsTcpServerActive(), 0);
    EXPECT_EQ(GetServerPort(), 0u);
    EXPECT_EQ(GetWorkerCount(), 0);
    EXPECT_EQ(thread_count(), baseline_threads_);
  }
  void expect_echo_works() {
    BlockingClient c;
    ASSERT_TRUE(c.connect(port_));
    ASSERT_TRUE(c.send_all("echo?"));
    std::vector<uint8_t> got;
    ASSERT_TRUE(c.recv_exact(5, &got));
    EXPECT_EQ(std::string(got.begin(), got.end()), "echo?");
  }
};

TEST_F(BadServerInputTest, StartWithOutOfRangeIPv4Text) {
  EXPECT_CALL_FAILS(StartTcpServer("300.1.1.1", 0), 0, TS_ERR_BAD_ADDRESS);
  expect_not_started();
  EXPECT_TRUE(fd_count_back_to(baseline_fds_));
}

TEST_F(BadServerInputTest, StartWithNonAddressText) {
  EXPECT_CALL_FAILS(StartTcpServer("abc", 0), 0, TS_ERR_BAD_ADDRESS);
  expect_not_started();
  EXPECT_TRUE(fd_count_back_to(baseline_fds_));
}

TEST_F(BadServerInputTest, StartOnPortInUse) {
  const socket_t fd = tcp_socket(AF_INET, /*nonblocking=*/false);
  ASSERT_NE(fd, kNoSocket) << socket_error_text(last_socket_error());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int fds_with_ours = open_fd_count();

  EXPECT_CALL_FAILS(StartTcpServer("127.0.0.1", ntohs(addr.sin_port)), 0, TS_ERR_ADDRESS_IN_USE);
  expect_not_started();
  EXPECT_TRUE(fd_count_back_to(fds_with_ours));
  close_socket(fd);
}

// A failed start keeps the IO pool and link table of the last run: options changed since then
// take effect at the next successful start, not half-way through a failed one.
TEST_F(BadServerInputTest, StartOnPortInUseKeepsThePoolAndLinkTable) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  const uint16_t taken = port_;
  ASSERT_TRUE(stop_server());
  const int32_t pool_before = GetIOMemFree();
  const int32_t links_before = GetLinkFree();
  ASSERT_GT(pool_before, 8);
  ASSERT_GT(links_before, 8);

  const socket_t fd = tcp_socket(AF_INET, /*nonblocking=*/false);  // take the port
  ASSERT_NE(fd, kNoSocket) << socket_error_text(last_socket_error());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(taken);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);

  ASSERT_EQ(SetServerOption(TS_OPT_IO_BUFFER_COUNT, pool_before / 2), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_LINKS, links_before / 2), 1);
  EXPECT_CALL_FAILS(StartTcpServer("127.0.0.1", taken), 0, TS_ERR_ADDRESS_IN_USE);
  expect_not_started();
  EXPECT_EQ(GetIOMemFree(), pool_before);
  EXPECT_EQ(GetLinkFree(), links_before);
  close_socket(fd);

  ASSERT_NO_FATAL_FAILURE(start_server());  // the next start applies them
  EXPECT_EQ(GetIOMemFree(), pool_before / 2);
  EXPECT_EQ(GetLinkFree(), links_before / 2);
}

TEST_F(BadServerInputTest, StartWithPortAbove65535) {
  EXPECT_CALL_FAILS(StartTcpServer("127.0.0.1", 65536), 0, TS_ERR_INVALID_ARGUMENT);
  EXPECT_CALL_FAILS(StartTcpServer("127.0.0.1", 0xFFFFFFFFu), 0, TS_ERR_INVALID_ARGUMENT);
  expect_not_started();
}

TEST_F(BadServerInputTest, StartTwice) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int threads = thread_count();
  EXPECT_CALL_FAILS(StartTcpServer("127.0.0.1", 0), 0, TS_ERR_ALREADY_ACTIVE);
  EXPECT_EQ(IsTcpServerActive(), 1);
  EXPECT_EQ(GetServerPort(), port_) << "the running server's port changed";
  EXPECT_EQ(thread_count(), threads);
  expect_echo_works();
}

void expect_not_running_calls_fail() {
  EXPECT_EQ(GetServerPort(), 0u);
  EXPECT_EQ(IsTcpServerActive(), 0);
  EXPECT_EQ(GetWorkerCount(), 0);
  EXPECT_EQ(GetLinkCount(), 0);
  EXPECT_CALL_FAILS(PostBroadcast("x", 1), -1, TS_ERR_NOT_ACTIVE);
  EXPECT_CALL_FAILS(CloseLinkById(1), 0, TS_ERR_NOT_ACTIVE);
  EXPECT_CALL_FAILS(SendBufferById(1, "x", 1), 0, TS_ERR_NOT_ACTIVE);
  void* mem = GetIOMem();
  ASSERT_NE(mem, nullptr) << "the pool is usable without a server: " << GetLastErrorText();
  EXPECT_CALL_FAILS(PostSendById(1, mem, 1), 0, TS_ERR_NOT_ACTIVE);
  EXPECT_EQ(FreeIOMem(mem), 1) << "a failed send leaves the buffer with the caller";
  EXPECT_CALL_FAILS(GetWorkerID(1), 0, TS_ERR_INVALID_ARGUMENT);
}

TEST_F(BadServerInputTest, CallsBeforeStart) { expect_not_running_calls_fail(); }

TEST_F(BadServerInputTest, CallsAfterStop) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  ASSERT_TRUE(stop_server());
  expect_not_running_calls_fail();
  EXPECT_EQ(StopTcpServer(), 1) << "stopping a stopped server is not an error";
}

TEST_F(BadServerInputTest, StopExWithNegativeTimeout) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_CALL_FAILS(StopTcpServerEx(-2), 0, TS_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(IsTcpServerActive(), 1);
}

TEST_F(BadServerInputTest, UnknownOption) {
  EXPECT_CALL_FAILS(SetServerOption(0, 1), 0, TS_ERR_UNKNOWN_OPTION);
  EXPECT_CALL_FAILS(SetServerOption(9999, 1), 0, TS_ERR_UNKNOWN_OPTION);
  EXPECT_CALL_FAILS(GetServerOption(9999), int64_t{-1}, TS_ERR_UNKNOWN_OPTION);
  int64_t lo = 7, hi = 7;
  EXPECT_CALL_FAILS(GetServerOptionRange(9999, &lo, &hi), 0, TS_ERR_UNKNOWN_OPTION);
  EXPECT_EQ(lo, 7);
  EXPECT_EQ(hi, 7);
}

TEST_F(BadServerInputTest, OptionOutOfRange) {
  for (const OptionDefault& d : kOptionDefaults) {
    SCOPED_TRACE("option " + std::to_string(d.option));
    int64_t lo = 0, hi = 0;
    ASSERT_EQ(GetServerOptionRange(d.option, &lo, &hi), 1) << GetLastErrorText();
    ASSERT_LE(lo, hi);
    const int64_t before = GetServerOption(d.option);
    EXPECT_GE(before, lo);
    EXPECT_LE(before, hi);
    for (int64_t bad : {lo - 1, hi + 1}) {
      prime_last_error(TS_ERR_OPTION_RANGE);
      EXPECT_EQ(SetServerOption(d.option, bad), 0) << "value " << bad;
      EXPECT_EQ(GetLastErrorCode(), TS_ERR_OPTION_RANGE) << GetLastErrorText();
      EXPECT_STRNE(GetLastErrorText(), "");
      EXPECT_EQ(GetServerOption(d.option), before) << "a refused value was stored";
    }
    // The bounds themselves are accepted.
    EXPECT_EQ(SetServerOption(d.option, lo), 1) << GetLastErrorText();
    EXPECT_EQ(SetServerOption(d.option, hi), 1) << GetLastErrorText();
    EXPECT_EQ(SetServerOption(d.option, before), 1);
  }
}

TEST_F(BadServerInputTest, OptionWhileActive) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  for (const OptionDefault& d : kOptionDefaults) {
    if (d.option == TS_OPT_LOG_LEVEL) continue;  // documented to apply at once
    SCOPED_TRACE("option " + std::to_string(d.option));
    int64_t lo = 0, hi = 0;
    ASSERT_EQ(GetServerOptionRange(d.option, &lo, &hi), 1);
    const int64_t before = GetServerOption(d.option);
    const int64_t other = before != lo ? lo : hi;
    if (other == before) continue;  // a one-value option: nothing to change
    EXPECT_CALL_FAILS(SetServerOption(d.option, other), 0, TS_ERR_ALREADY_ACTIVE);
    EXPECT_EQ(GetServerOption(d.option), before);
  }
  EXPECT_EQ(IsTcpServerActive(), 1);
  expect_echo_works();
}

int32_t TS_CALL not_an_echo(TcpLink* link, uint8_t*, int32_t) {
  SendBuffer(link, "WRONG", 5);
  return 1;
}
int32_t TS_CALL refuse_all(TcpLink*) { return 0; }

TEST_F(BadServerInputTest, CallbacksWhileActive) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  prime_last_error(TS_ERR_ALREADY_ACTIVE);
  SetEventProc(not_an_echo, nullptr, nullptr, nullptr, nullptr);  // returns nothing: check the error
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_ALREADY_ACTIVE) << GetLastErrorText();
  EXPECT_CALL_FAILS(SetConnectProc(refuse_all), 0, TS_ERR_ALREADY_ACTIVE);
  EXPECT_CALL_FAILS(SetThreadExitProc(nullptr), 0, TS_ERR_ALREADY_ACTIVE);
  expect_echo_works();  // still the built-in echo, still accepting
}

TEST_F(BadServerInputTest, LocalIPBufferTooSmall) {
  char buf[64];
  std::memset(buf, '#', sizeof buf);
  EXPECT_CALL_FAILS(GetLocalIP(0, buf, 1), -1, TS_ERR_BUFFER_TOO_SMALL);
  EXPECT_CALL_FAILS(GetLocalIP(1, buf, 4), -1, TS_ERR_BUFFER_TOO_SMALL);
  for (char ch : buf) EXPECT_EQ(ch, '#') << "a failed GetLocalIP wrote to the buffer";
  EXPECT_CALL_FAILS(GetLocalIP(0, nullptr, 64), -1, TS_ERR_INVALID_ARGUMENT);

  // With room it works: an IPv4 literal, its length returned.
  int32_t n = GetLocalIP(0, buf, sizeof buf);
  ASSERT_GT(n, 0) << GetLastErrorText();
  EXPECT_EQ(static_cast<size_t>(n), std::strlen(buf));
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, buf, &a), 1) << buf;
}

TEST_F(BadServerInputTest, WorkerIndexOutOfRange) {
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  ASSERT_EQ(GetWorkerCount(), 2);
  EXPECT_CALL_FAILS(GetWorkerID(0), 0, TS_ERR_INVALID_ARGUMENT);
  EXPECT_CALL_FAILS(GetWorkerID(3), 0, TS_ERR_INVALID_ARGUMENT);
  EXPECT_CALL_FAILS(GetWorkerID(-1), 0, TS_ERR_INVALID_ARGUMENT);
  EXPECT_NE(GetWorkerID(1), 0) << "GetWorkerID(1) is 0 right after StartTcpServer returned";
  EXPECT_NE(GetWorkerID(2), 0) << "GetWorkerID(2) is 0 right after StartTcpServer returned";
}

TEST_F(BadServerInputTest, UnknownCounter) {
  EXPECT_CALL_FAILS(GetServerCounter(0), int64_t{-1}, TS_ERR_INVALID_ARGUMENT);
  EXPECT_CALL_FAILS(GetServerCounter(999), int64_t{-1}, TS_ERR_INVALID_ARGUMENT);
  EXPECT_CALL_FAILS(GetServerCounter(-3), int64_t{-1}, TS_ERR_INVALID_ARGUMENT);
  for (int c = TS_COUNTER_BYTES_IN; c <= TS_COUNTER_RECV_PAUSES; ++c) EXPECT_GE(GetServerCounter(c), 0) << c;
}

}  // namespace
