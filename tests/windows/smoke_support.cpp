#include "smoke_support.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

namespace smoke {
namespace {
int g_failures_in_test = 0;
constexpr uint64_t kTestLimitMs = 120000;
std::atomic<const char*> g_current{nullptr};
std::atomic<uint64_t> g_test_started{0};

// A hung test (say, StopTcpServer never returning) must name itself instead of being killed
// silently by an outer timeout.
void start_watchdog() {
  std::thread([] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      const char* name = g_current.load();
      if (name && now_ms() - g_test_started.load() > kTestLimitMs) {
        std::printf("[ HANG ] %s still running after %llu s\n1 failed (hung)\n", name,
                    static_cast<unsigned long long>(kTestLimitMs / 1000));
        std::fflush(stdout);
        std::_Exit(3);
      }
    }
  }).detach();
}
}  // namespace

void check(bool ok, const char* expr, const char* file, int line, const std::string& note) {
  if (ok) return;
  ++g_failures_in_test;
  const char* base = std::strrchr(file, '/');
  std::printf("    FAILED %s:%d: %s%s%s\n", base ? base + 1 : file, line, expr,
              note.empty() ? "" : " -- ", note.c_str());
  std::fflush(stdout);
}

int run_tests(const std::vector<TestCase>& tests, const char* filter) {
  int passed = 0, failed = 0;
  start_watchdog();
  for (const TestCase& t : tests) {
    if (filter && !std::strstr(t.name, filter)) continue;
    g_test_started = now_ms();
    g_current = t.name;
    g_failures_in_test = 0;
    std::printf("[ RUN  ] %s\n", t.name);
    std::fflush(stdout);
    uint64_t t0 = now_ms();
    t.fn();
    bool ok = g_failures_in_test == 0;
    std::printf("[ %s ] %s (%llu ms)\n", ok ? " OK " : "FAIL", t.name,
                static_cast<unsigned long long>(now_ms() - t0));
    std::fflush(stdout);
    (ok ? passed : failed)++;
  }
  g_current = nullptr;
  std::printf("%d passed, %d failed\n", passed, failed);
  std::fflush(stdout);
  return failed;
}

uint64_t now_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

