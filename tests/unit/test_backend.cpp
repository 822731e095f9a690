// TS_OPT_BACKEND: the server runs on the backend the tests ask for (TCPSERVER_TEST_BACKEND, so
// CI proves which backend each run of the suites used), GetServerOption tells the one in use
// while running, a backend the platform lacks fails StartTcpServer clearly and leaves nothing
// behind, and TS_BACKEND_AUTO follows the TCPSERVER_BACKEND environment variable.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/blocking_client.h"
#include "support/error_check.h"
#include "support/proc_stats.h"
#include "support/server_fixture.h"

using namespace tstest;

namespace {

class BackendTest : public ServerTest {
 protected:
  void expect_echo_works() {
    BlockingClient c;
    ASSERT_TRUE(c.connect(port_));
    ASSERT_TRUE(c.send_all("which backend?"));
    std::vector<uint8_t> got;
    ASSERT_TRUE(c.recv_exact(14, &got));
    EXPECT_EQ(std::string(got.begin(), got.end()), "which backend?");
  }
  // A refused start leaves no server, thread or descriptor behind, and a valid one works.
  void expect_refused(int64_t backend, const char* text_names) {
    ASSERT_EQ(SetServerOption(TS_OPT_BACKEND, backend), 1) << GetLastErrorText();
    EXPECT_CALL_FAILS(StartTcpServer("127.0.0.1", 0), 0, TS_ERR_NOT_SUPPORTED);
    EXPECT_NE(std::string(GetLastErrorText()).find(text_names), std::string::npos)
        << "the error should name what this build has: " << GetLastErrorText();
    EXPECT_EQ(IsTcpServerActive(), 0);
    EXPECT_EQ(GetServerPort(), 0u);
    EXPECT_EQ(thread_count(), baseline_threads_);
    EXPECT_TRUE(fd_count_back_to(baseline_fds_));
    EXPECT_EQ(GetServerOption(TS_OPT_BACKEND), backend) << "a refused value must stay as set";
  }
};

TEST_F(BackendTest, ServesOnTheBackendTheTestsAskFor) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t in_use = GetServerOption(TS_OPT_BACKEND);
  std::printf("[ backend  ] TCPSERVER_TEST_BACKEND=%s: the server runs on backend %lld\n",
              std::getenv("TCPSERVER_TEST_BACKEND") ? std::getenv("TCPSERVER_TEST_BACKEND") : "",
              static_cast<long long>(in_use));
  expect_test_backend_in_use(nullptr);
  expect_echo_works();
  ASSERT_TRUE(stop_server());
  EXPECT_EQ(GetServerOption(TS_OPT_BACKEND), test_backend())
      << "stopped, the option reads as set again";
}

TEST_F(BackendTest, RangeCoversEveryBackendName) {
  int64_t lo = -1, hi = -1;
  ASSERT_EQ(GetServerOptionRange(TS_OPT_BACKEND, &lo, &hi), 1) << GetLastErrorText();
  EXPECT_EQ(lo, TS_BACKEND_AUTO);
  EXPECT_EQ(hi, TS_BACKEND_IOCP);
  EXPECT_CALL_FAILS(SetServerOption(TS_OPT_BACKEND, TS_BACKEND_IOCP + 1), 0, TS_ERR_OPTION_RANGE);
}

#ifdef _WIN32

