// Soak: TCPSERVER_SOAK_LINKS client connections (1 000) churn for TCPSERVER_SOAK_SECONDS (120)
// against a server that echoes every chunk it receives inside a frame, while another thread
// broadcasts numbered messages. Every byte is checked end to end: each link's echo is the exact
// stream it sent (so nothing lost, duplicated, reordered or crossed between links), and each
// link receives every broadcast made while it was open, whole, in order, exactly once.
// Sessions send 1 to 8 messages of 1 byte to 1 MiB each, then close gracefully (and must get
// everything back before the server's FIN) or, one in ten, reset in the middle of a transfer.
// Afterwards the IO pool is full, and descriptors and threads are back to where they started.
//
//   TCPSERVER_SOAK_SECONDS=3600 ctest --test-dir build/release -L soak --timeout 4000 --verbose
//   (or: bash scripts/soak.sh 3600)
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "reliability_support.h"
#include "support/payload.h"
#include "support/proc_stats.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

// ---- parameters ----

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : fallback;
}

constexpr int kDrivers = 2;                      // client threads (the machine may have 2 cores)
constexpr uint64_t kWindow = 256 * 1024;         // bytes a link may have sent and not had echoed
constexpr uint32_t kMaxMessage = 1 << 20;        // 1 MiB
constexpr uint32_t kMaxBroadcast = 1 << 20;
constexpr uint64_t kBroadcastLag = 8;            // broadcasts a live link may be behind
constexpr auto kBroadcastEvery = 25ms;
constexpr auto kStall = 60s;                     // no progress this long on a link: a failure
constexpr auto kWindDown = 120s;                 // for the sessions under way when time is up

// ---- frames: what the server sends ----

enum : uint32_t { kEchoFrame = 0x4543484f, kBroadcastFrame = 0x42434153 };
struct FrameHeader {
  uint32_t kind;
  uint32_t len;  // bytes after the header, >= 1
  uint64_t seq;  // broadcast number (from 1); 0 for echo
};
static_assert(sizeof(FrameHeader) == 16, "packed as sent");

uint64_t broadcast_seed(uint64_t seq) { return splitmix64(0xB0ADCA57ull ^ seq); }

// ---- failures, from any thread ----

std::atomic<long> g_failures{0};
std::mutex g_failure_mu;
std::vector<std::string> g_failure_texts;

void fail(const std::string& what) {
  if (g_failures.fetch_add(1) < 20) {
    std::lock_guard<std::mutex> lock(g_failure_mu);
    g_failure_texts.push_back(what);
  }
}

// ---- the server ----

std::atomic<long> g_accepts{0};
std::atomic<long> g_close_reasons[8];
std::atomic<long> g_close_errors_other{0};

int32_t TS_CALL on_connect(TcpLink*) {
  g_accepts++;
  return 1;
}

int32_t TS_CALL on_receive(TcpLink* link, uint8_t* buf, int32_t len) {
  // Header and data in one SendBuffer: a broadcast from another thread can come between two
  // sends, never inside one.
  thread_local std::vector<uint8_t> frame;
  frame.resize(sizeof(FrameHeader) + static_cast<size_t>(len));
  FrameHeader h{kEchoFrame, static_cast<uint32_t>(len), 0};
  std::memcpy(frame.data(), &h, sizeof h);
  std::memcpy(frame.data() + sizeof h, buf, static_cast<size_t>(len));
  if (SendBuffer(link, frame.data(), static_cast<int32_t>(frame.size())) == 1) return 1;
  if (GetLastErrorCode() != TS_ERR_LINK_CLOSED)  // closing because the peer reset: expected
    fail(std::string("SendBuffer of an echo failed: ") + GetLastErrorText());
  return 0;
}

void TS_CALL on_disconnect(TcpLink* link) {
  const int r = link->CloseReason;
  if (r >= 0 && r < 8) g_close_reasons[r]++;
  if (r == TS_CLOSE_ERROR && link->CloseError != ECONNRESET && link->CloseError != EPIPE)
    g_close_errors_other++;
}

