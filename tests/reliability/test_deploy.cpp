// Behind a load balancer: the PROXY protocol (TS_OPT_PROXY_PROTOCOL) gives RemoteIP the client's
// address — from hand-written v1 and v2 headers and from a real haproxy (Debian's) in front of
// the server — and the per-address limit counts clients, not the balancer; a connection without
// a header is refused without a callback. A drain (DrainTcpServer) stops accepting at once, keeps
// serving the open links, loses no byte of a link that closes before the deadline, and closes
// the rest at the deadline. Linux (haproxy, fork/exec).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/blocking_client.h"
#include "support/proc_stats.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::mutex g_mu;
std::vector<std::string> g_peers;  // "ip port" of each OnConnect
std::atomic<int> g_disconnects{0};

int32_t TS_CALL on_connect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_peers.push_back(std::string(link->RemoteIP) + " " + std::to_string(link->RemotePort));
  return 1;
}
void TS_CALL on_disconnect(TcpLink*) { g_disconnects++; }

std::vector<std::string> peers() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_peers;
}

// A blocking client from `local_ip` (port 0) to 127.0.0.1:port; -1 on failure.
int connect_from(const char* local_ip, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{}, addr{};
  local.sin_family = addr.sin_family = AF_INET;
  inet_pton(AF_INET, local_ip, &local.sin_addr);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  addr.sin_port = htons(port);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads exactly n bytes (SO_RCVTIMEO bounds each wait); "" on EOF or error.
std::string recv_n(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, &out[got], n - got, 0);
    if (r <= 0) return "";
    got += static_cast<size_t>(r);
  }
  return out;
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class DeployTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    std::lock_guard<std::mutex> lock(g_mu);
    g_peers.clear();
    g_disconnects = 0;
  }
  void start_with_proxy() {
    ASSERT_EQ(SetServerOption(TS_OPT_PROXY_PROTOCOL, 1), 1);
    SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);  // built-in echo
    ASSERT_EQ(SetConnectProc(on_connect), 1);
    ASSERT_NO_FATAL_FAILURE(start_server());
  }
};

TEST_F(DeployTest, AProxyV1HeaderMakesRemoteIPTheClientsAndTheBytesAfterItAreTheLinks) {
  ASSERT_NO_FATAL_FAILURE(start_with_proxy());
  int fd = connect_from("127.0.0.1", port_);
  ASSERT_GE(fd, 0);
  // The header and the first bytes in one write, as a balancer may send them.
  ASSERT_TRUE(send_all(fd, "PROXY TCP4 198.51.100.7 127.0.0.1 43210 443\r\nping"));
  EXPECT_EQ(recv_n(fd, 4), "ping");
  ASSERT_TRUE(wait_until([] { return peers().size() == 1; }, 10s));
  EXPECT_EQ(peers()[0], "198.51.100.7 43210");
  ::close(fd);
}

TEST_F(DeployTest, AProxyV2HeaderSentInPiecesMakesRemoteIPTheClients) {
  ASSERT_NO_FATAL_FAILURE(start_with_proxy());
  int fd = connect_from("127.0.0.1", port_);
  ASSERT_GE(fd, 0);
  const uint8_t header[] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54,
                            0x0A, 0x21, 0x11, 0x00, 0x0C, 203, 0, 113, 9, 127, 0, 0, 1,
                            0x30, 0x39, 0x01, 0xBB};
  // Every byte but the last, one write each; then, once the server has read them (its socket
  // holds none unread), the connection is still not a link: the header has not ended.
  for (size_t i = 0; i + 1 < sizeof header; ++i)
    ASSERT_EQ(::send(fd, &header[i], 1, MSG_NOSIGNAL), 1);
  ASSERT_TRUE(wait_until([&] { return tcp_receive_queue(fd) == 0; }, 10s))
      << "the server did not read the first " << sizeof header - 1 << " header bytes";
  EXPECT_EQ(GetLinkCount(), 0);
  EXPECT_TRUE(peers().empty());
  ASSERT_EQ(::send(fd, &header[sizeof header - 1], 1, MSG_NOSIGNAL), 1);
  ASSERT_TRUE(send_all(fd, "pong"));
  EXPECT_EQ(recv_n(fd, 4), "pong");
  ASSERT_TRUE(wait_until([] { return peers().size() == 1; }, 10s));
  EXPECT_EQ(peers()[0], "203.0.113.9 12345");
  EXPECT_EQ(GetLinkCount(), 1);
  ::close(fd);
}

TEST_F(DeployTest, WithoutAHeaderAConnectionIsRefusedWithoutACallback) {
  ASSERT_NO_FATAL_FAILURE(start_with_proxy());
  const int64_t refused0 = GetServerCounter(TS_COUNTER_REFUSED);
  int fd = connect_from("127.0.0.1", port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(recv_n(fd, 1), "") << "the server must close it";
  EXPECT_TRUE(wait_until([&] { return GetServerCounter(TS_COUNTER_REFUSED) == refused0 + 1; }, 10s));
  EXPECT_TRUE(peers().empty());
  EXPECT_EQ(g_disconnects.load(), 0);
  EXPECT_TRUE(log_contains("PROXY protocol header"));
  ::close(fd);
}

TEST_F(DeployTest, ThePerAddressLimitCountsTheClientsNotTheBalancer) {
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_LINKS_PER_ADDRESS, 1), 1);
  ASSERT_NO_FATAL_FAILURE(start_with_proxy());
  const int64_t address_refused0 = GetServerCounter(TS_COUNTER_ADDRESS_REFUSED);
  // Three connections from the same balancer address: two clients, one of them twice.
  int a = connect_from("127.0.0.1", port_), b = connect_from("127.0.0.1", port_),
      c = connect_from("127.0.0.1", port_);
  ASSERT_TRUE(a >= 0 && b >= 0 && c >= 0);
  ASSERT_TRUE(send_all(a, "PROXY TCP4 198.51.100.1 127.0.0.1 1000 80\r\n"));
  ASSERT_TRUE(send_all(b, "PROXY TCP4 198.51.100.2 127.0.0.1 1000 80\r\n"));
  ASSERT_TRUE(wait_until([] { return peers().size() == 2; }, 10s));
  ASSERT_TRUE(send_all(c, "PROXY TCP4 198.51.100.1 127.0.0.1 1001 80\r\n"));
  EXPECT_EQ(recv_n(c, 1), "") << "a second link of 198.51.100.1 must be refused";
  // The refusal is counted as the server closes the connection, which the client may see first.
  EXPECT_TRUE(wait_until(
      [&] { return GetServerCounter(TS_COUNTER_ADDRESS_REFUSED) == address_refused0 + 1; }, 10s));
  EXPECT_EQ(peers().size(), 2u);
  ::close(a), ::close(b), ::close(c);
}

