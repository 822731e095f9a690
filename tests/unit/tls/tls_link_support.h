// Support for the engine's TLS tests over real sockets (tests/unit/tls): a TLS client on a
// socket (OpenSSL through memory BIOs, tests/tls's TestClient, over a BlockingClient, so a test
// can also send raw, broken or split bytes), certificates from the test PKI as the SetTls* calls
// take them, and a fixture that runs one TLS server (CreateTcpServer) whose callbacks record
// what each link saw, and that checks nothing was leaked when the test is done.
// Test threads only; the recorder is also written by the server's workers (under its mutex).
#pragma once
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "support/blocking_client.h"
#include "support/server_fixture.h"
#include "support/wait.h"
#include "tcpserver.h"
#include "tls_test_support.h"

namespace tstest {

// The sizes of the security acceptance: full in a release build, short under a sanitizer,
// whose every socket call costs many times more (as tests/reliability/test_floods.cpp).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// Long enough for a busy 2-core machine (or Wine): deadlines for things that do happen.
constexpr std::chrono::milliseconds kPatience{30000};

// A certificate and its key as PEM text.
struct PemPair {
  std::string cert;
  std::string key;
};
PemPair pem_pair(const KeyPair& kp);

// A TLS client on a real socket. The protocol is OpenSSL's (TestClient, memory BIOs); the bytes
// go through a BlockingClient, so a test can also send raw bytes of its own.
class TlsSocketClient {
 public:
  explicit TlsSocketClient(const ClientOptions& opt = trusting_ca("localhost"));

  ::testing::AssertionResult connect(uint16_t port);
  // The whole handshake; `piece` > 0 writes every flight `piece` bytes per send().
  ::testing::AssertionResult handshake(std::chrono::milliseconds timeout = kPatience,
                                       size_t piece = 0);
  // The handshake, with `plain` sent in the same write as the client's last flight.
  ::testing::AssertionResult handshake_then_send(const std::string& plain,
                                                 std::chrono::milliseconds timeout = kPatience);
  // The client's first flight (its ClientHello), made but not sent: send() it yourself.
  std::string client_hello();
  // Encrypts and sends (in records of at most 16 KiB, OpenSSL's choice); `piece` as above.
  ::testing::AssertionResult send(const std::string& plain, size_t piece = 0);
  // Plaintext until `n` bytes have come (appended to *plain).
  ::testing::AssertionResult read_plain(size_t n, std::string* plain,
                                        std::chrono::milliseconds timeout = kPatience);
  // Everything until the server's close_notify (true) or the end of the TCP stream (then the
  // result is a failure saying so); plaintext before it goes to *plain.
  ::testing::AssertionResult read_until_close_notify(std::string* plain = nullptr,
                                                     std::chrono::milliseconds timeout = kPatience);
  // Reads until the TCP stream ends (EOF or reset), decrypting what it can; whether a
  // close_notify came first is close_notify_seen() afterwards.
  ::testing::AssertionResult read_until_eof(std::string* plain = nullptr,
                                            std::chrono::milliseconds timeout = kPatience);
  // Queues the client's close_notify and sends it (the socket stays open).
  ::testing::AssertionResult send_close_notify();
  // Raw bytes, not through TLS; `piece` as above.
  ::testing::AssertionResult send_raw(const std::string& bytes, size_t piece = 0);
  // Reads what the server sends for up to `timeout` (decrypted when it can be): true when
  // something came.
  bool poll_input(std::chrono::milliseconds timeout);
  // Reads (and decrypts) what has arrived, without waiting: before a close that must leave as
  // a FIN, since closing a socket with unread bytes (TLS 1.3 session tickets, say) resets it.
  void drain();

  TestClient& tls() { return tls_; }
  BlockingClient& socket() { return sock_; }
  bool close_notify_seen() const { return tls_.closed(); }
  bool eof_seen() const { return eof_; }
  // Every byte the server sent, as it came over the wire (ciphertext).
  const std::string& wire_in() const { return wire_in_; }
  // The session to resume with (after some application data came: TLS 1.3 tickets follow
  // the handshake). The caller frees it (SSL_SESSION_free).
  SSL_SESSION* session() const { return tls_.session(); }
  std::string peer_common_name() const { return tls_.peer_common_name(); }
  uint16_t local_port() const { return sock_.local_port(); }

