// bench_load: the benchmark client. Every mode prints one "RESULT key=value ..." line on
// standard output and exits 0, or explains on standard error what failed and exits 1. A wrong
// echoed byte is a failure: every byte received is compared with what was sent (pattern.h).
//
//   bench_load echo  --port P [--conns 100] [--size 64] [--inflight 1] [--threads 1] [--procs 1]
//                    [--seconds 3] [--warmup 0.5] [--rate 0] [--server-pid PID]
//       closed loop (rate 0): each connection keeps `inflight` messages outstanding and sends
//       the next when one has come back. Open loop (rate R msgs/s in total): each connection
//       sends on a fixed schedule whatever the server does, and latency runs from the scheduled
//       send time, so a stalled server is charged for every message it delayed (no coordinated
//       omission). With --server-pid, also the server's CPU time (user + system) per message.
//       --procs N spreads the connections over N client processes (each with --threads).
//   bench_load scale --port P --server-pid PID [--conns N] [--procs 4] [--sources 4]
//       N mostly idle connections (default: the descriptor hard limit less a margin) from
//       `procs` processes over 127.0.0.2.. source addresses; each sends one byte and waits for
//       its echo. Reports the accept rate (connections served per second) and the server's RSS
//       growth per connection, from /proc/PID/status.
//   bench_load bcast --port P [--links 10000] [--seconds 3] [--server-pid PID]
//       opens the links, then asks the server (first link, 'B') for one 1 KiB broadcast at a
//       time and waits until every link has received it; reports deliveries per second and the
//       server's own time per broadcast ('P' probe).
//
// TLS (OpenSSL, TLS 1.3 only, the certificate not verified: the server's cost is measured):
//   --tls for echo, scale and bcast speaks TLS on every connection (handshakes done while the
//       connections open, before the measured window); every echoed byte is still verified.
//       scale --tls --tls-echo 4096: each link echoes 4 KiB once before the RSS is read.
//   bench_load handshake --port P [--conns 32] [--procs 1] [--seconds 3] [--warmup 0.5]
//                        [--resume] [--server-pid PID[,PID]]
//       `conns` connections at a time each connect, complete a TLS 1.3 handshake, have one byte
//       echoed (so the server has finished its side), send close_notify and close. --resume: every connection offers one ticket taken before the run, and a
//       handshake the server did not resume is a failure. Reports handshakes/s and the server's
//       CPU time per handshake.
// --server-pid may list several processes (haproxy,backend): their CPU times are added.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "pattern.h"

namespace {

[[noreturn]] void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fputs("bench_load: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
  std::exit(1);
}

// The echo loop enters the kernel directly: glibc's send/recv in a process with threads switch
// the cancellation state around every call (two atomic operations each), and at 64-byte
// messages the client's own cost decides how much of the server's speed the run can show.
ssize_t sys_send(int fd, const void* buf, size_t len) {
  return ::syscall(SYS_sendto, fd, buf, len, MSG_NOSIGNAL, nullptr, 0);
}
ssize_t sys_recv(int fd, void* buf, size_t len) {
  return ::syscall(SYS_recvfrom, fd, buf, len, 0, nullptr, nullptr);
}

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// --key value arguments, with defaults.
struct Args {
  std::map<std::string, std::string> kv;
  double num(const char* key, double def) const {
    auto it = kv.find(key);
    return it == kv.end() ? def : std::atof(it->second.c_str());
  }
  long integer(const char* key, long def) const { return static_cast<long>(num(key, static_cast<double>(def))); }
};

// Latency histogram: exact below 64 ns, then 32 buckets per power of two (about 3 % wide).
class Histogram {
 public:
  static constexpr int kBuckets = 64 + 58 * 32;
  void add(uint64_t v) { ++counts_[index(v)]; ++total_; }
  void merge(const Histogram& o) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
  }
  uint64_t total() const { return total_; }
  // As words (the counts, then the total), to hand to another process.
  static constexpr size_t kWords = kBuckets + 1;
  std::vector<uint64_t> words() const {
    std::vector<uint64_t> w = counts_;
    w.push_back(total_);
    return w;
  }
  void set_words(const std::vector<uint64_t>& w) {
    counts_.assign(w.begin(), w.end() - 1);
    total_ = w.back();
  }
  // The value below which a fraction q of the samples lie (bucket midpoint).
  double quantile(double q) const {
    if (!total_) return 0;
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total_)));
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return (static_cast<double>(low(i)) + static_cast<double>(low(i + 1))) / 2;
    }
    return static_cast<double>(low(kBuckets - 1));
  }

 private:
  static int index(uint64_t v) {
    if (v < 64) return static_cast<int>(v);
    int e = 63 - __builtin_clzll(v);  // >= 6
    int i = 64 + (e - 6) * 32 + static_cast<int>((v >> (e - 5)) & 31);
    return std::min(i, kBuckets - 1);
  }
  static uint64_t low(int i) {
    if (i < 64) return static_cast<uint64_t>(i);
    int e = (i - 64) / 32 + 6, sub = (i - 64) % 32;
    return static_cast<uint64_t>(32 + sub) << (e - 5);
  }
  std::vector<uint64_t> counts_ = std::vector<uint64_t>(kBuckets);
  uint64_t total_ = 0;
};

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

