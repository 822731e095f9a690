// The base of every engine test. The API drives one process-global server, so each test
// starts from a clean slate (no callbacks, default options, captured log) and TearDown always
// stops the server, with a deadline, and checks every IO buffer came back.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tcpserver.h"

namespace tstest {

// The documented defaults (tcpserver.h), restored before every test.
struct OptionDefault {
  int32_t option;
  int64_t value;
};
extern const std::vector<OptionDefault> kOptionDefaults;

// The backend every server of the tests runs on: TCPSERVER_TEST_BACKEND (epoll, io_uring, iocp
// or auto; unset or empty = auto) as a TS_BACKEND_* value. CI runs the suites once per backend
// with it; an unknown name aborts the test program with a message.
int64_t test_backend();
// Every server a test makes gets this (the fixtures below do it).
bool apply_test_backend(TcpServerHandle* server);  // nullptr: the default server
// Fails the test unless the running server `server` (nullptr: the default one) serves on the
// backend the tests asked for (any real one for auto).
void expect_test_backend_in_use(TcpServerHandle* server);

// Log lines the engine reported (SetLogProc), for tests that check what was logged.
std::vector<std::string> captured_log();
bool log_contains(const std::string& needle);

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // No callbacks, documented option defaults (the server must be stopped).
  void restore_defaults();

  // StartTcpServer("127.0.0.1", 0); sets port_. Use with ASSERT_NO_FATAL_FAILURE.
  void start_server();
  // StopTcpServerEx in a bounded loop; false (and a failure) if it did not stop within
  // `timeout_ms`. A stuck stop aborts the process so CTest reports it instead of hanging.
  bool stop_server(int timeout_ms = 30000);

  uint16_t port_ = 0;
  int baseline_fds_ = 0;      // before the test started anything
  int baseline_threads_ = 0;
};

// Sets the calling thread's last error to something unrelated (`code` is never it), so a
// following check proves the error came from the call under test.
void prime_last_error(int32_t not_this_code);

}  // namespace tstest