// ---- broadcasts ----

std::atomic<uint64_t> g_started{0};  // broadcasts whose PostBroadcast has begun
std::atomic<uint64_t> g_done{0};     // ... and returned
std::atomic<int64_t> g_broadcast_copies{0};  // sum of PostBroadcast's results

// ---- the clients ----

struct Slot {
  // Read by the broadcaster for pacing.
  std::atomic<bool> required{false};  // established, not closing: must get every broadcast
  std::atomic<uint64_t> base{0};      // broadcasts started when it was established
  std::atomic<uint64_t> last{0};      // last broadcast received whole

  enum Phase { kIdle, kConnecting, kActive, kHolding, kDraining } phase = kIdle;
  size_t index = 0;
  int fd = -1;
  bool want_out = false;
  Clock::time_point wake{};      // kIdle: when to connect; kHolding: when to close
  Clock::time_point progress{};  // last byte moved
  uint64_t sessions = 0;

  // This session.
  uint64_t seed = 0;
  std::vector<uint32_t> messages;
  size_t msg = 0;
  uint64_t msg_left = 0;
  uint64_t total = 0, sent = 0, echoed = 0;
  bool quiet = false;       // one byte, then only broadcasts for a while
  bool abortive = false;    // resets once `abort_at` bytes are sent
  uint64_t abort_at = 0;
  bool established = false;
  uint64_t first_seq = 0;   // first broadcast received, 0 if none
  uint64_t done_at_fin = 0; // broadcasts completed when the client half-closed

  // Frame parser.
  uint8_t hdr[sizeof(FrameHeader)];
  size_t hdr_have = 0;
  FrameHeader cur{};
  uint64_t body_left = 0, body_off = 0;
};

struct DriverStats {
  std::atomic<uint64_t> connects{0}, graceful{0}, aborted{0}, connect_retries{0};
  std::atomic<uint64_t> echo_bytes{0}, broadcast_bytes{0}, broadcasts_received{0};
  std::atomic<uint64_t> open_now{0};
};

class Driver {
 public:
  Driver(uint16_t port, Slot* slots, size_t count, uint64_t seed, const std::atomic<bool>& ending)
      : port_(port), slots_(slots), count_(count), rng_(seed), ending_(ending) {}

  void run();
  DriverStats stats;

 private:
  std::string where(const Slot& s) const {
    return "link " + std::to_string(s.index) + " session " + std::to_string(s.sessions);
  }
  void start_connect(Slot& s);
  void connected(Slot& s);
  void readable(Slot& s);
  void writable(Slot& s);
  void parse(Slot& s, const uint8_t* p, size_t n);
  void after_progress(Slot& s);
  void half_close(Slot& s);
  void finished(Slot& s);
  void reset(Slot& s);
  void drop(Slot& s, const std::string& why);  // a failure: reset the link, count it
  void set_out(Slot& s, bool out);
  void to_idle(Slot& s);
  uint32_t log_uniform(uint32_t max) {
    std::uniform_real_distribution<double> d(0.0, std::log(static_cast<double>(max)));
    return std::min<uint32_t>(max, static_cast<uint32_t>(std::exp(d(rng_))));
  }

  uint16_t port_;
  Slot* slots_;
  size_t count_;
  std::mt19937_64 rng_;
  const std::atomic<bool>& ending_;
  int ep_ = -1;
  std::vector<uint8_t> in_ = std::vector<uint8_t>(64 * 1024);
  std::vector<uint8_t> out_ = std::vector<uint8_t>(64 * 1024);
};

void Driver::set_out(Slot& s, bool out) {
  if (s.want_out == out) return;
  s.want_out = out;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0u);
  ev.data.ptr = &s;
  epoll_ctl(ep_, EPOLL_CTL_MOD, s.fd, &ev);
}

void Driver::to_idle(Slot& s) {
  s.required.store(false, std::memory_order_release);
  if (s.fd >= 0) {
    ::close(s.fd);  // also leaves the epoll set
    stats.open_now--;
  }
  s.fd = -1;
  s.phase = Slot::kIdle;
  s.wake = Clock::now() + std::chrono::milliseconds(rng_() % 50);
}

