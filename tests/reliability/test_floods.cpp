// Acceptance of the memory budget (issue 14), as an attacker would try it on loopback, with a
// server at its defaults but for what each scenario names:
//  1. clients that send continuously and never read, beside well-behaved ones: memory stays
//     under the budget plus a fixed overhead, the well-behaved ones get every echo (p99
//     latency printed);
//  2. clients that send part of a large framed message and stall: each is closed at the
//     progress timeout; clients that keep sending large messages: closed at the budget, memory
//     bounded as in 1;
//  3. a flood of connections from one address beyond its limit: refused and counted, other
//     addresses served.
// Full size in the release build (1 000 clients, 60 s for scenario 1); under a sanitizer a short
// form, asserting the engine's budget counters (RSS means nothing there: shadow memory).
// The clients are this process's, so RSS includes them: a few MiB of their own.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "reliability_support.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kShort = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kShort = true;
#else
constexpr bool kShort = false;
#endif
#else
constexpr bool kShort = false;
#endif

constexpr int64_t kMiB = 1 << 20;
// What the process holds besides the budget: the IO pool pages the echo touches (10 000 x 2 KiB),
// the link table, thread stacks, the allocator's slack and the clients' own buffers.
constexpr int64_t kOverhead = 96 * kMiB;

// The most the budget may be passed by with `links` links: io_uring sends a write of up to
// 16 KiB to a link with nothing queued with its worker's batch, never refused (it is going out
// now, as a direct write would be), so the budget may be passed by that much per link until
// the completion (README: "Memory budget"). Other backends: not at all.
int64_t budget_slack(int links) {
  return GetServerOption(TS_OPT_BACKEND) == TS_BACKEND_IO_URING ? int64_t{links} * 16384 : 0;
}

std::mutex g_mu;
std::vector<int32_t> g_reasons;
void TS_CALL on_disconnect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_reasons.push_back(link->CloseReason);
}
int reasons(int32_t reason) {
  std::lock_guard<std::mutex> lock(g_mu);
  return static_cast<int>(std::count(g_reasons.begin(), g_reasons.end(), reason));
}
int closed() {
  std::lock_guard<std::mutex> lock(g_mu);
  return static_cast<int>(g_reasons.size());
}
int32_t TS_CALL swallow(TcpLink*, uint8_t*, int32_t) { return 1; }

// A non-blocking client socket to 127.0.0.1:port from `local_ip`, connected (the loopback
// handshake completes within the connect call for a listening server).
int connect_client(uint16_t port, const char* local_ip = "127.0.0.1", int rcvbuf = 4096) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int sndbuf = 64 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in local{}, addr{};
  local.sin_family = addr.sin_family = AF_INET;
  inet_pton(AF_INET, local_ip, &local.sin_addr);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  addr.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Pushes `data` (cycled) to every fd in `fds` that can take it, once; counts what went in and
// marks the ones the server closed (send fails) with -1.
uint64_t push_round(std::vector<int>& fds, const std::vector<uint8_t>& data) {
  uint64_t pushed = 0;
  for (int& fd : fds) {
    if (fd < 0) continue;
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) pushed += static_cast<uint64_t>(n);
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      ::close(fd);
      fd = -1;
    }
  }
  return pushed;
}

void close_all(std::vector<int>& fds) {
  for (int& fd : fds)
    if (fd >= 0) ::close(fd), fd = -1;
}