sockaddr_in server_addr(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Compare received bytes with what connection `conn` sent at stream offset `off`.
void verify(const uint8_t* data, size_t n, uint64_t off, uint32_t conn) {
  while (n > 0) {
    size_t chunk = std::min<size_t>(n, BENCH_PATTERN_SIZE);
    const uint8_t* want = bench_pattern + bench_pattern_pos(off, conn);
    if (std::memcmp(data, want, chunk) != 0) {
      size_t i = 0;
      while (data[i] == want[i]) ++i;
      die("connection %u: byte %llu came back as 0x%02x, 0x%02x was sent", conn,
          static_cast<unsigned long long>(off + i), data[i], want[i]);
    }
    data += chunk;
    off += chunk;
    n -= chunk;
  }
}

// ------------------------------------------------------------------------------------------
// TLS: one client context; send/recv through SSL with the plaintext calls' conventions
// (-1 with errno EAGAIN when it would block, 0 at the end of the stream).
// ------------------------------------------------------------------------------------------

SSL_CTX* g_tls = nullptr;         // set with --tls and for the handshake mode
SSL_SESSION* g_ticket = nullptr;  // the first ticket received (handshake --resume offers it)

std::string tls_errors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string(std::strerror(errno)) : out;
}

// A ticket arrived: flag the connection (app data, when set) and keep the first one.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  if (auto* seen = static_cast<bool*>(SSL_get_app_data(ssl))) *seen = true;
  if (!g_ticket) {
    g_ticket = session;
    return 1;  // the reference is ours
  }
  return 0;
}

void tls_init() {
  g_tls = SSL_CTX_new(TLS_client_method());
  if (!g_tls) die("SSL_CTX_new: %s", tls_errors().c_str());
  SSL_CTX_set_min_proto_version(g_tls, TLS1_3_VERSION);
  SSL_CTX_set_verify(g_tls, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_mode(g_tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // The servers' default TLS 1.3 suites in their order (tcpserver's, set on every peer too).
  SSL_CTX_set_ciphersuites(g_tls, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  SSL_CTX_set_session_cache_mode(g_tls, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(g_tls, on_new_session);
}

SSL* tls_new(int fd) {
  SSL* ssl = SSL_new(g_tls);
  if (!ssl || SSL_set_fd(ssl, fd) != 1) die("SSL_new: %s", tls_errors().c_str());
  SSL_set_connect_state(ssl);
  return ssl;
}

ssize_t io_send(int fd, SSL* ssl, const void* buf, size_t len) {
  if (!ssl) return sys_send(fd, buf, len);
  int r = SSL_write(ssl, buf, static_cast<int>(std::min<size_t>(len, 1u << 30)));
  if (r > 0) return r;
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  die("TLS write failed: %s", tls_errors().c_str());
}

ssize_t io_recv(int fd, SSL* ssl, void* buf, size_t len) {
  if (!ssl) return sys_recv(fd, buf, len);
  int r = SSL_read(ssl, buf, static_cast<int>(std::min<size_t>(len, 1u << 30)));
  if (r > 0) return r;
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) return 0;
  if (e == SSL_ERROR_SYSCALL) return -1;
  die("TLS read failed: %s", tls_errors().c_str());
}

// ------------------------------------------------------------------------------------------
// Opening many connections: non-blocking connects, at most `window` not yet done at a time,
// each from one of `sources` addresses 127.0.0.2, 127.0.0.3, ... With `echo_byte`, a
// connection is done when one byte sent on it has come back; otherwise when connected. With
// TLS (g_tls set), when its handshake is complete and, with `tls_echo`, that many bytes sent
// on it have come back (verified).
// ------------------------------------------------------------------------------------------

struct Opened {
  std::vector<int> fds;
  std::vector<SSL*> ssls;  // per fd, with TLS
  uint64_t first_ns = 0, last_ns = 0;
};

struct Opening {
  uint8_t st = 0;  // 0 connecting, 1 waiting for the echoed byte, 2 done, 3 TLS handshake, 4 TLS echo
  SSL* ssl = nullptr;
  uint32_t id = 0, tx = 0, rx = 0;
};

// One step of a TLS connection being opened; true when it is done.
bool tls_open_step(Opening& o, int fd, uint32_t tls_echo, uint8_t* buf) {
  if (o.st == 3) {
    int r = SSL_do_handshake(o.ssl);
    if (r != 1) {
      int e = SSL_get_error(o.ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return false;
      die("TLS handshake failed: %s", tls_errors().c_str());
    }
    if (tls_echo == 0) return true;
    o.st = 4;
  }
  while (o.tx < tls_echo) {
    ssize_t n = io_send(fd, o.ssl, bench_pattern + bench_pattern_pos(o.tx, o.id), tls_echo - o.tx);
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) die("TLS connection %u: send failed", o.id);
    o.tx += static_cast<uint32_t>(n);
  }
  for (;;) {
    ssize_t n = io_recv(fd, o.ssl, buf, BENCH_PATTERN_SIZE);
    if (n < 0 && errno == EAGAIN) return false;
    if (n <= 0) die("TLS connection %u: the server closed it after %u echoed bytes", o.id, o.rx);
    if (o.rx + static_cast<uint64_t>(n) > o.tx) die("TLS connection %u: more bytes came back than were sent", o.id);
    verify(buf, static_cast<size_t>(n), o.rx, o.id);
    o.rx += static_cast<uint32_t>(n);
    if (o.rx == tls_echo) return true;
  }
}

Opened open_many(uint16_t port, long count, int sources, int source_base, long window, bool echo_byte,
                 double deadline_s, uint32_t tls_echo = 0, uint32_t first_id = 0) {
  Opened out;
  out.fds.reserve(static_cast<size_t>(count));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  sockaddr_in to = server_addr(port);
  long started = 0, pending = 0, done = 0;
  std::vector<Opening> stage;  // per fd
  std::vector<uint8_t> tls_buf(g_tls ? BENCH_PATTERN_SIZE : 0);
  out.first_ns = now_ns();
  uint64_t deadline = out.first_ns + static_cast<uint64_t>(deadline_s * 1e9);
  epoll_event events[512];
  while (done < count) {
    while (started < count && pending < window) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) die("socket() failed after %ld connections: %s", started, std::strerror(errno));
      int one = 1;
      if (!echo_byte) ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (sources > 0) {  // let connect() pick the port per destination, not bind()
        ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_addr.s_addr = htonl((127u << 24) | static_cast<uint32_t>(2 + (source_base + started) % sources));
        if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0)
          die("bind to source %s: %s", inet_ntoa(from.sin_addr), std::strerror(errno));
      }
      if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS)
        die("connect() failed after %ld connections: %s", started, std::strerror(errno));
      if (static_cast<size_t>(fd) >= stage.size()) stage.resize(static_cast<size_t>(fd) + 1024);
      stage[static_cast<size_t>(fd)] = Opening{};
      stage[static_cast<size_t>(fd)].id = first_id + static_cast<uint32_t>(started);
      // Edge-triggered: one edge when connected, one when the echo comes, none while idle,
      // so a done connection can stay registered (the fewer client syscalls, the more of the
      // machine is left to the server whose accept rate this measures).
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN | EPOLLET;
      ev.data.fd = fd;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      ++started;
      ++pending;
    }
    int n = ::epoll_wait(ep, events, 512, 100);
    if (now_ns() > deadline)
      die("only %ld of %ld connections were served within %.0f s", done, count, deadline_s);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      Opening& op = stage[static_cast<size_t>(fd)];
      uint8_t& st = op.st;
      bool finished = false;
      if (st == 0 && (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        if (events[i].events & (EPOLLERR | EPOLLHUP)) {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
          die("connect() failed after %ld connections: %s", done, std::strerror(err ? err : ECONNRESET));
        }
        if (g_tls) {
          st = 3;
          op.ssl = tls_new(fd);
        } else if (echo_byte) {
          char b = 'x';
          if (::send(fd, &b, 1, MSG_NOSIGNAL) != 1) die("send failed: %s", std::strerror(errno));
          st = 1;
        } else {
          finished = true;
        }
      }
      if (st == 1 && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        char b = 0;
        ssize_t r = ::recv(fd, &b, 1, 0);
        if (r == 1 && b == 'x') finished = true;
        else if (r < 0 && errno == EAGAIN) continue;
        else die("the server closed or garbled a new connection (recv %zd: %s)", r, std::strerror(errno));
      }
      if (st >= 3 && !(events[i].events & EPOLLERR)) finished = tls_open_step(op, fd, tls_echo, tls_buf.data());
      else if (st >= 3) die("a TLS connection failed while opening (%ld done)", done);
      if (finished) {
        st = 2;
        out.fds.push_back(fd);
        out.ssls.push_back(op.ssl);
        --pending;
        ++done;
      }
    }
  }
  out.last_ns = now_ns();
  ::close(ep);
  return out;
}