void Driver::start_connect(Slot& s) {
  s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) {
    fail(std::string("socket(): ") + std::strerror(errno));
    s.wake = Clock::now() + 100ms;
    return;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  stats.open_now++;
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    const int e = errno;
    ::close(s.fd);
    s.fd = -1;
    stats.open_now--;
    if (e == EADDRNOTAVAIL || e == EAGAIN) {  // local ports all in TIME_WAIT: try again later
      stats.connect_retries++;
      s.wake = Clock::now() + 100ms;
      return;
    }
    fail(std::string("connect(): ") + std::strerror(e));
    s.wake = Clock::now() + 100ms;
    return;
  }
  s.phase = Slot::kConnecting;
  s.progress = Clock::now();
  s.want_out = true;
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.ptr = &s;
  epoll_ctl(ep_, EPOLL_CTL_ADD, s.fd, &ev);
}

void Driver::connected(Slot& s) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) {
    fail(where(s) + ": connect failed: " + std::strerror(err));
    ::close(s.fd);
    s.fd = -1;
    stats.open_now--;
    s.phase = Slot::kIdle;
    s.wake = Clock::now() + 100ms;
    return;
  }
  stats.connects++;
  ++s.sessions;
  s.seed = splitmix64((static_cast<uint64_t>(s.index) << 40) ^ s.sessions ^ 0x50A4ull);
  s.messages.clear();
  const unsigned kind = static_cast<unsigned>(rng_() % 10);
  s.quiet = kind == 0;
  s.abortive = kind == 1;
  if (s.quiet) {
    s.messages.push_back(1);
  } else {
    const int n = 1 + static_cast<int>(rng_() % 8);
    for (int i = 0; i < n; ++i) s.messages.push_back(log_uniform(kMaxMessage));
  }
  s.total = 0;
  for (uint32_t m : s.messages) s.total += m;
  s.abort_at = s.abortive ? 1 + rng_() % s.total : 0;
  s.msg = 0;
  s.msg_left = s.messages[0];
  s.sent = s.echoed = 0;
  s.established = false;
  s.first_seq = 0;
  s.last.store(0, std::memory_order_relaxed);
  s.hdr_have = 0;
  s.body_left = 0;
  s.phase = Slot::kActive;
  s.progress = Clock::now();
  s.want_out = false;  // registered for EPOLLOUT alone while connecting: now reads too
  set_out(s, true);
}

void Driver::writable(Slot& s) {
  while (s.phase == Slot::kActive && s.sent < s.total) {
    const uint64_t room = kWindow - (s.sent - s.echoed);
    if (room == 0) break;
    size_t n = static_cast<size_t>(std::min<uint64_t>({room, s.msg_left, out_.size()}));
    if (s.abortive) n = static_cast<size_t>(std::min<uint64_t>(n, s.abort_at - s.sent));
    fill_pattern(s.seed, s.sent, out_.data(), n);
    const ssize_t w = ::send(s.fd, out_.data(), n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return set_out(s, true);
      if (errno == EINTR) continue;
      return drop(s, where(s) + ": send failed: " + std::strerror(errno));
    }
    s.sent += static_cast<uint64_t>(w);
    s.msg_left -= static_cast<uint64_t>(w);
    s.progress = Clock::now();
    if (s.msg_left == 0 && ++s.msg < s.messages.size()) s.msg_left = s.messages[s.msg];
    if (s.abortive && s.sent >= s.abort_at) return reset(s);
  }
  if (s.phase == Slot::kActive) set_out(s, false);  // window full or all sent: wait for echo
}