TEST_F(BackendTest, LinuxBackendsFailStartOnWindows) {
  expect_refused(TS_BACKEND_EPOLL, "TS_BACKEND_IOCP");
  expect_refused(TS_BACKEND_IO_URING, "TS_BACKEND_IOCP");
  ASSERT_EQ(SetServerOption(TS_OPT_BACKEND, TS_BACKEND_IOCP), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_EQ(GetServerOption(TS_OPT_BACKEND), TS_BACKEND_IOCP);
  expect_echo_works();
}

#else

TEST_F(BackendTest, IocpFailsStartOnLinux) {
  expect_refused(TS_BACKEND_IOCP, "TS_BACKEND_EPOLL");
}

TEST_F(BackendTest, EpollServesWhenAskedFor) {
  ASSERT_EQ(SetServerOption(TS_OPT_BACKEND, TS_BACKEND_EPOLL), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_EQ(GetServerOption(TS_OPT_BACKEND), TS_BACKEND_EPOLL);
  expect_echo_works();
}

// Automatic picks io_uring exactly when asking for io_uring works; when it does not, asking
// for it fails with the reason (the fallback itself: UringFallbackTest, which makes the kernel
// refuse).
TEST_F(BackendTest, AutomaticIsIoUringExactlyWhereAskingForIoUringWorks) {
  ASSERT_EQ(SetServerOption(TS_OPT_BACKEND, TS_BACKEND_IO_URING), 1);
  const bool uring_works = StartTcpServer("127.0.0.1", 0) == 1;
  if (uring_works) {
    port_ = static_cast<uint16_t>(GetServerPort());
    EXPECT_EQ(GetServerOption(TS_OPT_BACKEND), TS_BACKEND_IO_URING);
    expect_echo_works();
    ASSERT_TRUE(stop_server());
  } else {
    EXPECT_EQ(GetLastErrorCode(), TS_ERR_NOT_SUPPORTED) << GetLastErrorText();
    EXPECT_NE(std::string(GetLastErrorText()).find("TS_BACKEND_EPOLL"), std::string::npos)
        << GetLastErrorText();
  }
  ASSERT_EQ(SetServerOption(TS_OPT_BACKEND, TS_BACKEND_AUTO), 1);
  unsetenv("TCPSERVER_BACKEND");
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_EQ(GetServerOption(TS_OPT_BACKEND), uring_works ? TS_BACKEND_IO_URING : TS_BACKEND_EPOLL);
  expect_echo_works();
  ASSERT_TRUE(stop_server());
}

// Unsets TCPSERVER_BACKEND however the test ends (tests share a process without CTest).
struct EnvironmentGuard {
  ~EnvironmentGuard() { unsetenv("TCPSERVER_BACKEND"); }
};

TEST_F(BackendTest, AutomaticFollowsTheEnvironmentVariable) {
  EnvironmentGuard guard;
  ASSERT_EQ(SetServerOption(TS_OPT_BACKEND, TS_BACKEND_AUTO), 1);
  ASSERT_EQ(setenv("TCPSERVER_BACKEND", "epoll", 1), 0);
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_EQ(GetServerOption(TS_OPT_BACKEND), TS_BACKEND_EPOLL);
  expect_echo_works();
  ASSERT_TRUE(stop_server());

  // The option, when set, wins over the environment.
  ASSERT_EQ(setenv("TCPSERVER_BACKEND", "iocp", 1), 0);
  ASSERT_EQ(SetServerOption(TS_OPT_BACKEND, TS_BACKEND_EPOLL), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_EQ(GetServerOption(TS_OPT_BACKEND), TS_BACKEND_EPOLL);
  ASSERT_TRUE(stop_server());

  // A backend the environment asks for that is not here fails as the option would, saying so.
  ASSERT_EQ(SetServerOption(TS_OPT_BACKEND, TS_BACKEND_AUTO), 1);
  EXPECT_CALL_FAILS(StartTcpServer("127.0.0.1", 0), 0, TS_ERR_NOT_SUPPORTED);
  EXPECT_NE(std::string(GetLastErrorText()).find("TCPSERVER_BACKEND"), std::string::npos)
      << GetLastErrorText();

  // An unknown name is ignored, with a warning.
  ASSERT_EQ(setenv("TCPSERVER_BACKEND", "kqueue", 1), 0);
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t in_use = GetServerOption(TS_OPT_BACKEND);
  EXPECT_TRUE(in_use == TS_BACKEND_EPOLL || in_use == TS_BACKEND_IO_URING) << in_use;
  EXPECT_TRUE(log_contains("TCPSERVER_BACKEND='kqueue' is not a backend"));
}

#endif

}  // namespace