long fd_hard_limit() {
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<long>(rl.rlim_max);
}

void raise_fd_limit() {
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

// CPU time (user + system, all threads) the process `pid` has used, in microseconds; 0 when
// there is no pid. Per message it says what a server costs even when the machine is shared,
// where throughput also depends on what else runs.
std::vector<long> g_more_pids;  // --server-pid A,B,...: the processes after the first

double cpu_one(long pid);
double cpu_us(long pid) {
  if (pid <= 0) return 0;
  double total = cpu_one(pid);
  for (long more : g_more_pids) total += cpu_one(more);
  return total;
}

double cpu_one(long pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE* f = std::fopen(path, "r");
  if (!f) die("cannot read %s: is the server running?", path);
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
  unsigned long long utime = 0, stime = 0;
  if (!p || std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    die("cannot parse %s", path);
  return static_cast<double>(utime + stime) * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// ------------------------------------------------------------------------------------------
// echo
// ------------------------------------------------------------------------------------------

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;  // with --tls
  uint32_t id = 0;
  uint64_t tx_off = 0;     // bytes written
  uint64_t tx_target = 0;  // bytes that should have been written (messages issued x size)
  uint64_t rx_off = 0;     // bytes received and verified
  uint64_t next_due = 0;   // open loop: when the next message is scheduled
  std::deque<uint64_t> stamps;  // send (or scheduled) time of each message in flight
  bool want_out = false;
};

struct EchoConfig {
  uint32_t size = 64;
  int inflight = 1;
  double rate = 0;  // msgs/s over all connections; 0 = closed loop
  uint64_t interval_ns = 0;  // per connection, open loop
  uint64_t start_ns = 0, measure_ns = 0, end_ns = 0;
};

struct EchoResult {
  uint64_t msgs = 0, bytes = 0;
  Histogram hist;
};

void flush(Conn& c) {
  while (c.tx_off < c.tx_target) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(c.tx_target - c.tx_off, BENCH_PATTERN_SIZE));
    ssize_t n = io_send(c.fd, c.ssl, bench_pattern + bench_pattern_pos(c.tx_off, c.id), len);
    if (n > 0) {
      c.tx_off += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c.want_out = true;  // EPOLLOUT (edge-triggered, always registered) resumes it
      return;
    }
    die("connection %u: send failed: %s", c.id, std::strerror(errno));
  }
  c.want_out = false;
}

void issue(Conn& c, const EchoConfig& cfg, uint64_t stamp) {
  c.stamps.push_back(stamp);
  c.tx_target += cfg.size;
}

