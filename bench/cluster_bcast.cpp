// bench_cluster: cluster broadcast through Redis (the cluster library), beside the same
// broadcast on one node. Starts a private redis-server on 127.0.0.1, then for each message size
// (64 B and 1 KiB by default):
//   - cluster: three servers with a node each (in this process, one worker thread each), the
//     links spread over them round-robin; node 1 broadcasts with TcpClusterBroadcast: its own
//     links get the message at once, the other two nodes' through Redis;
//   - one node: one server with every link; the same TcpClusterBroadcast (local delivery, plus
//     the publish to Redis that no other node reads).
// The clients are one epoll thread; every message carries its number and send time, so each
// link is checked to get every broadcast once and in order, and the latency of each delivery is
// measured from the send (p50, p99). At most --window broadcasts are outstanding (not yet at
// every link). Prints one "RESULT ..." line per run; exits 1 if a delivery was wrong or missing.
//
//   bench_cluster [--links 1000] [--messages 2000] [--window 32] [--sizes 64,1024] [--smoke]
//
// A benchmark, not a test: its figures mean something only on a quiet machine (the client,
// the nodes and Redis share it). --smoke runs 200 messages per size to check that it works.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "support/redis_server.h"
#include "tcpcluster.h"

namespace {

using Clock = std::chrono::steady_clock;

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

struct Options {
  int links = 1000;
  int messages = 2000;
  int window = 32;
  std::vector<size_t> sizes = {64, 1024};
};

struct Result {
  bool ok = false;
  double deliveries_per_s = 0;
  double p50_us = 0, p99_us = 0;
  int64_t drops = 0, gaps = 0;
  std::string error;
};

// The client side: `links` connections, one epoll thread, fixed-size messages.
class Clients {
 public:
  Clients(size_t size, int messages) : size_(size), messages_(messages) {}
  ~Clients() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (auto& c : conns_) ::close(c.fd);
    if (ep_ >= 0) ::close(ep_);
  }

  bool connect(const std::vector<uint16_t>& ports, int links, std::string* error) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    conns_.resize(static_cast<size_t>(links));
    for (int i = 0; i < links; ++i) {
      Conn& c = conns_[static_cast<size_t>(i)];
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(ports[static_cast<size_t>(i) % ports.size()]);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        *error = std::string("connect: ") + std::strerror(errno);
        return false;
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = static_cast<uint32_t>(i);
      ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
      c.buf.resize(size_);
    }
    latencies_.reserve(static_cast<size_t>(links) * static_cast<size_t>(messages_));
    thread_ = std::thread([this] { run(); });
    return true;
  }

  uint64_t delivered() const { return delivered_.load(std::memory_order_acquire); }
  uint64_t last_delivery_ns() const { return last_ns_.load(std::memory_order_acquire); }
  bool failed(std::string* why) {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    *why = error_;
    return !error_.empty();
  }
  std::vector<uint32_t>& latencies() { return latencies_; }

 private:
  struct Conn {
    int fd = -1;
    std::vector<uint8_t> buf;
    size_t have = 0;
    uint64_t expect = 1;
  };

  void run() {
    epoll_event events[256];
    while (!stop_) {
      int n = ::epoll_wait(ep_, events, 256, 20);
      for (int i = 0; i < n; ++i) read_from(conns_[events[i].data.u32]);
    }
  }

  void read_from(Conn& c) {
    uint8_t chunk[65536];
    while (true) {
      ssize_t n = ::recv(c.fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (n <= 0) return;
      uint64_t now = now_ns();
      for (ssize_t off = 0; off < n;) {
        size_t take = std::min(size_ - c.have, static_cast<size_t>(n - off));
        std::memcpy(c.buf.data() + c.have, chunk + off, take);
        c.have += take;
        off += static_cast<ssize_t>(take);
        if (c.have < size_) continue;
        c.have = 0;
        uint64_t seq, sent;
        std::memcpy(&seq, c.buf.data(), 8);
        std::memcpy(&sent, c.buf.data() + 8, 8);
        if (seq != c.expect && error_.empty())
          error_ = "a link got broadcast " + std::to_string(seq) + " when " + std::to_string(c.expect) + " was due";
        c.expect = seq + 1;
        latencies_.push_back(static_cast<uint32_t>(std::min<uint64_t>((now - sent) / 1000, UINT32_MAX)));
        last_ns_.store(now, std::memory_order_release);
        delivered_.fetch_add(1, std::memory_order_acq_rel);
      }
    }
  }

  size_t size_;
  int messages_;
  int ep_ = -1;
  std::vector<Conn> conns_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> delivered_{0}, last_ns_{0};
  std::vector<uint32_t> latencies_;  // the epoll thread's until it stops
  std::string error_;
};

