// Fault: the port is taken. While another process listens on it, StartTcpServer fails with
// TS_ERR_ADDRESS_IN_USE and leaves nothing behind (no thread, no descriptor, still stopped);
// once that process is gone the same port starts. A restart on the port the server just used,
// with its old connections still in TIME_WAIT, works too (SO_REUSEADDR).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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

class PortInUseTest : public ServerTest {
 protected:
  void expect_echo(const std::string& text) {
    BlockingClient c;
    ASSERT_TRUE(c.connect(port_));
    ASSERT_TRUE(c.send_all(text));
    std::vector<uint8_t> got;
    ASSERT_TRUE(c.recv_exact(text.size(), &got, 5s));
    EXPECT_EQ(std::string(got.begin(), got.end()), text);
  }
};

TEST_F(PortInUseTest, StartFailsCleanlyWhileAnotherProcessHoldsThePortThenSucceeds) {
  // The holder: a child process listening on an ephemeral port, until we close its pipe.
  int to_parent[2], to_child[2];
  ASSERT_EQ(pipe(to_parent), 0);
  ASSERT_EQ(pipe(to_child), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(to_parent[0]);
    close(to_child[1]);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::listen(fd, 8) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      port = ntohs(addr.sin_port);
    if (write(to_parent[1], &port, sizeof port) != sizeof port) _exit(2);
    char c;
    while (read(to_child[0], &c, 1) > 0) {
    }  // EOF: the parent is done
    _exit(0);
  }
  close(to_parent[1]);
  close(to_child[0]);
  uint16_t port = 0;
  ASSERT_EQ(read(to_parent[0], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  close(to_parent[0]);
  ASSERT_NE(port, 0) << "the holder could not listen";

  const int fds = open_fd_count(), threads = thread_count();
  for (int attempt = 0; attempt < 3; ++attempt) {
    EXPECT_CALL_FAILS(StartTcpServer("127.0.0.1", port), 0, TS_ERR_ADDRESS_IN_USE);
    EXPECT_NE(std::string(GetLastErrorText()).find(std::to_string(port)), std::string::npos)
        << "the error should name the port: " << GetLastErrorText();
  }
  EXPECT_EQ(IsTcpServerActive(), 0);
  EXPECT_EQ(GetServerPort(), 0u);
  EXPECT_TRUE(fd_count_back_to(fds));
  EXPECT_EQ(thread_count(), threads);
  EXPECT_EQ(GetIOMemUse(), 0.0);
  EXPECT_EQ(GetLinkCount(), 0);

  close(to_child[1]);  // the holder exits
  int status = 0;
  ASSERT_TRUE(wait_until([&] { return waitpid(pid, &status, WNOHANG) == pid; }, 10s));
  ASSERT_EQ(StartTcpServer("127.0.0.1", port), 1) << GetLastErrorText();
  port_ = port;
  ASSERT_NO_FATAL_FAILURE(expect_echo("the port is ours now"));
}

TEST_F(PortInUseTest, RestartOnTheSamePortWhileItsOldConnectionsAreInTimeWait) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  const uint16_t port = port_;
  {
    std::vector<BlockingClient> clients(20);
    for (auto& c : clients) ASSERT_TRUE(c.connect(port_));
    for (auto& c : clients) {
      ASSERT_TRUE(c.send_all("x"));
      std::vector<uint8_t> got;
      ASSERT_TRUE(c.recv_exact(1, &got, 5s));
    }
    ASSERT_TRUE(stop_server());  // the server closes first: its side goes to TIME_WAIT
    for (auto& c : clients) EXPECT_TRUE(c.wait_closed(5s));
  }
  ASSERT_EQ(StartTcpServer("127.0.0.1", port), 1)
      << "restart on port " << port << " failed: " << GetLastErrorText();
  port_ = port;
  ASSERT_NO_FATAL_FAILURE(expect_echo("restarted"));
}

}  // namespace