// haproxy in front, sending the PROXY header (v1 on one frontend, v2 on another): the links see
// the client's address (127.0.0.5), not haproxy's (127.0.0.1).
TEST_F(DeployTest, BehindARealHaproxyRemoteIPIsTheClients) {
  ASSERT_EQ(::access("/usr/sbin/haproxy", X_OK), 0) << "apt-get install haproxy";
  ASSERT_NO_FATAL_FAILURE(start_with_proxy());
  const uint16_t p1 = free_port(), p2 = free_port();
  char dir[] = "/tmp/tcpserver-haproxy-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string cfg = std::string(dir) + "/haproxy.cfg";
  {
    std::ofstream f(cfg);
    f << "global\n  maxconn 100\n"
      << "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n"
      << "frontend v1\n  bind 127.0.0.1:" << p1 << "\n  default_backend v1\n"
      << "backend v1\n  server s1 127.0.0.1:" << port_ << " send-proxy\n"
      << "frontend v2\n  bind 127.0.0.1:" << p2 << "\n  default_backend v2\n"
      << "backend v2\n  server s2 127.0.0.1:" << port_ << " send-proxy-v2\n";
  }
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/usr/sbin/haproxy", "haproxy", "-db", "-f", cfg.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  struct Reaper {
    pid_t pid;
    std::string dir;
    ~Reaper() {
      ::kill(pid, SIGTERM);
      int st;
      ::waitpid(pid, &st, 0);
      std::remove((dir + "/haproxy.cfg").c_str());
      ::rmdir(dir.c_str());
    }
  } reaper{pid, dir};
  for (uint16_t front : {p1, p2}) {
    int fd = -1;
    ASSERT_TRUE(wait_until([&] {
      fd = connect_from("127.0.0.5", front);
      return fd >= 0;
    }, 30s, 50ms)) << "haproxy did not listen on " << front;
    ASSERT_TRUE(send_all(fd, "through haproxy"));
    EXPECT_EQ(recv_n(fd, 15), "through haproxy");
    ::close(fd);
  }
  ASSERT_TRUE(wait_until([] { return peers().size() == 2; }, 10s));
  for (const std::string& peer : peers()) EXPECT_EQ(peer.substr(0, 10), "127.0.0.5 ") << peer;
}

// A drain under load: every link that closes by itself before the deadline gets all its echoes.
TEST_F(DeployTest, ADrainServesOpenLinksToTheirEndAndRefusesNewOnes) {
  constexpr int kClients = 20, kRounds = 200;
  SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    fds.push_back(connect_from("127.0.0.1", port_));
    ASSERT_GE(fds.back(), 0);
  }
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == kClients; }, 10s));
  std::atomic<int32_t> drained{-2};
  std::thread drainer([&] { drained = DrainTcpServer(60000); });
  // New connections are refused by the OS once the drain began (a probe made before that is
  // a link that closes by itself).
  int probes_in = 0;
  ASSERT_TRUE(wait_until([&] {
    int fd = connect_from("127.0.0.1", port_);
    if (fd >= 0) ::close(fd), ++probes_in;
    return fd < 0;
  }, 10s)) << "the listener still accepts during the drain";
  // The open links go on: each does its rounds, every byte checked, then closes.
  std::atomic<int> bad{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] {
      for (int r = 0; r < kRounds; ++r) {
        std::string msg = "client " + std::to_string(i) + " round " + std::to_string(r) + ";";
        if (!send_all(fds[i], msg) || recv_n(fds[i], msg.size()) != msg) {
          bad++;
          break;
        }
      }
      ::close(fds[i]);
    });
  for (auto& t : clients) t.join();
  drainer.join();
  EXPECT_EQ(bad.load(), 0) << "a link lost bytes during the drain";
  EXPECT_EQ(drained.load(), 0) << "every link left by itself before the deadline";
  EXPECT_EQ(IsTcpServerActive(), 0);
  EXPECT_GE(g_disconnects.load(), kClients);
  EXPECT_LE(g_disconnects.load(), kClients + probes_in);
}

TEST_F(DeployTest, ADrainClosesWhatIsStillOpenAtItsDeadline) {
  SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  int stays = connect_from("127.0.0.1", port_);
  ASSERT_GE(stays, 0);
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 1; }, 10s));
  const auto t0 = Clock::now();
  EXPECT_EQ(DrainTcpServer(500), 1);
  EXPECT_GE(ms_since(t0), 450);
  EXPECT_EQ(GetCloseCount(TS_CLOSE_SERVER_STOP), 1);
  EXPECT_EQ(DrainTcpServer(100), -1);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_NOT_ACTIVE);
  ::close(stays);
}

}  // namespace