// Well-behaved clients: ping-pong of 64-byte numbered messages, every echo checked, the
// round-trip times kept for the percentiles.
class PingPong {
 public:
  PingPong(uint16_t port, int count) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < count; ++i) {
      Conn c;
      c.fd = connect_client(port, "127.0.0.2", 64 * 1024);
      conns_.push_back(c);
    }
    for (size_t i = 0; i < conns_.size(); ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      if (conns_[i].fd >= 0) ::epoll_ctl(ep_, EPOLL_CTL_ADD, conns_[i].fd, &ev);
    }
  }
  ~PingPong() {
    for (Conn& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    ::close(ep_);
  }
  bool all_connected() const {
    for (const Conn& c : conns_)
      if (c.fd < 0) return false;
    return true;
  }
  // Sends the next message on every idle connection, then handles replies for up to `ms`.
  void step(int ms) {
    for (Conn& c : conns_) {
      if (c.fd < 0 || c.waiting) continue;
      fill(c, c.seq);
      if (::send(c.fd, c.out, sizeof c.out, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof c.out)) {
        c.waiting = true;
        c.sent_at = Clock::now();
        c.got = 0;
      } else {
        ++errors;
      }
    }
    epoll_event evs[64];
    int n = ::epoll_wait(ep_, evs, 64, ms);
    for (int i = 0; i < n; ++i) {
      Conn& c = conns_[evs[i].data.u64];
      ssize_t r = ::recv(c.fd, c.in + c.got, sizeof c.in - c.got, 0);
      if (r <= 0) {
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) ++errors, ::close(c.fd), c.fd = -1;
        continue;
      }
      c.got += static_cast<size_t>(r);
      if (c.got < sizeof c.in) continue;
      uint8_t want[64];
      fill_bytes(want, c.seq);
      if (std::memcmp(want, c.in, sizeof want) != 0) ++errors;
      rtt_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                           Clock::now() - c.sent_at).count());
      ++c.seq;
      c.waiting = false;
      ++echoes;
    }
  }
  int64_t percentile_us(double p) {
    if (rtt_us.empty()) return -1;
    std::vector<int64_t> v = rtt_us;
    size_t k = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1)));
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return v[k];
  }
  uint64_t echoes = 0, errors = 0;
  std::vector<int64_t> rtt_us;

 private:
  struct Conn {
    int fd = -1;
    uint64_t seq = 0;
    bool waiting = false;
    size_t got = 0;
    Clock::time_point sent_at;
    uint8_t out[64];
    uint8_t in[64];
  };
  static void fill_bytes(uint8_t* p, uint64_t seq) {
    for (int i = 0; i < 64; ++i) p[i] = static_cast<uint8_t>(seq * 31 + i);
  }
  void fill(Conn& c, uint64_t seq) { fill_bytes(c.out, seq); }
  int ep_ = -1;
  std::vector<Conn> conns_;
};

class FloodTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    std::lock_guard<std::mutex> lock(g_mu);
    g_reasons.clear();
    ASSERT_GE(tsrel::raise_fd_limit(8192), 4096) << "these tests need 4 096 descriptors";
  }
};

TEST_F(FloodTest, NonReadingSendersStayUnderTheBudgetWhileWellBehavedClientsGetEveryEcho) {
  const int kHostile = kShort ? 200 : 1000, kGood = kShort ? 20 : 50;
  const auto kRun = kShort ? 10s : 60s;
  // A budget below what the held links would queue (1 000 x ~258 KiB at the default
  // high-water mark), so the budget itself is reached, not only the mark.
  const int64_t kBudget = (kShort ? 32 : 128) * kMiB;
  ASSERT_EQ(SetServerOption(TS_OPT_MEMORY_BUDGET, kBudget), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_LIMIT, 16 * kMiB), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, 0), 1);  // held links are silent a while
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_LINKS, 4000), 1);
  SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);  // built-in echo
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t rss0 = tsrel::rss_bytes();

  std::vector<int> hostile;
  for (int i = 0; i < kHostile; ++i) {
    hostile.push_back(connect_client(port_));
    ASSERT_GE(hostile.back(), 0) << "client " << i << ": " << std::strerror(errno);
  }
  PingPong good(port_, kGood);
  ASSERT_TRUE(good.all_connected());
  std::vector<uint8_t> junk(16 * 1024, 'x');
  uint64_t offered = 0;
  int64_t rss_max = rss0, in_use_max = 0;
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < kRun) {
    offered += push_round(hostile, junk);
    good.step(5);
    rss_max = std::max(rss_max, tsrel::rss_bytes());
    in_use_max = std::max(in_use_max, GetServerCounter(TS_COUNTER_MEMORY_IN_USE));
  }
  const int64_t held = GetServerCounter(TS_COUNTER_LINKS_HELD);
  const int budget_closed = reasons(TS_CLOSE_MEMORY_BUDGET);
  std::printf("non-reading senders: %d hostile, %d good, %.0f s; %.1f MiB offered; budget %lld "
              "MiB, in use at most %.1f MiB, peak %.1f MiB; %lld links held at the end, %d closed "
              "at the budget; RSS grew %.1f MiB (limit: budget + %lld MiB); good: %llu echoes, %llu "
              "errors, p50 %lld us, p99 %lld us, max %lld us\n",
              kHostile, kGood, std::chrono::duration<double>(kRun).count(), offered / 1048576.0,
              static_cast<long long>(kBudget / kMiB), in_use_max / 1048576.0,
              GetServerCounter(TS_COUNTER_MEMORY_PEAK) / 1048576.0, static_cast<long long>(held),
              budget_closed, (rss_max - rss0) / 1048576.0,
              static_cast<long long>(kOverhead / kMiB),
              static_cast<unsigned long long>(good.echoes),
              static_cast<unsigned long long>(good.errors),
              static_cast<long long>(good.percentile_us(0.5)),
              static_cast<long long>(good.percentile_us(0.99)),
              static_cast<long long>(good.percentile_us(1.0)));
  EXPECT_LE(GetServerCounter(TS_COUNTER_MEMORY_PEAK), kBudget + budget_slack(kHostile + kGood));
  // Something held the hostile links back: the high-water mark, or (when their queues filled
  // the budget first) the budget closed them.
  EXPECT_GT(GetServerCounter(TS_COUNTER_HIGH_WATER_PAUSES) + budget_closed, 0);
  EXPECT_EQ(good.errors, 0u) << "a well-behaved client lost an echo or its link";
  EXPECT_GT(good.echoes, static_cast<uint64_t>(kGood) * 10) << "the well-behaved clients starved";
  if (!kShort) {
    EXPECT_LT(rss_max - rss0, kBudget + kOverhead) << "the process grew past the budget";
  }
  close_all(hostile);
  EXPECT_TRUE(wait_until([] { return GetServerCounter(TS_COUNTER_MEMORY_IN_USE) == 0; }, 60s))
      << GetServerCounter(TS_COUNTER_MEMORY_IN_USE) << " bytes still counted after the close";
}

