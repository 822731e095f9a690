#include "support/server_fixture.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "support/proc_stats.h"
#include "support/wait.h"

namespace tstest {

const std::vector<OptionDefault> kOptionDefaults = {
    {TS_OPT_MAX_LINKS, 3000},
    {TS_OPT_IO_BUFFER_SIZE, 2048},
    {TS_OPT_IO_BUFFER_COUNT, 10000},
    {TS_OPT_IDLE_TIMEOUT_MS, 60000},
    {TS_OPT_WORKER_THREADS, 0},
    {TS_OPT_LISTEN_BACKLOG, 1024},
    {TS_OPT_SEND_QUEUE_LIMIT, 16 * 1024 * 1024},
    {TS_OPT_SEND_QUEUE_POLICY, TS_QUEUE_CLOSE_LINK},
    {TS_OPT_TCP_NODELAY, 1},
    {TS_OPT_KEEPALIVE, 0},
    {TS_OPT_REUSEPORT, 0},
    {TS_OPT_REUSEADDR, 1},
    {TS_OPT_FRAMING, TS_FRAMING_RAW},
    {TS_OPT_LOG_LEVEL, TS_LOG_WARN},
    {TS_OPT_MAX_MESSAGE_SIZE, 16 * 1024 * 1024},
    {TS_OPT_KEEPALIVE_IDLE_S, 60},
    {TS_OPT_KEEPALIVE_INTERVAL_S, 10},
    {TS_OPT_KEEPALIVE_COUNT, 5},
    {TS_OPT_IPV6_ONLY, 0},
    {TS_OPT_MEMORY_BUDGET, 512 * 1024 * 1024},
    {TS_OPT_SEND_HIGH_WATER, 256 * 1024},
    {TS_OPT_MESSAGE_TIMEOUT_MS, 30000},
    {TS_OPT_MAX_LINKS_PER_ADDRESS, 0},
    {TS_OPT_ACCEPT_RATE, 0},
    {TS_OPT_TLS, 0},
    {TS_OPT_TLS_MIN_VERSION, TS_TLS_1_2},
    {TS_OPT_TLS_CLIENT_CERT, TS_TLS_CLIENT_CERT_NONE},
    {TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS, 10000},
    {TS_OPT_TLS_MAX_HANDSHAKES, 1000},
    {TS_OPT_TLS_SESSION_TICKETS, 1},
    {TS_OPT_PROXY_PROTOCOL, 0},
};

namespace {

std::mutex g_log_mu;
std::vector<std::string> g_log;

void TS_CALL capture_log(int32_t level, const char* text) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (g_log.size() < 10000) g_log.emplace_back(std::to_string(level) + " " + (text ? text : ""));
}

}  // namespace

std::vector<std::string> captured_log() {
  std::lock_guard<std::mutex> lock(g_log_mu);
  return g_log;
}

bool log_contains(const std::string& needle) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  for (const std::string& line : g_log)
    if (line.find(needle) != std::string::npos) return true;
  return false;
}

void prime_last_error(int32_t not_this_code) {
  if (not_this_code != TS_ERR_UNKNOWN_OPTION) GetServerOption(987654);  // TS_ERR_UNKNOWN_OPTION
  else GetServerCounter(987654);                                      // TS_ERR_INVALID_ARGUMENT
}

void ServerTest::SetUp() {
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log.clear();
  }
  SetLogProc(capture_log);
  // A previous test in the same process (when run without CTest) may have left it running.
  ASSERT_TRUE(stop_server());
  ASSERT_NO_FATAL_FAILURE(restore_defaults());
  // Some runtimes (ThreadSanitizer) start a helper thread at the first thread creation; make
  // that happen before the baseline so it is not mistaken for an engine thread.
  std::thread([] {}).join();
#ifdef _WIN32
  // The first Start of a process takes handles kept until it ends (Winsock's extension
  // functions, the thread runtime's objects): one cycle first, so the baseline holds them.
  ASSERT_EQ(StartTcpServer("127.0.0.1", 0), 1) << GetLastErrorText();
  ASSERT_TRUE(stop_server());
  baseline_fds_ = settled_fd_count();
#else
  baseline_fds_ = open_fd_count();
#endif
  baseline_threads_ = thread_count();
}

void ServerTest::restore_defaults() {
  SetEventProc(nullptr, nullptr, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(nullptr), 1) << GetLastErrorText();
  ASSERT_EQ(SetThreadExitProc(nullptr), 1) << GetLastErrorText();
  for (const OptionDefault& d : kOptionDefaults)
    ASSERT_EQ(SetServerOption(d.option, d.value), 1)
        << "restoring option " << d.option << ": " << GetLastErrorText();
}

void ServerTest::TearDown() {
  EXPECT_TRUE(stop_server());
  // Every test frees what it takes, so after a stop the whole pool is free again.
  EXPECT_EQ(GetIOMemFree(), GetServerOption(TS_OPT_IO_BUFFER_COUNT))
      << "IO buffers were not returned to the pool after StopTcpServer";
  restore_defaults();  // the next test in this process (without CTest) starts clean too
  if (HasFailure()) {
    std::vector<std::string> lines = captured_log();
    std::fprintf(stderr, "--- engine log (%zu lines) ---\n", lines.size());
    for (size_t i = 0; i < lines.size() && i < 200; ++i) std::fprintf(stderr, "%s\n", lines[i].c_str());
  }
}

void ServerTest::start_server() {
  ASSERT_EQ(StartTcpServer("127.0.0.1", 0), 1)
      << "StartTcpServer failed: " << GetLastErrorCode() << " " << GetLastErrorText();
  ASSERT_EQ(IsTcpServerActive(), 1);
  port_ = static_cast<uint16_t>(GetServerPort());
  ASSERT_NE(port_, 0) << "GetServerPort() is 0 after a successful start";
}

bool ServerTest::stop_server(int timeout_ms) {
  auto start = Clock::now();
  for (;;) {
    if (StopTcpServerEx(100) == 1) return true;
    if (GetLastErrorCode() != TS_ERR_TIMEOUT) {
      ADD_FAILURE() << "StopTcpServerEx failed: " << GetLastErrorCode() << " " << GetLastErrorText();
      return false;
    }
    if (ms_since(start) > timeout_ms) {
      ADD_FAILURE() << "StopTcpServer did not finish within " << timeout_ms
                    << " ms (a deadlock?); aborting the test process";
      std::fflush(nullptr);
      std::abort();
    }
  }
}

}  // namespace tstest