bool wait_until(const std::function<bool()>& pred, int timeout_ms) {
  uint64_t deadline = now_ms() + static_cast<uint64_t>(timeout_ms);
  for (;;) {
    if (pred()) return true;
    if (now_ms() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

uint8_t pattern(uint64_t seed, uint64_t i) {
  uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ull ^ (i / 8) * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  return static_cast<uint8_t>(x >> ((i % 8) * 8));
}

// ------------------------------------------------------------------------------------------
// Client
// ------------------------------------------------------------------------------------------

static sockaddr_in loopback(uint32_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<u_short>(port));
  return a;
}

Client::Client(uint32_t port, int timeout_ms, int rcvbuf) {
  s_ = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (s_ == INVALID_SOCKET) return;
  DWORD t = static_cast<DWORD>(timeout_ms);
  setsockopt(s_, SOL_SOCKET, SO_RCVTIMEO, reinterpret_cast<const char*>(&t), sizeof t);
  setsockopt(s_, SOL_SOCKET, SO_SNDTIMEO, reinterpret_cast<const char*>(&t), sizeof t);
  if (rcvbuf > 0)
    setsockopt(s_, SOL_SOCKET, SO_RCVBUF, reinterpret_cast<const char*>(&rcvbuf), sizeof rcvbuf);
  sockaddr_in a = loopback(port);
  if (connect(s_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) close();
}

Client::~Client() { close(); }

bool Client::send_all(const void* data, size_t len) {
  auto* p = static_cast<const char*>(data);
  while (len > 0) {
    int n = ::send(s_, p, static_cast<int>(std::min<size_t>(len, 1 << 20)), 0);
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool Client::recv_exact(void* out, size_t n) {
  auto* p = static_cast<char*>(out);
  while (n > 0) {
    int r = ::recv(s_, p, static_cast<int>(std::min<size_t>(n, 1 << 20)), 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

std::string Client::recv_n(size_t n) {
  std::string s(n, '\0');
  return recv_exact(&s[0], n) ? s : std::string();
}

bool Client::wait_closed(int timeout_ms) {
  uint64_t deadline = now_ms() + static_cast<uint64_t>(timeout_ms);
  char buf[4096];
  while (now_ms() < deadline) {
    WSAPOLLFD p{s_, POLLRDNORM, 0};
    int left = static_cast<int>(deadline - now_ms());
    int r = WSAPoll(&p, 1, std::max(1, left));
    if (r < 0) return false;
    if (r == 0) continue;
    int n = ::recv(s_, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0) {
      int e = WSAGetLastError();
      if (e == WSAETIMEDOUT || e == WSAEWOULDBLOCK) continue;
      return true;  // reset
    }
  }
  return false;
}

void Client::reset() {
  if (s_ == INVALID_SOCKET) return;
  linger lg{1, 0};
  setsockopt(s_, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&lg), sizeof lg);
  close();
}

void Client::close() {
  if (s_ != INVALID_SOCKET) closesocket(s_);
  s_ = INVALID_SOCKET;
}

// ------------------------------------------------------------------------------------------
// echo_many
// ------------------------------------------------------------------------------------------

namespace {
struct Conn {
  SOCKET s = INVALID_SOCKET;
  uint64_t sent = 0, got = 0;
  bool done = false;
};
}  // namespace

EchoResult echo_many(uint32_t port, int connections, size_t bytes, size_t max_chunk,
                     int timeout_ms) {
  EchoResult res;
  auto error = [&](const std::string& what) {
    if (res.errors++ == 0) res.first_error = what;
  };
  std::vector<Conn> conns(static_cast<size_t>(connections));
  for (int i = 0; i < connections; ++i) {
    Conn& c = conns[static_cast<size_t>(i)];
    c.s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    sockaddr_in a = loopback(port);
    if (c.s == INVALID_SOCKET || connect(c.s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      error("connect " + std::to_string(i) + " failed: " + std::to_string(WSAGetLastError()));
      c.done = true;
      continue;
    }
    u_long nb = 1;
    ioctlsocket(c.s, FIONBIO, &nb);
  }
  std::vector<uint8_t> out(max_chunk), in(64 * 1024);
  uint64_t rng = 12345;
  uint64_t deadline = now_ms() + static_cast<uint64_t>(timeout_ms);
  std::vector<WSAPOLLFD> fds;
  std::vector<size_t> idx;
  for (;;) {
    fds.clear();
    idx.clear();
    for (size_t i = 0; i < conns.size(); ++i) {
      if (conns[i].done) continue;
      short ev = POLLRDNORM;
      if (conns[i].sent < bytes) ev |= POLLWRNORM;
      fds.push_back(WSAPOLLFD{conns[i].s, ev, 0});
      idx.push_back(i);
    }
    if (fds.empty()) break;
    if (now_ms() >= deadline) {
      error(std::to_string(fds.size()) + " connections unfinished at the deadline");
      break;
    }
    int r = WSAPoll(fds.data(), static_cast<ULONG>(fds.size()), 100);
    if (r < 0) {
      error("WSAPoll failed: " + std::to_string(WSAGetLastError()));
      break;
    }
    for (size_t k = 0; k < fds.size(); ++k) {
      Conn& c = conns[idx[k]];
      uint64_t seed = idx[k];
      short re = fds[k].revents;
      if (re & POLLWRNORM) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = std::min<uint64_t>(bytes - c.sent, 1 + (rng >> 33) % max_chunk);
        for (size_t j = 0; j < n; ++j) out[j] = pattern(seed, c.sent + j);
        int w = ::send(c.s, reinterpret_cast<char*>(out.data()), static_cast<int>(n), 0);
        if (w > 0) c.sent += static_cast<uint64_t>(w);
      }
      if (re & (POLLRDNORM | POLLHUP | POLLERR)) {
        int n = ::recv(c.s, reinterpret_cast<char*>(in.data()), static_cast<int>(in.size()), 0);
        if (n > 0) {
          for (int j = 0; j < n; ++j) {
            if (in[static_cast<size_t>(j)] != pattern(seed, c.got + static_cast<uint64_t>(j))) {
              error("connection " + std::to_string(idx[k]) + ": byte " +
                    std::to_string(c.got + static_cast<uint64_t>(j)) + " differs");
              c.done = true;
              break;
            }
          }
          c.got += static_cast<uint64_t>(n);
          res.verified += static_cast<uint64_t>(n);
          if (c.got > bytes) error("connection " + std::to_string(idx[k]) + ": too many bytes");
          if (c.got >= bytes) c.done = true;
        } else if (n == 0 || WSAGetLastError() != WSAEWOULDBLOCK) {
          error("connection " + std::to_string(idx[k]) + " closed after " +
                std::to_string(c.got) + " of " + std::to_string(bytes) + " bytes");
          c.done = true;
        }
      }
    }
  }
  for (Conn& c : conns)
    if (c.s != INVALID_SOCKET) closesocket(c.s);
  return res;
}

}  // namespace smoke
