#include "support.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <thread>

namespace tst {

bool wait_until(const std::function<bool()>& pred, milliseconds timeout) {
  auto end = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= end) return pred();
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

static int count_dir(const char* path) {
  int n = 0;
  if (DIR* d = opendir(path)) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
  }
  return n;
}
int fd_count() { return count_dir("/proc/self/fd") - 1; }  // minus the DIR's own fd
int thread_count() { return count_dir("/proc/self/task"); }

Client::Client(uint32_t port, int timeout_ms) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) close();
}
Client::~Client() { close(); }
void Client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}
void Client::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

bool Client::send_all(const void* data, size_t len) {
  auto* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::send(fd_, p, len, MSG_NOSIGNAL);
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool Client::recv_exact(void* out, size_t n) {
  auto* p = static_cast<char*>(out);
  while (n > 0) {
    ssize_t r = ::recv(fd_, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

std::string Client::recv_n(size_t n) {
  std::string s(n, '\0');
  if (!recv_exact(s.data(), n)) return {};
  return s;
}

bool Client::wait_closed(int timeout_ms) {
  auto end = Clock::now() + milliseconds(timeout_ms);
  char buf[4096];
  while (Clock::now() < end) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t r = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
  }
  return false;
}

uint8_t pattern(uint64_t seed, uint64_t i) {
  uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ull ^ (i / 8) * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  return static_cast<uint8_t>(x >> ((i % 8) * 8));
}

EchoResult echo_many(uint32_t port, int connections, size_t bytes, size_t max_chunk,
                     int timeout_ms) {
  EchoResult res;
  struct Conn {
    std::unique_ptr<Client> c;
    size_t sent = 0, got = 0;
  };
  std::vector<Conn> conns(static_cast<size_t>(connections));
  for (auto& k : conns) {
    k.c = std::make_unique<Client>(port);
    if (!k.c->ok()) {
      res.errors++;
      res.first_error = "connect failed";
      return res;
    }
  }
  std::mt19937_64 rng(42);
  std::vector<uint8_t> buf(std::max<size_t>(max_chunk, 65536));
  auto end = Clock::now() + milliseconds(timeout_ms);
  size_t done = 0;
  while (done < conns.size()) {
    if (Clock::now() > end) {
      res.errors++;
      res.first_error = "timeout: " + std::to_string(conns.size() - done) + " connections unfinished";
      return res;
    }
    std::vector<pollfd> pfds(conns.size());
    for (size_t i = 0; i < conns.size(); ++i) {
      pfds[i].fd = conns[i].got < bytes ? conns[i].c->fd() : -1;
      pfds[i].events = static_cast<short>(POLLIN | (conns[i].sent < bytes ? POLLOUT : 0));
    }
    if (::poll(pfds.data(), pfds.size(), 50) <= 0) continue;
    for (size_t i = 0; i < conns.size(); ++i) {
      Conn& k = conns[i];
      if ((pfds[i].revents & POLLOUT) && k.sent < bytes) {
        size_t n = std::min<size_t>(bytes - k.sent, 1 + rng() % max_chunk);
        for (size_t j = 0; j < n; ++j) buf[j] = pattern(i, k.sent + j);
        ssize_t w = ::send(k.c->fd(), buf.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) k.sent += static_cast<size_t>(w);
      }
      if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t r = ::recv(k.c->fd(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
          res.errors++;
          res.first_error = "connection " + std::to_string(i) + " closed early";
          return res;
        }
        for (ssize_t j = 0; j < r; ++j) {
          if (buf[static_cast<size_t>(j)] != pattern(i, k.got + static_cast<size_t>(j))) {
            res.errors++;
            res.first_error = "byte " + std::to_string(k.got + static_cast<size_t>(j)) +
                              " of connection " + std::to_string(i) + " differs";
            return res;
          }
        }
        if (r > 0) {
          k.got += static_cast<size_t>(r);
          res.verified += static_cast<uint64_t>(r);
          if (k.got >= bytes) ++done;
        }
      }
    }
  }
  return res;
}

void ServerTest::SetUp() {
  StopTcpServer();
  SetEventProc(nullptr, nullptr, nullptr, nullptr, nullptr);
  SetConnectProc(nullptr);
  SetThreadExitProc(nullptr);
  const int32_t opts[] = {TS_OPT_MAX_LINKS,       TS_OPT_IO_BUFFER_SIZE,    TS_OPT_IO_BUFFER_COUNT,
                          TS_OPT_IDLE_TIMEOUT_MS, TS_OPT_WORKER_THREADS,    TS_OPT_SEND_QUEUE_LIMIT,
                          TS_OPT_SEND_QUEUE_POLICY};
  const int64_t defs[] = {3000, 2048, 10000, 60000, 2, 16 << 20, TS_QUEUE_CLOSE_LINK};
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; ++i)
    ASSERT_EQ(1, SetServerOption(opts[i], defs[i])) << GetLastErrorText();
}

void ServerTest::TearDown() { EXPECT_EQ(1, StopTcpServer()) << GetLastErrorText(); }

uint32_t ServerTest::start() {
  EXPECT_EQ(1, StartTcpServer("127.0.0.1", 0)) << GetLastErrorText();
  uint32_t port = GetServerPort();
  EXPECT_NE(0u, port);
  return port;
}

}  // namespace tst