void Driver::readable(Slot& s) {
  for (int round = 0; round < 4 && s.fd >= 0; ++round) {
    const ssize_t r = ::recv(s.fd, in_.data(), in_.size(), 0);
    if (r > 0) {
      s.progress = Clock::now();
      parse(s, in_.data(), static_cast<size_t>(r));
      if (s.fd < 0) return;
      if (static_cast<size_t>(r) < in_.size()) break;
      continue;
    }
    if (r == 0) return finished(s);
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR) continue;
    return drop(s, where(s) + ": the server reset the link: " + std::strerror(errno));
  }
  if (s.fd >= 0) after_progress(s);
}

void Driver::parse(Slot& s, const uint8_t* p, size_t n) {
  while (n > 0) {
    if (s.body_left == 0) {
      const size_t take = std::min(n, sizeof s.hdr - s.hdr_have);
      std::memcpy(s.hdr + s.hdr_have, p, take);
      s.hdr_have += take;
      p += take;
      n -= take;
      if (s.hdr_have < sizeof s.hdr) return;
      s.hdr_have = 0;
      std::memcpy(&s.cur, s.hdr, sizeof s.cur);
      s.body_left = s.cur.len;
      s.body_off = 0;
      if (!s.established) {  // the server has opened the link: from now on, every broadcast
        s.established = true;
        s.base.store(g_started.load(), std::memory_order_relaxed);
        s.required.store(s.phase == Slot::kActive || s.phase == Slot::kHolding, std::memory_order_release);
      }
      if (s.cur.kind == kEchoFrame) {
        if (s.cur.len == 0 || s.cur.seq != 0) return drop(s, where(s) + ": malformed echo frame");
      } else if (s.cur.kind == kBroadcastFrame) {
        const uint64_t last = s.last.load(std::memory_order_relaxed);
        if (s.cur.len == 0 || s.cur.len > kMaxBroadcast || s.cur.seq > g_started.load())
          return drop(s, where(s) + ": malformed broadcast frame");
        if (last != 0 && s.cur.seq != last + 1)
          return drop(s, where(s) + ": broadcast " + std::to_string(s.cur.seq) + " after " +
                             std::to_string(last) + " (lost, repeated or out of order)");
        if (s.first_seq == 0) s.first_seq = s.cur.seq;
      } else {
        return drop(s, where(s) + ": unknown frame kind (the stream is out of step)");
      }
      continue;
    }
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n, s.body_left));
    if (s.cur.kind == kEchoFrame) {
      if (s.echoed + take > s.sent) return drop(s, where(s) + ": more echo than was sent");
      const size_t bad = pattern_mismatch(s.seed, s.echoed, p, take);
      if (bad != take)
        return drop(s, where(s) + ": echo byte " + std::to_string(s.echoed + bad) + " is wrong");
      s.echoed += take;
      stats.echo_bytes.fetch_add(take, std::memory_order_relaxed);
    } else {
      const size_t bad = pattern_mismatch(broadcast_seed(s.cur.seq), s.body_off, p, take);
      if (bad != take)
        return drop(s, where(s) + ": byte " + std::to_string(s.body_off + bad) + " of broadcast " +
                           std::to_string(s.cur.seq) + " is wrong");
      s.body_off += take;
      stats.broadcast_bytes.fetch_add(take, std::memory_order_relaxed);
      if (s.body_left == take) {
        s.last.store(s.cur.seq, std::memory_order_release);
        stats.broadcasts_received.fetch_add(1, std::memory_order_relaxed);
      }
    }
    s.body_left -= take;
    p += take;
    n -= take;
  }
}

void Driver::after_progress(Slot& s) {
  if (s.phase != Slot::kActive) return;
  if (s.sent < s.total) return writable(s);
  if (s.echoed < s.total) return;
  if (s.quiet) {  // everything echoed: now only listen to broadcasts for a while
    s.phase = Slot::kHolding;
    s.wake = Clock::now() + std::chrono::milliseconds(200 + rng_() % 1800);
    return;
  }
  half_close(s);
}

void Driver::half_close(Slot& s) {
  s.required.store(false, std::memory_order_release);
  s.done_at_fin = g_done.load();
  s.phase = Slot::kDraining;
  set_out(s, false);
  ::shutdown(s.fd, SHUT_WR);
}