 private:
  ::testing::AssertionResult flush(size_t piece);
  ::testing::AssertionResult do_handshake(std::chrono::milliseconds timeout, size_t piece,
                                          const std::string* then_send);
  // One read from the socket into the TLS client: false at the end of the stream or timeout.
  BlockingClient::ReadResult pull(std::chrono::milliseconds timeout);

  TestClient tls_;
  BlockingClient sock_;
  std::string wire_in_;
  bool eof_ = false;
};

// What the server's callbacks saw of one link.
struct LinkSeen {
  uint64_t id = 0;
  uint16_t remote_port = 0;
  std::string info[10];  // GetLinkTlsInfo(TS_TLS_INFO_*) during OnConnect
  int info_errors = 0;   // GetLinkTlsInfo calls that failed during OnConnect
  std::string received;  // plaintext, in order
  int receives = 0;
  int32_t largest_receive = 0;
  bool receive_before_connect = false;
  bool closed = false;
  int32_t close_reason = -1;
  int32_t close_error = 0;
  Clock::time_point connected_at{};  // OnConnect
  Clock::time_point closed_at{};     // OnDisconnect
};

// The server's Context: records every link and, unless told otherwise, echoes.
class TlsRecorder {
 public:
  enum class Reply { kEcho, kNone };
  std::atomic<Reply> reply{Reply::kEcho};
  std::atomic<int> connects{0};
  std::atomic<int> disconnects{0};
  std::atomic<int> receives{0};
  // OnReceive closes the link (CloseLink) once what it received ends with this text.
  std::string close_on;  // set before the server starts
  std::atomic<bool> close_in_connect{false};  // OnConnect calls CloseLink

  LinkSeen link(uint64_t id);
  LinkSeen link_of_port(uint16_t port);  // by the client's local port
  std::vector<uint64_t> ids();           // every link that got OnConnect, in order
  size_t received_bytes(uint64_t id);

  static int32_t TS_CALL on_connect(void* ctx, TcpLink* link);
  static int32_t TS_CALL on_receive(void* ctx, TcpLink* link, uint8_t* buf, int32_t len);
  static void TS_CALL on_disconnect(void* ctx, TcpLink* link);

 private:
  std::mutex mu_;
  std::map<uint64_t, LinkSeen> links_;
  std::vector<uint64_t> order_;
};

// One TLS server per test (a handle of its own: TLS settings do not leak between tests).
class TlsServerTest : public ServerTest {
 protected:
  void TearDown() override;
  // Creates the server: TS_OPT_TLS 1, the EC certificate for "localhost", the recorder's
  // callbacks, the given options. Use with ASSERT_NO_FATAL_FAILURE.
  void create(std::initializer_list<std::pair<int32_t, int64_t>> options = {});
  // Another server like it, recording into `rec`; destroyed by TearDown. Use with
  // ASSERT_NO_FATAL_FAILURE; *out is the handle.
  void create_another(TlsRecorder& rec, std::initializer_list<std::pair<int32_t, int64_t>> options,
                      TcpServerHandle** out);
  // Starts it on 127.0.0.1 (port_).
  void start();
  // A TLS client connected and through its handshake.
  ::testing::AssertionResult connect(TlsSocketClient& c);

  int64_t counter(int32_t which) { return TcpServerGetCounter(server_, which); }
  int64_t close_count(int32_t reason) { return TcpServerGetCloseCount(server_, reason); }
  int64_t failures(int32_t cause) { return TcpServerGetTlsFailureCount(server_, cause); }
  bool wait_for(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = kPatience) {
    return wait_until(pred, timeout, std::chrono::milliseconds(1));
  }
  // Waits until no link, no handshake, no memory and no buffer is held any more, and says
  // which was not (call once every client is closed).
  void expect_nothing_leaked();

  TcpServerHandle* server_ = nullptr;
  TlsRecorder rec_;

 private:
  void make(TlsRecorder& rec, std::initializer_list<std::pair<int32_t, int64_t>> options,
            TcpServerHandle** out);
  std::vector<TcpServerHandle*> others_;
};

}  // namespace tstest
