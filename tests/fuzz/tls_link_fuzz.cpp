// libFuzzer target: random bytes, in random splits, to a server-side TLS link of the engine —
// the whole path a TLS connection takes (backend reads, the transport stage, the handshake
// bookkeeping, delivery, sends sealed for the link, closing, the memory budget), not the TLS
// layer alone (tls_session_fuzz does that). Two TLS servers (CreateTcpServer, raw and
// length-prefixed framing, the test PKI's EC certificate, ALPN, client certificates requested)
// run on 127.0.0.1 for the whole run; each input is one connection through a real socket:
//   byte 0: mode (% 4) — 0 the fuzz bytes from the first byte (garbage instead of a ClientHello);
//           1 after a real ClientHello (a broken rest of the handshake); 2 / 3 after a real TLS
//           1.3 / 1.2 handshake (random records on an established link, real records between);
//   byte 1: which server, what the callbacks do (OnConnect refuses; OnReceive echoes, does
//           nothing, returns 0, calls CloseLink or aborts, broadcasts), how the client ends
//           (FIN, RST, close_notify then FIN);
//   bytes 2..5: the seed of the cuts; the rest: the stream, sent in pieces of random size on a
//           TCP_NODELAY socket.
// After each input the client is closed and the target waits until the server holds nothing
// for it. Checked (abort on a breach): within 30 s every link, handshake, byte of the memory
// budget, IO buffer and link slot is back; every connection is accounted for exactly once
// (a completed handshake or a failure by cause); OnConnect and OnDisconnect pair up, no
// OnReceive outside them; close reasons and CloseError are ones TLS links may have.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "fuzz_check.h"
#include "tcpserver.h"
#include "tls_test_support.h"

namespace {

constexpr const char* kFuzzTarget = "tls_link_fuzz";
using fuzzcheck::Rng;
using fuzzcheck::violated;

// What the server does with a link: OnConnect refuses it, or OnReceive echoes, does nothing,
// returns 0 (a graceful close), calls CloseLink / CloseLinkEx(ABORT), or broadcasts.
enum class Reply { kEcho, kNone, kRefuse, kReturnZero, kCloseLink, kAbort, kBroadcast, kCount };

// What the callbacks of one server saw (the Context of its Ex callbacks).
struct Seen {
  TcpServerHandle* server = nullptr;
  uint16_t port = 0;
  std::atomic<Reply> reply{Reply::kEcho};
  std::mutex mu;
  std::set<uint64_t> open;  // between OnConnect and OnDisconnect
  std::atomic<int64_t> connects{0};
  std::atomic<int64_t> disconnects{0};
  std::atomic<int> breaches{0};
  const char* breach = nullptr;

  void fail(const char* what) {
    breach = what;
    breaches++;
  }
};
Seen g_servers[2];

int32_t TS_CALL on_connect(void* ctx, TcpLink* link) {
  auto* s = static_cast<Seen*>(ctx);
  char buf[256];
  for (int what = TS_TLS_INFO_PROTOCOL; what <= TS_TLS_INFO_CERTIFICATE_PATTERN; ++what)
    if (GetLinkTlsInfo(link, what, buf, sizeof buf) < 0) s->fail("GetLinkTlsInfo failed in OnConnect");
  if (s->reply.load() == Reply::kRefuse) return 0;  // no OnDisconnect will follow
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (!s->open.insert(link->Id).second) s->fail("OnConnect twice");
  }
  s->connects++;
  return 1;
}

int32_t TS_CALL on_receive(void* ctx, TcpLink* link, uint8_t* buf, int32_t len) {
  auto* s = static_cast<Seen*>(ctx);
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (!s->open.count(link->Id)) s->fail("OnReceive outside OnConnect..OnDisconnect");
  }
  if (len <= 0) s->fail("OnReceive without bytes");
  switch (s->reply.load()) {
    case Reply::kEcho:
      SendBuffer(link, buf, len);
      return 1;
    case Reply::kCloseLink:
      CloseLink(link);
      return 1;
    case Reply::kAbort:
      CloseLinkEx(link, TS_CLOSE_FLAG_ABORT);
      return 1;
    case Reply::kBroadcast:
      TcpServerPostBroadcast(s->server, buf, len, 0);
      return 1;
    case Reply::kReturnZero:
      return 0;  // closes the link gracefully (close_notify)
    default:
      return 1;
  }
}