void echo_thread(std::vector<Conn>* conns, const EchoConfig* cfg, EchoResult* res) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (Conn& c : *conns) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.ptr = &c;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  }
  std::vector<uint8_t> buf(BENCH_PATTERN_SIZE);
  const bool open_loop = cfg->rate > 0;
  if (!open_loop) {
    for (Conn& c : *conns) {
      for (int k = 0; k < cfg->inflight; ++k) issue(c, *cfg, cfg->start_ns);
      flush(c);
    }
  }
  epoll_event events[256];
  for (;;) {
    uint64_t now = now_ns();
    if (now >= cfg->end_ns) break;
    timespec timeout{0, 0};
    uint64_t wait_until = cfg->end_ns;
    if (open_loop) {
      for (Conn& c : *conns) {
        bool issued = false;
        while (c.next_due <= now && c.next_due < cfg->end_ns) {
          issue(c, *cfg, c.next_due);
          c.next_due += cfg->interval_ns;
          issued = true;
        }
        if (issued && !c.want_out) flush(c);
        wait_until = std::min(wait_until, c.next_due);
      }
    }
    uint64_t wait = wait_until > now ? wait_until - now : 0;
    timeout.tv_sec = static_cast<time_t>(wait / 1000000000u);
    timeout.tv_nsec = static_cast<long>(wait % 1000000000u);
    int n = ::epoll_pwait2(ep, events, 256, &timeout, nullptr);
    if (n < 0 && errno != EINTR) die("epoll_pwait2: %s", std::strerror(errno));
    for (int i = 0; i < n; ++i) {
      Conn& c = *static_cast<Conn*>(events[i].data.ptr);
      if ((events[i].events & EPOLLOUT) && c.want_out) flush(c);
      if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      for (;;) {
        ssize_t r = io_recv(c.fd, c.ssl, buf.data(), buf.size());
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (r <= 0)
          die("connection %u: the server closed it (%s) after %llu bytes", c.id,
              r == 0 ? "end of stream" : std::strerror(errno), static_cast<unsigned long long>(c.rx_off));
        if (c.rx_off + static_cast<uint64_t>(r) > c.tx_off)
          die("connection %u: more bytes came back than were sent", c.id);
        verify(buf.data(), static_cast<size_t>(r), c.rx_off, c.id);
        uint64_t before = c.rx_off / cfg->size;
        c.rx_off += static_cast<uint64_t>(r);
        uint64_t completed = c.rx_off / cfg->size - before;
        uint64_t t = now_ns();
        for (uint64_t k = 0; k < completed; ++k) {
          uint64_t stamp = c.stamps.front();
          c.stamps.pop_front();
          if (t >= cfg->measure_ns && t < cfg->end_ns) {
            ++res->msgs;
            res->hist.add(t - stamp);
          }
          if (!open_loop && t < cfg->end_ns) issue(c, *cfg, t);
        }
        if (!open_loop && completed && !c.want_out) flush(c);
        // A short read emptied the socket; TLS hands over one record at a time, so read on
        // until it would block (edge-triggered: no new edge for what is already here).
        if (!c.ssl && static_cast<size_t>(r) < buf.size()) break;
      }
    }
  }
  res->bytes = res->msgs * cfg->size;
  ::close(ep);
}

// The connections [first, first + count) of a run, dealt over `nthreads` threads.
std::vector<std::vector<Conn>> open_share(uint16_t port, long first, long count, int nthreads) {
  Opened opened = open_many(port, count, 0, 0, 64, false, 30, 0, static_cast<uint32_t>(first));
  std::vector<std::vector<Conn>> per_thread(static_cast<size_t>(nthreads));
  for (long i = 0; i < count; ++i) {
    Conn c;
    c.fd = opened.fds[static_cast<size_t>(i)];
    c.ssl = opened.ssls[static_cast<size_t>(i)];
    c.id = static_cast<uint32_t>(first + i);
    per_thread[static_cast<size_t>(i % nthreads)].push_back(std::move(c));
  }
  return per_thread;
}

// Runs the share on cfg's schedule (from start_ns, which must be set); closes its connections.
EchoResult drive_share(std::vector<std::vector<Conn>>& per_thread, EchoConfig cfg, long nconns,
                       double seconds, double warmup) {
  cfg.measure_ns = cfg.start_ns + static_cast<uint64_t>(warmup * 1e9);
  cfg.end_ns = cfg.measure_ns + static_cast<uint64_t>(seconds * 1e9);
  if (cfg.rate > 0) {
    double per_conn = cfg.rate / static_cast<double>(nconns);
    cfg.interval_ns = static_cast<uint64_t>(1e9 / per_conn);
    for (auto& v : per_thread)
      for (Conn& c : v)  // spread the connections' phases over one interval
        c.next_due = cfg.start_ns + cfg.interval_ns * c.id / static_cast<uint64_t>(nconns);
  }
  while (now_ns() < cfg.start_ns) std::this_thread::sleep_for(std::chrono::microseconds(200));
  std::vector<EchoResult> results(per_thread.size());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < per_thread.size(); ++t)
    threads.emplace_back(echo_thread, &per_thread[t], &cfg, &results[t]);
  for (auto& t : threads) t.join();
  EchoResult total;
  for (auto& r : results) {
    total.msgs += r.msgs;
    total.bytes += r.bytes;
    total.hist.merge(r.hist);
  }
  for (auto& v : per_thread)
    for (Conn& c : v) {
      if (c.ssl) SSL_free(c.ssl);
      ::close(c.fd);
    }
  return total;
}

void write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("pipe write: %s", std::strerror(errno));
    c += w;
    n -= static_cast<size_t>(w);
  }
}

void read_all(int fd, void* p, size_t n, const char* what) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = ::read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die("%s: a client process ended early (see its message above)", what);
    c += r;
    n -= static_cast<size_t>(r);
  }
}