TEST_F(FloodTest, StalledMessagesCloseAtTheProgressTimeout) {
  const int kClients = kShort ? 200 : 1000;
  constexpr uint32_t kAnnounced = 16u << 20;
  constexpr size_t kSent = 256 * 1024;
  ASSERT_EQ(SetServerOption(TS_OPT_FRAMING, TS_FRAMING_LENGTH_PREFIXED), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_MESSAGE_TIMEOUT_MS, 5000), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_MEMORY_BUDGET, 1024 * kMiB), 1);  // here: the timeout's job
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_LINKS, 4000), 1);
  SetEventProc(swallow, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  std::vector<uint8_t> start(4 + kSent, 's');
  start[0] = kAnnounced >> 24, start[1] = (kAnnounced >> 16) & 255;
  start[2] = (kAnnounced >> 8) & 255, start[3] = kAnnounced & 255;
  std::vector<int> fds;
  std::vector<size_t> sent;
  for (int i = 0; i < kClients; ++i) {
    fds.push_back(connect_client(port_));
    ASSERT_GE(fds.back(), 0) << std::strerror(errno);
    sent.push_back(0);
  }
  // Each sends its 256 KiB (the server reads it all: nothing is echoed), then stalls.
  const auto t0 = Clock::now();
  ASSERT_TRUE(wait_until([&] {
    bool all = true;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (sent[i] == start.size()) continue;
      ssize_t n = ::send(fds[i], start.data() + sent[i], start.size() - sent[i], MSG_NOSIGNAL);
      if (n > 0) sent[i] += static_cast<size_t>(n);
      all = all && sent[i] == start.size();
    }
    return all;
  }, 120s, 1ms)) << "the clients could not send their first 256 KiB";
  const double sending_s = ms_since(t0) / 1000.0;
  ASSERT_TRUE(wait_until([&] { return reasons(TS_CLOSE_MESSAGE_TIMEOUT) == kClients; }, 120s))
      << reasons(TS_CLOSE_MESSAGE_TIMEOUT) << " of " << kClients << " timed out, " << closed()
      << " closed";
  std::printf("stalled messages: %d clients sent 256 KiB of 16 MiB in %.1f s; all closed by "
              "the 5 s progress timeout after %.1f s; memory peak %.1f MiB\n",
              kClients, sending_s, ms_since(t0) / 1000.0,
              GetServerCounter(TS_COUNTER_MEMORY_PEAK) / 1048576.0);
  EXPECT_EQ(closed(), kClients) << "closed for another reason too";
  EXPECT_EQ(GetServerCounter(TS_COUNTER_MESSAGE_TIMEOUTS), kClients);
  EXPECT_TRUE(wait_until([] { return GetServerCounter(TS_COUNTER_MEMORY_IN_USE) == 0; }, 30s));
  close_all(fds);
}