void TS_CALL on_disconnect(void* ctx, TcpLink* link) {
  auto* s = static_cast<Seen*>(ctx);
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->open.erase(link->Id) != 1) s->fail("OnDisconnect without OnConnect");
  }
  switch (link->CloseReason) {
    case TS_CLOSE_PEER_CLOSED: case TS_CLOSE_PEER_RESET: case TS_CLOSE_BY_APP:
    case TS_CLOSE_ERROR: case TS_CLOSE_TLS_NO_CLOSE_NOTIFY: case TS_CLOSE_FRAME_TOO_LARGE:
    case TS_CLOSE_BAD_FRAME: case TS_CLOSE_FRAME_TRUNCATED:
      break;
    case TS_CLOSE_TLS_ERROR:
      if (link->CloseError < TS_TLS_CAUSE_NOT_TLS || link->CloseError > TS_TLS_CAUSE_PEER_CLOSED)
        s->fail("TS_CLOSE_TLS_ERROR without a TS_TLS_CAUSE_* in CloseError");
      break;
    default:
      s->fail("a close reason a TLS link cannot have");
  }
  s->disconnects++;
}

void TS_CALL quiet_log(int32_t, const char*) {}

int64_t counter(Seen& s, int32_t which) { return TcpServerGetCounter(s.server, which); }

void start_servers() {
  SetLogProc(quiet_log);
  const tstest::KeyPair& kp = tstest::pki().server_ec;
  const std::string cert = tstest::pem(kp.cert.get()), key = tstest::pem_key(kp.key.get());
  const std::string ca = tstest::pem(tstest::pki().client_ca.cert.get());
  for (int i = 0; i < 2; ++i) {
    Seen& s = g_servers[i];
    s.server = CreateTcpServer(&s);
    CHECK(s.server);
    CHECK(TcpServerSetEventProc(s.server, on_receive, on_disconnect, nullptr, nullptr, nullptr));
    CHECK(TcpServerSetConnectProc(s.server, on_connect));
    CHECK(TcpServerSetOption(s.server, TS_OPT_TLS, 1));
    CHECK(TcpServerSetOption(s.server, TS_OPT_TLS_CLIENT_CERT, TS_TLS_CLIENT_CERT_REQUEST));
    CHECK(TcpServerSetOption(s.server, TS_OPT_WORKER_THREADS, 2));
    CHECK(TcpServerSetOption(s.server, TS_OPT_IO_BUFFER_COUNT, 256));
    if (i == 1) {
      CHECK(TcpServerSetOption(s.server, TS_OPT_FRAMING, TS_FRAMING_LENGTH_PREFIXED));
      CHECK(TcpServerSetOption(s.server, TS_OPT_MAX_MESSAGE_SIZE, 65536));
    }
    CHECK(TcpServerSetTlsCertificate(s.server, reinterpret_cast<const uint8_t*>(cert.data()),
                                     static_cast<int32_t>(cert.size()),
                                     reinterpret_cast<const uint8_t*>(key.data()),
                                     static_cast<int32_t>(key.size()), nullptr));
    CHECK(TcpServerSetTlsAlpn(s.server, "h2,http/1.1"));
    CHECK(TcpServerSetTlsClientCA(s.server, reinterpret_cast<const uint8_t*>(ca.data()),
                                  static_cast<int32_t>(ca.size())));
    CHECK(TcpServerStart(s.server, "127.0.0.1", 0));
    s.port = static_cast<uint16_t>(TcpServerGetPort(s.server));
  }
}

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    // libFuzzer's alarm (SIGALRM every -timeout/2 + 1 s, installed without SA_RESTART) can
    // interrupt a connect the kernel has not finished (loopback finishes it in a softirq, which
    // may wait for ksoftirqd on a busy machine): the connection goes on; wait for its outcome.
    int err = errno;
    if (err == EINTR || err == EALREADY || err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int r;
      do r = ::poll(&p, 1, 30000);
      while (r < 0 && errno == EINTR);
      socklen_t len = sizeof err;
      if (r != 1) err = r == 0 ? ETIMEDOUT : errno;
      else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    }
    if (err != 0) {
      std::fprintf(stderr, "%s: connect to 127.0.0.1 port %u failed: %s\n", kFuzzTarget,
                   static_cast<unsigned>(port), std::strerror(err));
      std::abort();
    }
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Everything the server sent so far (without waiting more than `ms`), to the client if any.
// False when the server has closed the connection.
bool take_input(int fd, tstest::TestClient* client, int ms) {
  char buf[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return true;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    if (client) client->give_input(std::string(buf, static_cast<size_t>(n)));
    ms = 0;
  }
}

bool send_bytes(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;  // the server closed (a failed handshake, a bad record)
    off += static_cast<size_t>(n);
  }
  return true;
}

// A real handshake over the socket; false if the server refused it (then nothing to fuzz).
bool handshake(int fd, tstest::TestClient& c) {
  for (int round = 0; round < 100; ++round) {
    int step = c.handshake();
    if (!send_bytes(fd, c.take_output())) return false;
    if (step != 0) return step == 1;
    if (!take_input(fd, &c, 10000)) return false;
  }
  return false;
}