bool wait_for(const std::function<bool()>& pred, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

Result run(const std::string& url, const std::string& prefix, int nodes, size_t size, const Options& o) {
  Result r;
  std::vector<TcpServerHandle*> servers;
  std::vector<TcpClusterNode*> cluster;
  std::vector<uint16_t> ports;
  auto cleanup = [&] {
    for (auto* s : servers) TcpServerStop(s, -1);
    for (auto* n : cluster) TcpClusterDestroy(n);
    for (auto* s : servers) DestroyTcpServer(s);
  };
  for (int i = 0; i < nodes; ++i) {
    TcpServerHandle* s = CreateTcpServer(nullptr);
    servers.push_back(s);
    TcpServerSetOption(s, TS_OPT_WORKER_THREADS, 1);
    TcpServerSetOption(s, TS_OPT_MAX_LINKS, o.links + 16);
    TcpServerSetOption(s, TS_OPT_IDLE_TIMEOUT_MS, 0);
    TcpClusterNode* n = TcpClusterCreate(s, url.c_str(), prefix.c_str(), "bench", nullptr);
    if (!n || !TcpClusterStart(n)) {
      r.error = TcpClusterGetLastErrorText();
      cleanup();
      return r;
    }
    cluster.push_back(n);
    if (!TcpServerStart(s, "127.0.0.1", 0)) {
      r.error = GetLastErrorText();
      cleanup();
      return r;
    }
    ports.push_back(static_cast<uint16_t>(TcpServerGetPort(s)));
  }
  if (!wait_for([&] {
        for (auto* n : cluster)
          if (TcpClusterGetState(n) != TC_STATE_CONNECTED) return false;
        return true;
      }, std::chrono::seconds(30))) {
    r.error = "the nodes did not connect to Redis";
    cleanup();
    return r;
  }
  Clients clients(size, o.messages);
  if (!clients.connect(ports, o.links, &r.error) || !wait_for([&] {
        int sum = 0;
        for (auto* s : servers) sum += TcpServerGetLinkCount(s);
        return sum == o.links;
      }, std::chrono::seconds(30))) {
    if (r.error.empty()) r.error = "the servers did not accept every link";
    cleanup();
    return r;
  }

  std::vector<uint8_t> msg(size, '.');
  const uint64_t total = static_cast<uint64_t>(o.links) * static_cast<uint64_t>(o.messages);
  const uint64_t start = now_ns();
  bool stalled = false;
  for (uint64_t seq = 1; seq <= static_cast<uint64_t>(o.messages) && !stalled; ++seq) {
    // At most `window` broadcasts not yet at every link.
    stalled = !wait_for([&] { return seq - 1 - clients.delivered() / static_cast<uint64_t>(o.links) <
                                     static_cast<uint64_t>(o.window); },
                        std::chrono::seconds(30));
    uint64_t t = now_ns();
    std::memcpy(msg.data(), &seq, 8);
    std::memcpy(msg.data() + 8, &t, 8);
    TcpClusterBroadcast(cluster[0], msg.data(), static_cast<int32_t>(size), 0);
  }
  bool complete = wait_for([&] { return clients.delivered() >= total; }, std::chrono::seconds(60));
  double seconds = static_cast<double>(clients.last_delivery_ns() - start) / 1e9;
  std::string wrong;
  bool bad = clients.failed(&wrong);
  for (auto* n : cluster) {
    r.drops += TcpClusterGetCounter(n, TC_COUNTER_QUEUE_DROPPED) + TcpClusterGetCounter(n, TC_COUNTER_DOWN_DROPPED);
    r.gaps += TcpClusterGetCounter(n, TC_COUNTER_GAPS);
  }
  cleanup();
  if (bad || !complete) {
    r.error = bad ? wrong
                  : "only " + std::to_string(clients.delivered()) + " of " + std::to_string(total) +
                        " deliveries arrived (drops " + std::to_string(r.drops) + ", gaps " +
                        std::to_string(r.gaps) + ")";
    return r;
  }
  auto& lat = clients.latencies();
  std::sort(lat.begin(), lat.end());
  r.p50_us = lat[lat.size() / 2];
  r.p99_us = lat[lat.size() * 99 / 100];
  r.deliveries_per_s = static_cast<double>(total) / seconds;
  r.ok = true;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--smoke") {
      o.messages = 200;
    } else if (i + 1 < argc && a == "--links") {
      o.links = std::atoi(argv[++i]);
    } else if (i + 1 < argc && a == "--messages") {
      o.messages = std::atoi(argv[++i]);
    } else if (i + 1 < argc && a == "--window") {
      o.window = std::atoi(argv[++i]);
    } else if (i + 1 < argc && a == "--sizes") {
      o.sizes.clear();
      for (char* p = argv[++i]; *p;) {
        o.sizes.push_back(std::strtoul(p, &p, 10));
        if (*p == ',') ++p;
      }
    } else {
      std::fprintf(stderr, "usage: bench_cluster [--links N] [--messages N] [--window N] [--sizes 64,1024] [--smoke]\n");
      return 2;
    }
  }
  for (size_t s : o.sizes)
    if (s < 16 || s > (1u << 20)) {
      std::fprintf(stderr, "bench_cluster: sizes are 16..1048576 bytes (a message carries 16 bytes of number and time)\n");
      return 2;
    }
  rlimit rl;  // links, their server ends, Redis connections
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  tctest::RedisServer redis;
  std::string error;
  if (!redis.start(&error)) {
    std::fprintf(stderr, "bench_cluster: %s\n", error.c_str());
    return 1;
  }
  int status = 0, run_no = 0;
  for (size_t size : o.sizes)
    for (int nodes : {3, 1}) {
      std::string prefix = "bench" + std::to_string(++run_no) + ":";
      Result r = run(redis.url(), prefix, nodes, size, o);
      if (!r.ok) {
        std::fprintf(stderr, "bench_cluster: %s, %zu B: %s\n", nodes == 3 ? "cluster of 3" : "one node", size, r.error.c_str());
        status = 1;
        continue;
      }
      std::printf("RESULT scenario=%s size=%zu links=%d messages=%d window=%d deliveries_per_s=%.0f "
                  "p50_us=%.0f p99_us=%.0f drops=%lld gaps=%lld\n",
                  nodes == 3 ? "cluster3" : "one_node", size, o.links, o.messages, o.window,
                  r.deliveries_per_s, r.p50_us, r.p99_us, (long long)r.drops, (long long)r.gaps);
      std::fflush(stdout);
    }
  return status;
}
