// Socket options reach the sockets: TS_OPT_KEEPALIVE with its idle time, interval and probe
// count on every accepted socket, and TS_OPT_IPV6_ONLY on a listener for all interfaces
// (dual-stack by default: IPv4 clients connect too and show as a.b.c.d).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>

#ifndef _WIN32
#include <dirent.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "support/blocking_client.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::mutex g_mu;
std::string g_remote_ip;
std::atomic<int> g_connects{0};

int32_t TS_CALL on_connect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_remote_ip = link->RemoteIP;
  g_connects++;
  return 1;
}

#ifndef _WIN32
uint16_t port_of(const sockaddr_storage& a) {
  return ntohs(a.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in&>(a).sin_port
                                      : reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
}

// The server's side of a client connection in this process: the socket whose local port is
// the server's and whose peer port is the client's.
int find_accepted_socket(uint16_t server_port, uint16_t client_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  int found = -1;
  while (dirent* e = readdir(dir)) {
    int fd = std::atoi(e->d_name);
    struct stat st;
    if (fd <= 2 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage local{}, peer{};
    socklen_t llen = sizeof local, plen = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) != 0) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) continue;
    if (port_of(local) == server_port && port_of(peer) == client_port) found = fd;
  }
  closedir(dir);
  return found;
}

int int_option(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, name, &v, &len) != 0) return -2;
  return v;
}
#endif

class SocketOptionsTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_connects = 0;
    std::lock_guard<std::mutex> lock(g_mu);
    g_remote_ip.clear();
  }
#ifndef _WIN32
  // Starts on 127.0.0.1, connects `client` and finds the server's socket for it.
  void start_and_connect(BlockingClient& client, int* fd) {
    ASSERT_EQ(SetConnectProc(on_connect), 1);
    ASSERT_NO_FATAL_FAILURE(start_server());
    ASSERT_TRUE(client.connect(port_));
    ASSERT_TRUE(wait_until([] { return g_connects.load() == 1; }, 5s));
    *fd = find_accepted_socket(port_, client.local_port());
    ASSERT_GE(*fd, 0) << "the server's socket for the client was not found";
  }
#endif
};

TEST_F(SocketOptionsTest, KeepAliveTimingIsOnTheAcceptedSocket) {
#ifdef _WIN32
  GTEST_SKIP() << "Windows has no way to read SIO_KEEPALIVE_VALS back, and the accepted socket "
                  "is not reachable from the test; the Linux run checks the values";
#else
  ASSERT_EQ(SetServerOption(TS_OPT_KEEPALIVE, 1), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_KEEPALIVE_IDLE_S, 33), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_KEEPALIVE_INTERVAL_S, 7), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_KEEPALIVE_COUNT, 4), 1);
  BlockingClient client;
  int fd = -1;
  ASSERT_NO_FATAL_FAILURE(start_and_connect(client, &fd));
  EXPECT_EQ(int_option(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE), 33);
  EXPECT_EQ(int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL), 7);
  EXPECT_EQ(int_option(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
#endif
}

TEST_F(SocketOptionsTest, KeepAliveOffByDefault) {
#ifdef _WIN32
  GTEST_SKIP() << "the accepted socket is not reachable from the test on Windows";
#else
  BlockingClient client;
  int fd = -1;
  ASSERT_NO_FATAL_FAILURE(start_and_connect(client, &fd));
  EXPECT_EQ(int_option(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
#endif
}

TEST_F(SocketOptionsTest, KeepAliveOptionRanges) {
  const int32_t options[] = {TS_OPT_KEEPALIVE_IDLE_S, TS_OPT_KEEPALIVE_INTERVAL_S, TS_OPT_KEEPALIVE_COUNT};
  for (int32_t opt : options) {
    int64_t lo = 0, hi = 0;
    ASSERT_EQ(GetServerOptionRange(opt, &lo, &hi), 1);
    EXPECT_EQ(lo, 1) << "option " << opt;
    EXPECT_LE(hi, 32767) << "option " << opt << ": Linux refuses more";
    EXPECT_EQ(SetServerOption(opt, 0), 0);
    EXPECT_EQ(GetLastErrorCode(), TS_ERR_OPTION_RANGE);
  }
}

// Whether this machine can listen on the IPv6 loopback.
bool have_ipv6() {
  socket_t s = tcp_socket(AF_INET6, false);
  if (s == kNoSocket) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close_socket(s);
  return ok;
}

class Ipv6OnlyTest : public SocketOptionsTest, public ::testing::WithParamInterface<int> {};

TEST_P(Ipv6OnlyTest, EmptyIpListenerTakesIpv4OnlyWhenDualStack) {
  if (!have_ipv6()) GTEST_SKIP() << "this machine has no IPv6 loopback (::1)";
  const bool v6_only = GetParam() != 0;
  ASSERT_EQ(SetServerOption(TS_OPT_IPV6_ONLY, GetParam()), 1);
  ASSERT_EQ(SetConnectProc(on_connect), 1);
  // All interfaces (empty IP) on an ephemeral port, for the few seconds of the test.
  ASSERT_EQ(StartTcpServer("", 0), 1) << GetLastErrorText();
  const auto port = static_cast<uint16_t>(GetServerPort());
  BlockingClient v6;
  ASSERT_TRUE(v6.connect_ipv6(port));
  ASSERT_TRUE(wait_until([] { return g_connects.load() == 1; }, 5s));
  {
    std::lock_guard<std::mutex> lock(g_mu);
    EXPECT_EQ(g_remote_ip, "::1");
  }
  BlockingClient v4;
  ::testing::AssertionResult connected = v4.connect(port, 0, 5s);
  if (v6_only) {
    EXPECT_FALSE(connected) << "an IPv4 client reached an IPv6-only listener";
  } else {
    ASSERT_TRUE(connected);
    ASSERT_TRUE(wait_until([] { return g_connects.load() == 2; }, 5s));
    std::lock_guard<std::mutex> lock(g_mu);
    EXPECT_EQ(g_remote_ip, "127.0.0.1") << "a dual-stack IPv4 peer shows as a.b.c.d";
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, Ipv6OnlyTest, ::testing::Values(0, 1),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param ? "Ipv6Only" : "DualStack");
                         });

}  // namespace