// The server holds nothing more for its connections, its callbacks paired up: true, or false
// after 30 s.
bool quiet(Seen& s) {
  const int64_t buffers = TcpServerGetOption(s.server, TS_OPT_IO_BUFFER_COUNT);
  const int64_t slots = TcpServerGetOption(s.server, TS_OPT_MAX_LINKS);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    if (TcpServerGetLinkFree(s.server) == slots && TcpServerGetLinkCount(s.server) == 0 &&
        counter(s, TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS) == 0 &&
        counter(s, TS_COUNTER_MEMORY_IN_USE) == 0 && TcpServerGetIOMemFree(s.server) == buffers &&
        s.connects.load() == s.disconnects.load())
      return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

int64_t g_connections[2] = {0, 0};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  start_servers();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 6) return 0;
  const int mode = data[0] % 4;
  const uint8_t how = data[1];
  Seen& s = g_servers[how & 1];
  s.reply = static_cast<Reply>((how >> 1) % static_cast<int>(Reply::kCount));
  const int ending = (how >> 6) % 3;  // 0 FIN, 1 RST, 2 close_notify then FIN
  Rng rng{(uint32_t(data[2]) << 24 | uint32_t(data[3]) << 16 | uint32_t(data[4]) << 8 | data[5]) | 1};
  const std::string stream(reinterpret_cast<const char*>(data) + 6, size - 6);

  const int fd = connect_to(s.port);
  g_connections[how & 1]++;
  tstest::ClientOptions opt;
  if (mode == 3) opt.max_version = TLS1_2_VERSION;
  if (rng.next() % 2) opt.alpn = {"http/1.1"};
  if (rng.next() % 4 == 0) opt.cert = &tstest::pki().client;
  tstest::TestClient client(opt);
  bool alive = true;
  bool established = false;
  if (mode == 1) {
    client.handshake();
    alive = send_bytes(fd, client.take_output());
  } else if (mode >= 2) {
    established = alive = handshake(fd, client);
  }

  size_t pos = 0;
  while (alive && pos < stream.size()) {
    size_t piece = 1 + rng.next() % (rng.next() % 4 == 0 ? 4096 : 64);
    if (piece > stream.size() - pos) piece = stream.size() - pos;
    alive = send_bytes(fd, stream.substr(pos, piece));
    pos += piece;
    const uint32_t action = rng.next() % 8;
    if (action == 0 && established) {  // a real record between the random ones
      client.write(tstest::pattern_bytes(1 + rng.next() % 3000, rng.next()));
      alive = alive && send_bytes(fd, client.take_output());
    } else if (action == 1) {
      alive = alive && take_input(fd, established ? &client : nullptr, 0);
    } else if (action == 2) {
      std::this_thread::yield();  // lets the server read this piece on its own
    }
  }
  if (ending == 2 && established) {
    SSL_shutdown(client.ssl());
    send_bytes(fd, client.take_output());
  }
  if (ending == 1) {
    linger lg{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  ::close(fd);

  // Every connection either completes its handshake or fails it, once. The server may take a
  // connection from its accept queue only after the client is gone (it reset before the accept):
  // until then it holds nothing for it, so first wait (bounded) until it is accounted for.
  const int64_t connections = g_connections[how & 1];
  const auto accounted_by = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (counter(s, TS_COUNTER_TLS_HANDSHAKES) + counter(s, TS_COUNTER_TLS_HANDSHAKE_FAILURES) !=
             connections &&
         std::chrono::steady_clock::now() < accounted_by)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  if (!quiet(s)) {
    std::fprintf(stderr, "links %d, handshakes %lld, memory %lld, buffers free %d, callbacks %lld/%lld\n",
                 TcpServerGetLinkCount(s.server),
                 static_cast<long long>(counter(s, TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS)),
                 static_cast<long long>(counter(s, TS_COUNTER_MEMORY_IN_USE)),
                 TcpServerGetIOMemFree(s.server), static_cast<long long>(s.connects.load()),
                 static_cast<long long>(s.disconnects.load()));
    violated(kFuzzTarget, "the server still holds something for a closed connection after 30 s");
  }
  if (s.breaches.load()) violated(kFuzzTarget, s.breach);
  CHECK(counter(s, TS_COUNTER_TLS_HANDSHAKES) + counter(s, TS_COUNTER_TLS_HANDSHAKE_FAILURES) ==
        connections);
  CHECK(counter(s, TS_COUNTER_TLS_HANDSHAKE_TIMEOUTS) == 0);
  CHECK(counter(s, TS_COUNTER_TLS_HANDSHAKES_DROPPED) == 0);
  int64_t by_cause = 0;
  for (int cause = TS_TLS_CAUSE_NOT_TLS; cause <= TS_TLS_CAUSE_PEER_CLOSED; ++cause)
    by_cause += TcpServerGetTlsFailureCount(s.server, cause);
  CHECK(by_cause == counter(s, TS_COUNTER_TLS_HANDSHAKE_FAILURES));
  CHECK(s.connects.load() <= counter(s, TS_COUNTER_TLS_HANDSHAKES));
  return 0;
}