void Driver::finished(Slot& s) {
  if (s.phase != Slot::kDraining)
    return drop(s, where(s) + ": the server closed the link before the client did");
  if (s.echoed != s.total || s.body_left != 0 || s.hdr_have != 0)
    return drop(s, where(s) + ": closed with " + std::to_string(s.total - s.echoed) +
                       " bytes not echoed or a frame cut short");
  // Every broadcast made while the link was surely open must have arrived.
  const uint64_t base = s.base.load(std::memory_order_relaxed);
  const uint64_t last = s.last.load(std::memory_order_relaxed);
  if (s.done_at_fin > base && (s.first_seq == 0 || s.first_seq > base + 1 || last < s.done_at_fin))
    return drop(s, where(s) + ": broadcasts " + std::to_string(base + 1) + ".." +
                       std::to_string(s.done_at_fin) + " were due, got " +
                       std::to_string(s.first_seq) + ".." + std::to_string(last));
  stats.graceful++;
  to_idle(s);
}

void Driver::reset(Slot& s) {
  linger lg{1, 0};
  setsockopt(s.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  stats.aborted++;
  to_idle(s);
}

void Driver::drop(Slot& s, const std::string& why) {
  fail(why);
  linger lg{1, 0};
  setsockopt(s.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  to_idle(s);
}

void Driver::run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  Clock::time_point ending_since{};
  epoll_event events[256];
  for (;;) {
    const int n = epoll_wait(ep_, events, 256, 5);
    for (int i = 0; i < n; ++i) {
      Slot& s = *static_cast<Slot*>(events[i].data.ptr);
      if (s.fd < 0) continue;
      const uint32_t ev = events[i].events;
      if (s.phase == Slot::kConnecting) {
        connected(s);
        continue;
      }
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable(s);
      if (s.fd >= 0 && (ev & EPOLLOUT) && s.phase == Slot::kActive) writable(s);
    }
    const auto now = Clock::now();
    const bool ending = ending_.load(std::memory_order_acquire);
    if (ending && ending_since == Clock::time_point{}) ending_since = now;
    bool all_idle = true;
    for (size_t i = 0; i < count_; ++i) {
      Slot& s = slots_[i];
      if (s.phase == Slot::kIdle) {
        if (!ending && now >= s.wake) start_connect(s);
      } else if (s.phase == Slot::kHolding) {
        if (ending || now >= s.wake) half_close(s);
      } else if (now - s.progress > kStall) {
        drop(s, where(s) + ": no progress for " + std::to_string(kStall.count()) + " s (sent " +
                    std::to_string(s.sent) + ", echoed " + std::to_string(s.echoed) + " of " +
                    std::to_string(s.total) + ")");
      }
      all_idle = all_idle && s.phase == Slot::kIdle;
    }
    if (ending && all_idle) break;
    if (ending && now - ending_since > kWindDown) {
      for (size_t i = 0; i < count_; ++i)
        if (slots_[i].phase != Slot::kIdle) drop(slots_[i], where(slots_[i]) + ": still busy at the end");
      break;
    }
  }
  ::close(ep_);
}

// ---- the test ----

class SoakTest : public ServerTest {};

TEST_F(SoakTest, ThousandChurningLinksEveryByteVerified) {
  const long seconds = env_long("TCPSERVER_SOAK_SECONDS", 120);
  const size_t links = static_cast<size_t>(env_long("TCPSERVER_SOAK_LINKS", 1000));
  const uint64_t seed = static_cast<uint64_t>(env_long("TCPSERVER_SOAK_SEED", static_cast<long>(std::random_device{}())));
  std::printf("soak: %ld s, %zu links, seed %llu (TCPSERVER_SOAK_SECONDS / _LINKS / _SEED)\n", seconds,
              links, static_cast<unsigned long long>(seed));
  const long need_fds = static_cast<long>(links) * 2 + 200;
  ASSERT_GE(tsrel::raise_fd_limit(need_fds), need_fds)
      << "the soak needs " << need_fds << " descriptors: raise the hard limit (ulimit -Hn)";

  g_accepts = 0;
  for (auto& r : g_close_reasons) r = 0;
  g_close_errors_other = 0;
  g_failures = 0;
  g_started = g_done = 0;
  g_broadcast_copies = 0;
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, 0), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_LINKS, static_cast<int64_t>(links) * 2), 1);
  SetEventProc(on_receive, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(on_connect), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t rss0 = tsrel::rss_bytes();

  std::unique_ptr<Slot[]> slots(new Slot[links]);
  for (size_t i = 0; i < links; ++i) slots[i].index = i;
  std::atomic<bool> ending{false};
  std::vector<std::unique_ptr<Driver>> drivers;
  std::vector<std::thread> threads;
  for (int d = 0; d < kDrivers; ++d) {
    const size_t from = links * static_cast<size_t>(d) / kDrivers;
    const size_t to = links * static_cast<size_t>(d + 1) / kDrivers;
    drivers.push_back(std::make_unique<Driver>(port_, slots.get() + from, to - from, seed + static_cast<uint64_t>(d), ending));
  }
  for (auto& d : drivers) threads.emplace_back([&d] { d->run(); });

  std::atomic<bool> stop_broadcasting{false};
  std::thread broadcaster([&] {
    std::mt19937_64 rng(seed ^ 0xBCull);
    std::vector<uint8_t> msg;
    while (!stop_broadcasting) {
      const uint64_t seq = g_started.load() + 1;
      // Pacing: no live link more than kBroadcastLag behind, so send queues stay bounded
      // however slow the clients are on a busy machine.
      const bool caught_up = wait_until(
          [&] {
            if (stop_broadcasting) return true;
            if (seq <= kBroadcastLag) return true;
            for (size_t i = 0; i < links; ++i) {
              const Slot& s = slots[i];
              if (s.required.load(std::memory_order_acquire) &&
                  s.base.load(std::memory_order_relaxed) < seq - kBroadcastLag &&
                  s.last.load(std::memory_order_relaxed) < seq - kBroadcastLag)
                return false;
            }
            return true;
          },
          kStall, 1ms);
      if (!caught_up) fail("a live link stayed more than 8 broadcasts behind for 60 s");
      if (stop_broadcasting || !caught_up) break;
      // Mostly 1 byte to 16 KiB; every 500th 1 MiB (each of those costs the clients seconds).
      std::uniform_real_distribution<double> d(0.0, std::log(16.0 * 1024));
      const uint32_t len = seq % 500 == 0 ? kMaxBroadcast : std::max<uint32_t>(1, static_cast<uint32_t>(std::exp(d(rng))));
      msg.resize(sizeof(FrameHeader) + len);
      FrameHeader h{kBroadcastFrame, len, seq};
      std::memcpy(msg.data(), &h, sizeof h);
      fill_pattern(broadcast_seed(seq), 0, msg.data() + sizeof h, len);
      g_started.store(seq);
      const int32_t reached = PostBroadcast(msg.data(), static_cast<int32_t>(msg.size()));
      g_done.store(seq);
      if (reached < 0) fail(std::string("PostBroadcast failed: ") + GetLastErrorText());
      else g_broadcast_copies += reached;
      std::this_thread::sleep_for(kBroadcastEvery);  // the rate, not a wait for a condition
    }
  });

  // Run, watching the server's link count.
  const auto t0 = Clock::now();
  int max_links = 0;
  int64_t max_rss = rss0;
  auto next_report = t0 + 10s;
  auto total = [&](auto field) {
    uint64_t sum = 0;
    for (auto& d : drivers) sum += (d->stats.*field).load();
    return sum;
  };
  while (Clock::now() - t0 < std::chrono::seconds(seconds) && g_failures.load() == 0) {
    max_links = std::max(max_links, GetLinkCount());
    max_rss = std::max(max_rss, tsrel::rss_bytes());
    if (Clock::now() >= next_report) {
      next_report += 10s;
      std::printf("  %3lld s: %llu connections, %.1f MiB verified, %llu broadcasts, %d links open\n",
                  ms_since(t0) / 1000, static_cast<unsigned long long>(total(&DriverStats::connects)),
                  (total(&DriverStats::echo_bytes) + total(&DriverStats::broadcast_bytes)) / 1048576.0,
                  static_cast<unsigned long long>(g_done.load()), GetLinkCount());
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(50ms);  // sampling period
  }
  const double ran_s = ms_since(t0) / 1000.0;
  stop_broadcasting = true;
  broadcaster.join();
  ending = true;
  for (auto& t : threads) t.join();

  // Every link is closed: the server must be empty and hold no buffer.
  EXPECT_TRUE(wait_until([] { return GetLinkCount() == 0; }, 30s)) << GetLinkCount() << " links still open";
  EXPECT_TRUE(wait_until([] { return GetIOMemFree() == GetServerOption(TS_OPT_IO_BUFFER_COUNT); }, 10s))
      << GetIOMemFree() << " of " << GetServerOption(TS_OPT_IO_BUFFER_COUNT) << " IO buffers free";
  EXPECT_EQ(GetIOMemUse(), 0.0);
  const uint64_t graceful = total(&DriverStats::graceful), aborted = total(&DriverStats::aborted);
  EXPECT_EQ(g_close_reasons[TS_CLOSE_PEER_CLOSED].load(), static_cast<long>(graceful))
      << "links the clients closed gracefully vs. links the server saw closed (FIN)";
  EXPECT_EQ(g_close_reasons[TS_CLOSE_PEER_RESET].load() + g_close_reasons[TS_CLOSE_ERROR].load(),
            static_cast<long>(aborted))
      << "links the clients reset vs. links the server saw reset";
  EXPECT_EQ(g_close_errors_other.load(), 0) << "links closed with an error other than a reset";
  for (int r : {TS_CLOSE_IDLE, TS_CLOSE_BY_APP, TS_CLOSE_SEND_QUEUE_FULL, TS_CLOSE_SERVER_STOP})
    EXPECT_EQ(g_close_reasons[r].load(), 0) << "links closed as '" << GetCloseReasonText(r) << "'";
  EXPECT_EQ(g_accepts.load(), static_cast<long>(graceful + aborted));
  EXPECT_EQ(total(&DriverStats::open_now), 0u);

  ASSERT_TRUE(stop_server());
  EXPECT_EQ(GetIOMemFree(), GetServerOption(TS_OPT_IO_BUFFER_COUNT));
  EXPECT_TRUE(fd_count_back_to(baseline_fds_));
  EXPECT_TRUE(wait_until([&] { return thread_count() == baseline_threads_; }, 2s))
      << "threads: " << thread_count() << ", before: " << baseline_threads_;

  {
    std::lock_guard<std::mutex> lock(g_failure_mu);
    for (const std::string& f : g_failure_texts) ADD_FAILURE() << f;
  }
  EXPECT_EQ(g_failures.load(), 0);
  const uint64_t echo = total(&DriverStats::echo_bytes), bcast = total(&DriverStats::broadcast_bytes);
  std::printf(
      "soak figures: %.0f s, %llu connections (%llu closed gracefully, %llu reset mid-transfer, "
      "%llu connect retries), %llu bytes verified (%.1f MiB echo + %.1f MiB broadcast), "
      "%llu broadcasts (%llu deliveries verified), max concurrent links %d, RSS %.1f -> max %.1f MiB\n",
      ran_s, static_cast<unsigned long long>(total(&DriverStats::connects)),
      static_cast<unsigned long long>(graceful), static_cast<unsigned long long>(aborted),
      static_cast<unsigned long long>(total(&DriverStats::connect_retries)),
      static_cast<unsigned long long>(echo + bcast), echo / 1048576.0, bcast / 1048576.0,
      static_cast<unsigned long long>(g_done.load()),
      static_cast<unsigned long long>(total(&DriverStats::broadcasts_received)), max_links,
      rss0 / 1048576.0, max_rss / 1048576.0);
}

}  // namespace