int run_echo(const Args& a, uint16_t port) {
  EchoConfig cfg;
  cfg.size = static_cast<uint32_t>(a.integer("--size", 64));
  cfg.inflight = static_cast<int>(a.integer("--inflight", 1));
  cfg.rate = a.num("--rate", 0);
  long nconns = a.integer("--conns", 100);
  int nthreads = static_cast<int>(std::max(1L, std::min(a.integer("--threads", 1), nconns)));
  int nprocs = static_cast<int>(std::max(1L, std::min(a.integer("--procs", 1), nconns)));
  double seconds = a.num("--seconds", 3), warmup = a.num("--warmup", 0.5);
  if (cfg.size < 1 || cfg.size > BENCH_PATTERN_SIZE) die("--size must be 1..%u", BENCH_PATTERN_SIZE);
  if (cfg.inflight < 1) die("--inflight must be at least 1");
  long pid = a.integer("--server-pid", 0);

  EchoResult total;
  double cpu0 = 0, cpu1 = 0;
  auto measure_start = [&](uint64_t start_ns) {
    uint64_t measure_ns = start_ns + static_cast<uint64_t>(warmup * 1e9);
    while (now_ns() < measure_ns) std::this_thread::sleep_for(std::chrono::microseconds(500));
    cpu0 = cpu_us(pid);
  };
  if (nprocs == 1) {
    auto share = open_share(port, 0, nconns, nthreads);
    cfg.start_ns = now_ns() + 20000000;  // every thread starts on the same schedule
    std::thread meter([&] { measure_start(cfg.start_ns); });
    total = drive_share(share, cfg, nconns, seconds, warmup);
    meter.join();
    cpu1 = cpu_us(pid);
  } else {
    // Clients in `nprocs` processes (so they use several CPUs' worth of scheduling like real
    // clients): each opens its share, says so, waits for the common start, reports its result.
    std::vector<int> up(static_cast<size_t>(nprocs)), down(static_cast<size_t>(nprocs));
    std::vector<pid_t> kids;
    for (int p = 0; p < nprocs; ++p) {
      int u[2], d[2];
      if (::pipe(u) != 0 || ::pipe(d) != 0) die("pipe: %s", std::strerror(errno));
      long first = nconns / nprocs * p + std::min<long>(p, nconns % nprocs);
      long count = nconns / nprocs + (p < nconns % nprocs ? 1 : 0);
      pid_t kid = ::fork();
      if (kid < 0) die("fork: %s", std::strerror(errno));
      if (kid == 0) {
        ::close(u[0]);
        ::close(d[1]);
        auto share = open_share(port, first, count, nthreads);
        char ready = 1;
        write_all(u[1], &ready, 1);
        read_all(d[0], &cfg.start_ns, sizeof cfg.start_ns, "start");
        EchoResult r = drive_share(share, cfg, nconns, seconds, warmup);
        uint64_t head[2] = {r.msgs, r.bytes};
        std::vector<uint64_t> hist = r.hist.words();
        write_all(u[1], head, sizeof head);
        write_all(u[1], hist.data(), hist.size() * sizeof hist[0]);
        std::fflush(nullptr);
        ::_exit(0);
      }
      ::close(u[1]);
      ::close(d[0]);
      up[static_cast<size_t>(p)] = u[0];
      down[static_cast<size_t>(p)] = d[1];
      kids.push_back(kid);
    }
    for (int fd : up) {
      char ready;
      read_all(fd, &ready, 1, "opening connections");
    }
    uint64_t start_ns = now_ns() + 50000000;
    for (int fd : down) write_all(fd, &start_ns, sizeof start_ns);
    measure_start(start_ns);
    for (int fd : up) {
      uint64_t head[2];
      std::vector<uint64_t> words(Histogram::kWords);
      read_all(fd, head, sizeof head, "echo");
      read_all(fd, words.data(), words.size() * sizeof words[0], "echo");
      Histogram h;
      h.set_words(words);
      total.msgs += head[0];
      total.bytes += head[1];
      total.hist.merge(h);
    }
    cpu1 = cpu_us(pid);
    for (pid_t kid : kids) {
      int status = 0;
      ::waitpid(kid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("a client process failed");
    }
  }
  if (total.msgs == 0) die("no message came back in %.1f s", seconds);
  std::printf("RESULT msgs_s=%.0f mb_s=%.2f p50_us=%.1f p99_us=%.1f msgs=%llu", static_cast<double>(total.msgs) / seconds,
              static_cast<double>(total.bytes) / seconds / 1e6, total.hist.quantile(0.50) / 1e3,
              total.hist.quantile(0.99) / 1e3, static_cast<unsigned long long>(total.msgs));
  if (pid > 0) std::printf(" server_cpu_us_per_msg=%.3f", (cpu1 - cpu0) / static_cast<double>(total.msgs));
  std::printf("\n");
  return 0;
}

// ------------------------------------------------------------------------------------------
// scale
// ------------------------------------------------------------------------------------------

long rss_kib(long pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%ld/status", pid);
  FILE* f = std::fopen(path, "r");
  if (!f) die("cannot read %s: is the server running?", path);
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  std::fclose(f);
  if (kib < 0) die("no VmRSS in %s", path);
  return kib;
}

int run_scale(const Args& a, uint16_t port) {
  long pid = a.integer("--server-pid", 0);
  if (pid <= 0) die("scale needs --server-pid (the server's RSS is measured)");
  int procs = static_cast<int>(std::max(1L, a.integer("--procs", 4)));
  int sources = static_cast<int>(std::max(1L, a.integer("--sources", 4)));
  // The server's own descriptors (listener, epoll, eventfds, stdio, ...) need a margin.
  long conns = a.integer("--conns", fd_hard_limit() - 100);
  long window = a.integer("--window", 256);
  long rss_before = rss_kib(pid);
  uint32_t tls_echo = static_cast<uint32_t>(a.integer("--tls-echo", 0));
  if (tls_echo > BENCH_PATTERN_SIZE) die("--tls-echo must be at most %u", BENCH_PATTERN_SIZE);

  struct Child {
    pid_t pid;
    int go_w, report_r;
  };
  std::vector<Child> children;
  for (int p = 0; p < procs; ++p) {
    long share = conns / procs + (p < conns % procs ? 1 : 0);
    int go[2], report[2];
    if (::pipe(go) != 0 || ::pipe(report) != 0) die("pipe: %s", std::strerror(errno));
    pid_t child = ::fork();
    if (child < 0) die("fork: %s", std::strerror(errno));
    if (child == 0) {
      ::close(go[1]);
      ::close(report[0]);
      char b;
      if (::read(go[0], &b, 1) != 1) _exit(1);
      Opened o = open_many(port, share, sources, p, window, true, 60, tls_echo);
      uint64_t times[2] = {o.first_ns, o.last_ns};
      if (::write(report[1], times, sizeof times) != sizeof times) _exit(1);
      while (::read(go[0], &b, 1) > 0) {  // hold the connections until the parent is done
      }
      _exit(0);
    }
    ::close(go[0]);
    ::close(report[1]);
    children.push_back({child, go[1], report[0]});
  }
  double cpu0 = cpu_us(pid);
  for (auto& c : children)
    if (::write(c.go_w, "g", 1) != 1) die("cannot start a client process");
  uint64_t first = UINT64_MAX, last = 0;
  bool ok = true;
  for (auto& c : children) {
    uint64_t times[2];
    if (::read(c.report_r, times, sizeof times) != sizeof times) {
      ok = false;
      continue;
    }
    first = std::min(first, times[0]);
    last = std::max(last, times[1]);
  }
  long rss_after = ok ? rss_kib(pid) : 0;
  double cpu1 = cpu_us(pid);
  for (auto& c : children) ::close(c.go_w);  // children close their connections and exit
  for (auto& c : children) {
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ok = false;
    ::close(c.report_r);
  }
  if (!ok) die("a client process failed (its message is above)");
  double secs = static_cast<double>(last - first) / 1e9;
  // The clients need about as much CPU per connection as the server, so on a small machine the
  // measured rate is theirs as much as the server's: the server's CPU time per connection says
  // what rate it would sustain on a CPU of its own (server_accept_capacity_s).
  double cpu_per_conn = (cpu1 - cpu0) / static_cast<double>(conns);
  std::printf("RESULT conns=%ld accept_s=%.0f server_cpu_us_per_conn=%.2f server_accept_capacity_s=%.0f "
              "rss_before_kib=%ld rss_after_kib=%ld rss_per_conn_b=%.0f",
              conns, static_cast<double>(conns) / secs, cpu_per_conn, cpu_per_conn > 0 ? 1e6 / cpu_per_conn : 0.0,
              rss_before, rss_after, static_cast<double>(rss_after - rss_before) * 1024.0 / static_cast<double>(conns));
  if (g_tls)  // the same figure under the TLS scenario's name
    std::printf(" rss_per_link_b=%.0f", static_cast<double>(rss_after - rss_before) * 1024.0 / static_cast<double>(conns));
  std::printf("\n");
  return 0;
}

// ------------------------------------------------------------------------------------------
// bcast
// ------------------------------------------------------------------------------------------

void send_byte(int fd, SSL* ssl, char b) {
  uint64_t deadline = now_ns() + 10000000000ull;
  for (;;) {
    ssize_t n = io_send(fd, ssl, &b, 1);
    if (n == 1) return;
    if (n < 0 && errno == EAGAIN && now_ns() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      continue;
    }
    die("send to the server failed: %s", std::strerror(errno));
  }
}

// 'P': the server's open-link count and its total broadcast time in ns.
void probe(int fd, SSL* ssl, uint32_t* links, uint64_t* ns) {
  send_byte(fd, ssl, BENCH_CMD_PROBE);
  uint8_t reply[BENCH_PROBE_REPLY];
  size_t got = 0;
  uint64_t deadline = now_ns() + 10000000000ull;
  while (got < sizeof reply) {
    ssize_t r = io_recv(fd, ssl, reply + got, sizeof reply - got);
    if (r > 0) got += static_cast<size_t>(r);
    else if (r < 0 && errno == EAGAIN && now_ns() < deadline) std::this_thread::sleep_for(std::chrono::microseconds(100));
    else die("no reply to the probe: %s", r == 0 ? "the server closed the link" : std::strerror(errno));
  }
  std::memcpy(links, reply, 4);
  std::memcpy(ns, reply + 4, 8);
}

int run_bcast(const Args& a, uint16_t port) {
  long nlinks = a.integer("--links", 10000);
  double seconds = a.num("--seconds", 3);
  Opened o = open_many(port, nlinks, 4, 0, 256, false, 30);
  std::vector<int>& fds = o.fds;
  std::vector<SSL*>& ssls = o.ssls;
  uint32_t links = 0;
  uint64_t ns0 = 0;
  uint64_t deadline = now_ns() + 10000000000ull;
  for (;;) {  // wait until the server has taken every link in
    probe(fds[0], ssls[0], &links, &ns0);
    if (links >= static_cast<uint32_t>(nlinks)) break;
    if (now_ns() > deadline) die("the server holds %u of %ld links after 10 s", links, nlinks);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (size_t i = 0; i < fds.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
  }
  std::vector<uint32_t> got(fds.size());
  std::vector<epoll_event> events(1024);
  uint8_t buf[BENCH_BCAST_SIZE];
  uint64_t rounds = 0;
  long pid = a.integer("--server-pid", 0);
  double cpu0 = cpu_us(pid);
  uint64_t start = now_ns(), end = start + static_cast<uint64_t>(seconds * 1e9);
  while (now_ns() < end) {
    std::fill(got.begin(), got.end(), 0);
    size_t complete = 0;
    send_byte(fds[0], ssls[0], BENCH_CMD_BCAST);
    const uint8_t* want = bench_pattern + bench_bcast_pos(rounds);
    uint64_t round_deadline = now_ns() + 10000000000ull;
    while (complete < fds.size()) {
      int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
      if (now_ns() > round_deadline)
        die("broadcast %llu reached %zu of %zu links in 10 s", static_cast<unsigned long long>(rounds), complete,
            fds.size());
      for (int i = 0; i < n; ++i) {
        size_t k = events[i].data.u64;
        for (;;) {
          if (got[k] == BENCH_BCAST_SIZE) break;  // the next round's bytes wait for the next round
          // (With TLS nothing of the next round can be buffered in OpenSSL: the next round is
          // asked for only when every link has this one.)
          ssize_t r = io_recv(fds[k], ssls[k], buf, BENCH_BCAST_SIZE - got[k]);
          if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
          if (r <= 0) die("link %zu: the server closed it during broadcast", k);
          if (std::memcmp(buf, want + got[k], static_cast<size_t>(r)) != 0)
            die("link %zu: broadcast %llu arrived with wrong bytes", k, static_cast<unsigned long long>(rounds));
          got[k] += static_cast<uint32_t>(r);
          if (got[k] == BENCH_BCAST_SIZE) ++complete;
        }
      }
    }
    ++rounds;
  }
  double secs = static_cast<double>(now_ns() - start) / 1e9;
  double cpu1 = cpu_us(pid);
  uint64_t ns1 = 0;
  probe(fds[0], ssls[0], &links, &ns1);
  double deliveries = static_cast<double>(rounds) * static_cast<double>(fds.size());
  std::printf("RESULT deliveries_s=%.0f mb_s=%.2f rounds=%llu server_us_per_bcast=%.1f", deliveries / secs,
              deliveries * BENCH_BCAST_SIZE / secs / 1e6, static_cast<unsigned long long>(rounds),
              static_cast<double>(ns1 - ns0) / static_cast<double>(rounds) / 1e3);
  if (pid > 0) std::printf(" server_cpu_us_per_delivery=%.3f", (cpu1 - cpu0) / deliveries);
  std::printf("\n");
  for (size_t i = 0; i < fds.size(); ++i) {
    if (ssls[i]) SSL_free(ssls[i]);
    ::close(fds[i]);
  }
  return 0;
}

// ------------------------------------------------------------------------------------------
// handshake
// ------------------------------------------------------------------------------------------

struct HsSlot {
  int fd = -1;
  SSL* ssl = nullptr;
  bool connected = false;
  bool handshaken = false;
  bool ticket = false;  // a session ticket came
  bool sent = false;    // the probe byte is written
};

// Frees a connection's SSL without OpenSSL marking its session not resumable (it does so for
// a connection freed before its close_notify went out, and the session may be the ticket).
void hs_free(SSL* ssl) {
  SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(ssl);
}

void hs_start(HsSlot& s, int ep, const sockaddr_in& to, bool resume) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS)
    die("connect: %s", std::strerror(errno));
  s = HsSlot{};
  s.fd = fd;
  s.ssl = tls_new(fd);
  SSL_set_app_data(s.ssl, &s.ticket);
  if (resume) {
    // A copy each time: after a TLS 1.3 resumption OpenSSL marks the session it used not
    // resumable (tickets are meant for one use), and the same ticket is offered every time.
    SSL_SESSION* copy = SSL_SESSION_dup(g_ticket);
    if (!copy || SSL_set_session(s.ssl, copy) != 1) die("SSL_set_session: %s", tls_errors().c_str());
    SSL_SESSION_free(copy);
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
  ev.data.ptr = &s;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

// Moves the connection on; true when it is done (and closed).
bool hs_step(HsSlot& s, uint32_t events, bool resume, uint8_t* buf) {
  if (!s.connected) {
    if (events & (EPOLLERR | EPOLLHUP)) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      die("connect failed: %s", std::strerror(err ? err : ECONNRESET));
    }
    if (!(events & EPOLLOUT)) return false;
    s.connected = true;
  }
  if (!s.handshaken) {
    int r = SSL_do_handshake(s.ssl);
    if (r != 1) {
      int e = SSL_get_error(s.ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return false;
      die("TLS handshake failed: %s", tls_errors().c_str());
    }
    s.handshaken = true;
    if (resume && !SSL_session_reused(s.ssl)) die("the server did a full handshake: it refused the ticket offered");
  }
  // One byte echoed proves the server has finished its side of the handshake (a server may
  // send no ticket after a resumption, so a ticket cannot be what is waited for).
  if (!s.sent) {
    ssize_t n = io_send(s.fd, s.ssl, "h", 1);
    if (n < 0 && errno == EAGAIN) return false;
    if (n != 1) die("send after the handshake failed: %s", std::strerror(errno));
    s.sent = true;
  }
  for (;;) {
    ssize_t n = io_recv(s.fd, s.ssl, buf, 16384);
    if (n < 0 && errno == EAGAIN) return false;
    if (n == 0) die("the server closed a connection right after its handshake");
    if (n < 0) die("recv: %s", std::strerror(errno));
    if (n != 1 || buf[0] != 'h') die("the server echoed %zd bytes for the 1 sent", n);
    break;
  }
  SSL_shutdown(s.ssl);  // close_notify, without waiting for the server's
  hs_free(s.ssl);
  ::close(s.fd);
  return true;
}

// Runs `conns` handshakes at a time until end_ns; counts those finished in [measure_ns, end_ns).
uint64_t hs_loop(uint16_t port, long conns, bool resume, uint64_t measure_ns, uint64_t end_ns) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  sockaddr_in to = server_addr(port);
  std::vector<HsSlot> slots(static_cast<size_t>(conns));
  for (HsSlot& s : slots) hs_start(s, ep, to, resume);
  std::vector<uint8_t> buf(16384);
  epoll_event events[256];
  uint64_t counted = 0;
  uint64_t last_progress = now_ns();
  for (;;) {
    uint64_t now = now_ns();
    if (now >= end_ns) break;
    if (now - last_progress > 10000000000ull) die("no handshake finished in 10 s");
    int n = ::epoll_wait(ep, events, 256, 100);
    if (n < 0 && errno != EINTR) die("epoll_wait: %s", std::strerror(errno));
    for (int i = 0; i < n; ++i) {
      HsSlot& s = *static_cast<HsSlot*>(events[i].data.ptr);
      if (!hs_step(s, events[i].events, resume, buf.data())) continue;
      uint64_t t = now_ns();
      last_progress = t;
      if (t >= measure_ns && t < end_ns) ++counted;
      hs_start(s, ep, to, resume);
    }
  }
  for (HsSlot& s : slots) {
    hs_free(s.ssl);
    ::close(s.fd);
  }
  ::close(ep);
  return counted;
}

int run_handshake(const Args& a, uint16_t port) {
  long conns = std::max(1L, a.integer("--conns", 32));
  int nprocs = static_cast<int>(std::max(1L, std::min(a.integer("--procs", 1), conns)));
  double seconds = a.num("--seconds", 3), warmup = a.num("--warmup", 0.5);
  bool resume = a.integer("--resume", 0) != 0;
  long pid = a.integer("--server-pid", 0);
  if (resume) {  // one full handshake first, for the ticket every connection then offers
    uint64_t deadline = now_ns() + 10000000000ull;
    hs_loop(port, 1, false, deadline, now_ns() + 200000000);
    for (int tries = 0; !g_ticket && tries < 50; ++tries) hs_loop(port, 1, false, deadline, now_ns() + 200000000);
    if (!g_ticket) die("the server sent no session ticket: resumption cannot be measured");
  }
  uint64_t start_ns = now_ns() + 50000000;
  uint64_t measure_ns = start_ns + static_cast<uint64_t>(warmup * 1e9);
  uint64_t end_ns = measure_ns + static_cast<uint64_t>(seconds * 1e9);
  std::vector<int> up;
  std::vector<pid_t> kids;
  for (int p = 0; p < nprocs; ++p) {
    int u[2];
    if (::pipe(u) != 0) die("pipe: %s", std::strerror(errno));
    long share = conns / nprocs + (p < conns % nprocs ? 1 : 0);
    pid_t kid = ::fork();
    if (kid < 0) die("fork: %s", std::strerror(errno));
    if (kid == 0) {
      ::close(u[0]);
      while (now_ns() < start_ns) std::this_thread::sleep_for(std::chrono::microseconds(200));
      uint64_t n = hs_loop(port, share, resume, measure_ns, end_ns);
      write_all(u[1], &n, sizeof n);
      ::_exit(0);
    }
    ::close(u[1]);
    up.push_back(u[0]);
    kids.push_back(kid);
  }
  while (now_ns() < measure_ns) std::this_thread::sleep_for(std::chrono::microseconds(500));
  double cpu0 = cpu_us(pid);
  uint64_t total = 0;
  for (int fd : up) {
    uint64_t n = 0;
    read_all(fd, &n, sizeof n, "handshake");
    total += n;
  }
  double cpu1 = cpu_us(pid);
  for (pid_t kid : kids) {
    int status = 0;
    ::waitpid(kid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("a client process failed");
  }
  if (total == 0) die("no handshake finished in %.1f s", seconds);
  std::printf("RESULT handshakes_s=%.0f handshakes=%llu resumed=%d", static_cast<double>(total) / seconds,
              static_cast<unsigned long long>(total), resume ? 1 : 0);
  if (pid > 0) {
    double per = (cpu1 - cpu0) / static_cast<double>(total);
    // How busy the server was: well under 100 % means the client, not the server, set the pace.
    std::printf(" server_cpu_us_per_hs=%.1f server_hs_capacity_s=%.0f server_busy_pct=%.0f", per,
                per > 0 ? 1e6 / per : 0.0, (cpu1 - cpu0) / seconds / 1e4);
  }
  std::printf("\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: bench_load echo|scale|bcast|handshake --port N [options] (see load.cpp)");
  std::string mode = argv[1];
  Args a;
  for (int i = 2; i < argc; ++i) {  // --key value, or a lone --flag (= 1)
    if (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) {
      a.kv[argv[i]] = argv[i + 1];
      ++i;
    } else {
      a.kv[argv[i]] = "1";
    }
  }
  auto pids = a.kv.find("--server-pid");  // A,B,...: the CPU time of all, the RSS of A
  if (pids != a.kv.end()) {
    std::string list = pids->second;
    size_t comma = list.find(',');
    pids->second = list.substr(0, comma);
    while (comma != std::string::npos) {
      size_t next = list.find(',', comma + 1);
      g_more_pids.push_back(std::atol(list.substr(comma + 1, next - comma - 1).c_str()));
      comma = next;
    }
  }
  if (mode == "handshake" || a.integer("--tls", 0)) tls_init();
  long port = a.integer("--port", 0);
  if (port <= 0 || port > 65535) die("--port is required");
  bench_pattern_init();
  raise_fd_limit();
  if (mode == "echo") return run_echo(a, static_cast<uint16_t>(port));
  if (mode == "scale") return run_scale(a, static_cast<uint16_t>(port));
  if (mode == "bcast") return run_bcast(a, static_cast<uint16_t>(port));
  if (mode == "handshake") return run_handshake(a, static_cast<uint16_t>(port));
  die("unknown mode '%s' (echo, scale, bcast or handshake)", mode.c_str());
}