TEST_F(FloodTest, LargeMessagesAreClosedAtTheBudgetAndMemoryStaysBounded) {
  const int kClients = kShort ? 200 : 1000;
  const auto kRun = kShort ? 10s : 30s;
  const int64_t kBudget = (kShort ? 64 : 512) * kMiB;  // 512 MiB: the default
  constexpr uint32_t kMessage = 16u << 20;
  ASSERT_EQ(SetServerOption(TS_OPT_FRAMING, TS_FRAMING_LENGTH_PREFIXED), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_MEMORY_BUDGET, kBudget), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_LINKS, 4000), 1);
  SetEventProc(swallow, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t rss0 = tsrel::rss_bytes();
  std::vector<int> fds;
  std::vector<uint64_t> sent;
  for (int i = 0; i < kClients; ++i) {
    fds.push_back(connect_client(port_));
    ASSERT_GE(fds.back(), 0) << std::strerror(errno);
    sent.push_back(0);
  }
  // Each client sends 16 MiB messages back to back (header, payload, header, ...).
  std::vector<uint8_t> chunk(64 * 1024, 'L');
  int64_t rss_max = rss0;
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < kRun) {
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i] < 0) continue;
      // The bytes from this client's position on, to the end of the current message.
      const uint64_t at = sent[i] % (uint64_t{kMessage} + 4);
      const size_t len =
          static_cast<size_t>(std::min<uint64_t>(chunk.size(), uint64_t{kMessage} + 4 - at));
      for (size_t k = 0; k < len && at + k < 4; ++k)
        chunk[k] = static_cast<uint8_t>(kMessage >> (8 * (3 - (at + k))));
      for (size_t k = at < 4 ? 4 - at : 0; k < 4 && k < len; ++k) chunk[k] = 'L';
      ssize_t n = ::send(fds[i], chunk.data(), len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) sent[i] += static_cast<uint64_t>(n);
      else if (n < 0 && errno != EAGAIN && errno != EINTR) ::close(fds[i]), fds[i] = -1;
    }
    rss_max = std::max(rss_max, tsrel::rss_bytes());
  }
  uint64_t total = 0;
  for (uint64_t s : sent) total += s;
  std::printf("large messages: %d clients sent %.1f MiB of 16 MiB messages in %.0f s; %d links "
              "closed at the budget (%lld MiB), peak %.1f MiB; RSS grew %.1f MiB\n", kClients,
              total / 1048576.0, std::chrono::duration<double>(kRun).count(),
              reasons(TS_CLOSE_MEMORY_BUDGET), static_cast<long long>(kBudget / kMiB),
              GetServerCounter(TS_COUNTER_MEMORY_PEAK) / 1048576.0, (rss_max - rss0) / 1048576.0);
  EXPECT_GT(reasons(TS_CLOSE_MEMORY_BUDGET), 0) << "nothing reached the budget";
  EXPECT_LE(GetServerCounter(TS_COUNTER_MEMORY_PEAK), kBudget + budget_slack(kClients));
  if (!kShort) {
    EXPECT_LT(rss_max - rss0, kBudget + kOverhead);
  }
  close_all(fds);
  EXPECT_TRUE(wait_until([] { return GetServerCounter(TS_COUNTER_MEMORY_IN_USE) == 0; }, 60s));
}

TEST_F(FloodTest, AFloodFromOneAddressIsRefusedAndCountedWhileOthersAreServed) {
  const int kFlood = kShort ? 300 : 2000;
  constexpr int kLimit = 10;
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_LINKS_PER_ADDRESS, kLimit), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_LINKS, 4000), 1);
  SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);  // built-in echo
  ASSERT_NO_FATAL_FAILURE(start_server());
  std::vector<int> flood;
  for (int i = 0; i < kFlood; ++i) {
    flood.push_back(connect_client(port_, "127.0.0.1"));
    ASSERT_GE(flood.back(), 0) << std::strerror(errno);
  }
  ASSERT_TRUE(wait_until([&] {
    return GetServerCounter(TS_COUNTER_ADDRESS_REFUSED) == kFlood - kLimit;
  }, 60s)) << GetServerCounter(TS_COUNTER_ADDRESS_REFUSED) << " refused of " << kFlood - kLimit;
  // The admitted ones were counted for their address by the accepting worker, which may hand
  // them to another worker that opens them later: their link count is waited for.
  EXPECT_TRUE(wait_until([] { return GetLinkCount() == kLimit; }, 60s))
      << GetLinkCount() << " links, accepts " << GetServerCounter(TS_COUNTER_ACCEPTS)
      << ", closed " << GetServerCounter(TS_COUNTER_CLOSED) << ", reasons " << closed();
  // Meanwhile another address is served in full (as many links as one address may have).
  PingPong others(port_, kLimit);
  ASSERT_TRUE(others.all_connected());
  const auto t0 = Clock::now();
  while (others.echoes < kLimit * 100 && ms_since(t0) < 60000) others.step(10);
  EXPECT_GE(others.echoes, kLimit * 100u) << "the other address was not served";
  EXPECT_EQ(others.errors, 0u);
  std::printf("address flood: %d connections from one address, %lld refused (limit %d), %llu "
              "echoes for %d links of another address\n", kFlood,
              static_cast<long long>(GetServerCounter(TS_COUNTER_ADDRESS_REFUSED)), kLimit,
              static_cast<unsigned long long>(others.echoes), kLimit);
  close_all(flood);
}

}  // namespace
