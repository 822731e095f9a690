// Support for the engine's TLS tests (tls_link_support.h): the socket TLS client, the recorder
// of what the server's callbacks saw, and the one-server fixture with its leak check.
#include "tls_link_support.h"

#include <algorithm>
#include <cstring>

namespace tstest {
namespace {

std::chrono::milliseconds left_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? std::chrono::milliseconds(0) : left;
}

}  // namespace

PemPair pem_pair(const KeyPair& kp) { return PemPair{pem(kp.cert.get()), pem_key(kp.key.get())}; }

// ------------------------------------------------------------------------------------------
// TlsSocketClient
// ------------------------------------------------------------------------------------------

TlsSocketClient::TlsSocketClient(const ClientOptions& opt) : tls_(opt) {}

::testing::AssertionResult TlsSocketClient::connect(uint16_t port) {
  auto r = sock_.connect(port, 0, kPatience);
  if (r) sock_.set_no_delay();
  return r;
}

std::string TlsSocketClient::client_hello() {
  tls_.handshake();
  return tls_.take_output();
}

::testing::AssertionResult TlsSocketClient::send_raw(const std::string& bytes, size_t piece) {
  if (piece == 0) piece = bytes.size();
  for (size_t off = 0; off < bytes.size(); off += piece) {
    auto r = sock_.send_all(bytes.data() + off, std::min(piece, bytes.size() - off), kPatience);
    if (!r) return r;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult TlsSocketClient::flush(size_t piece) {
  return send_raw(tls_.take_output(), piece);
}

BlockingClient::ReadResult TlsSocketClient::pull(std::chrono::milliseconds timeout) {
  std::vector<uint8_t> bytes;
  BlockingClient::ReadResult r = sock_.read_some(timeout, &bytes);
  if (!bytes.empty()) {
    std::string s(bytes.begin(), bytes.end());
    wire_in_ += s;
    tls_.give_input(s);
  }
  if (r == BlockingClient::ReadResult::kClosed) eof_ = true;
  return r;
}

::testing::AssertionResult TlsSocketClient::handshake(std::chrono::milliseconds timeout,
                                                      size_t piece) {
  return do_handshake(timeout, piece, nullptr);
}

::testing::AssertionResult TlsSocketClient::handshake_then_send(const std::string& plain,
                                                                std::chrono::milliseconds timeout) {
  return do_handshake(timeout, 0, &plain);
}

::testing::AssertionResult TlsSocketClient::do_handshake(std::chrono::milliseconds timeout,
                                                         size_t piece, const std::string* then_send) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const int step = tls_.handshake();
    if (step == 1 && then_send && !tls_.write(*then_send))
      return ::testing::AssertionFailure() << "SSL_write refused the data";
    if (auto r = flush(piece); !r) return r << " (sending a handshake flight)";
    if (step == 1) return ::testing::AssertionSuccess();
    if (step < 0) return ::testing::AssertionFailure() << "the client's handshake failed: " << tls_.error();
    switch (pull(left_until(deadline))) {
      case BlockingClient::ReadResult::kData:
        break;
      case BlockingClient::ReadResult::kClosed:
        // The server's alert may have come first: let OpenSSL say what it was.
        tls_.handshake();
        return ::testing::AssertionFailure()
               << "the server closed the connection during the handshake " << tls_.error();
      case BlockingClient::ReadResult::kTimeout:
        return ::testing::AssertionFailure()
               << "the handshake did not complete within " << timeout.count() << " ms";
    }
  }
}

::testing::AssertionResult TlsSocketClient::send(const std::string& plain, size_t piece) {
  if (!tls_.write(plain)) return ::testing::AssertionFailure() << "SSL_write refused the data";
  return flush(piece);
}

::testing::AssertionResult TlsSocketClient::send_close_notify() {
  SSL_shutdown(tls_.ssl());
  ERR_clear_error();
  return flush(0);
}

::testing::AssertionResult TlsSocketClient::read_plain(size_t n, std::string* plain,
                                                       std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const size_t start = plain->size();
  for (;;) {
    *plain += tls_.read();
    const size_t got = plain->size() - start;
    if (got >= n) return ::testing::AssertionSuccess();
    if (tls_.failed())
      return ::testing::AssertionFailure() << "TLS failed after " << got << " of " << n
                                           << " bytes: " << tls_.error();
    if (tls_.closed())
      return ::testing::AssertionFailure() << "close_notify after " << got << " of " << n << " bytes";
    switch (pull(left_until(deadline))) {
      case BlockingClient::ReadResult::kData:
        break;
      case BlockingClient::ReadResult::kClosed:
        *plain += tls_.read();
        if (plain->size() - start >= n) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "the server closed after " << plain->size() - start
                                             << " of " << n << " bytes";
      case BlockingClient::ReadResult::kTimeout:
        return ::testing::AssertionFailure() << "timed out after " << plain->size() - start
                                             << " of " << n << " bytes";
    }
  }
}

::testing::AssertionResult TlsSocketClient::read_until_close_notify(
    std::string* plain, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string ignored;
  if (!plain) plain = &ignored;
  for (;;) {
    *plain += tls_.read();
    if (tls_.closed()) return ::testing::AssertionSuccess();
    if (tls_.failed())
      return ::testing::AssertionFailure() << "TLS failed before a close_notify: " << tls_.error();
    switch (pull(left_until(deadline))) {
      case BlockingClient::ReadResult::kData:
        break;
      case BlockingClient::ReadResult::kClosed:
        *plain += tls_.read();
        if (tls_.closed()) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "the TCP stream ended without a close_notify";
      case BlockingClient::ReadResult::kTimeout:
        return ::testing::AssertionFailure() << "no close_notify within " << timeout.count() << " ms";
    }
  }
}

::testing::AssertionResult TlsSocketClient::read_until_eof(std::string* plain,
                                                           std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string ignored;
  if (!plain) plain = &ignored;
  for (;;) {
    *plain += tls_.read();
    switch (pull(left_until(deadline))) {
      case BlockingClient::ReadResult::kData:
        break;
      case BlockingClient::ReadResult::kClosed:
        *plain += tls_.read();
        return ::testing::AssertionSuccess();
      case BlockingClient::ReadResult::kTimeout:
        return ::testing::AssertionFailure() << "the server did not close within " << timeout.count()
                                             << " ms";
    }
  }
}

bool TlsSocketClient::poll_input(std::chrono::milliseconds timeout) {
  const size_t before = wire_in_.size();
  if (pull(timeout) == BlockingClient::ReadResult::kData) tls_.read();
  return wire_in_.size() > before || eof_;
}

void TlsSocketClient::drain() {
  while (pull(std::chrono::milliseconds(0)) == BlockingClient::ReadResult::kData) {
  }
  tls_.read();
}

// ------------------------------------------------------------------------------------------
// TlsRecorder
// ------------------------------------------------------------------------------------------

int32_t TS_CALL TlsRecorder::on_connect(void* ctx, TcpLink* link) {
  auto* self = static_cast<TlsRecorder*>(ctx);
  LinkSeen seen;
  seen.id = link->Id;
  seen.remote_port = static_cast<uint16_t>(link->RemotePort);
  seen.connected_at = Clock::now();
  for (int what = TS_TLS_INFO_PROTOCOL; what <= TS_TLS_INFO_CERTIFICATE_PATTERN; ++what) {
    char buf[1024];
    if (GetLinkTlsInfo(link, what, buf, sizeof buf) >= 0) seen.info[what] = buf;
    else ++seen.info_errors;
  }
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    auto it = self->links_.find(link->Id);
    if (it != self->links_.end()) seen.receive_before_connect = true;
    self->links_[link->Id] = seen;
    self->order_.push_back(link->Id);
  }
  self->connects++;
  if (self->close_in_connect.load()) CloseLink(link);
  return 1;
}

int32_t TS_CALL TlsRecorder::on_receive(void* ctx, TcpLink* link, uint8_t* buf, int32_t len) {
  auto* self = static_cast<TlsRecorder*>(ctx);
  bool close = false;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    LinkSeen& seen = self->links_[link->Id];
    if (seen.id == 0) seen.receive_before_connect = true;
    seen.received.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
    seen.receives++;
    seen.largest_receive = std::max(seen.largest_receive, len);
    close = !self->close_on.empty() && seen.received.size() >= self->close_on.size() &&
            seen.received.compare(seen.received.size() - self->close_on.size(),
                                  self->close_on.size(), self->close_on) == 0;
  }
  self->receives++;
  if (self->reply.load() == Reply::kEcho) SendBuffer(link, buf, len);
  if (close) CloseLink(link);
  return 1;
}

void TS_CALL TlsRecorder::on_disconnect(void* ctx, TcpLink* link) {
  auto* self = static_cast<TlsRecorder*>(ctx);
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    LinkSeen& seen = self->links_[link->Id];
    seen.closed = true;
    seen.closed_at = Clock::now();
    seen.close_reason = link->CloseReason;
    seen.close_error = link->CloseError;
  }
  self->disconnects++;
}

LinkSeen TlsRecorder::link(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = links_.find(id);
  return it == links_.end() ? LinkSeen{} : it->second;
}

LinkSeen TlsRecorder::link_of_port(uint16_t port) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& entry : links_)
    if (entry.second.remote_port == port) return entry.second;
  return LinkSeen{};
}

std::vector<uint64_t> TlsRecorder::ids() {
  std::lock_guard<std::mutex> lock(mu_);
  return order_;
}

size_t TlsRecorder::received_bytes(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = links_.find(id);
  return it == links_.end() ? 0 : it->second.received.size();
}

// ------------------------------------------------------------------------------------------
// TlsServerTest
// ------------------------------------------------------------------------------------------

void TlsServerTest::create(std::initializer_list<std::pair<int32_t, int64_t>> options) {
  make(rec_, options, &server_);
}

void TlsServerTest::create_another(TlsRecorder& rec,
                                   std::initializer_list<std::pair<int32_t, int64_t>> options,
                                   TcpServerHandle** out) {
  make(rec, options, out);
  if (*out) others_.push_back(*out);
}

void TlsServerTest::make(TlsRecorder& rec,
                         std::initializer_list<std::pair<int32_t, int64_t>> options,
                         TcpServerHandle** out) {
  TcpServerHandle* server = *out = CreateTcpServer(&rec);
  ASSERT_NE(server, nullptr) << GetLastErrorText();
  ASSERT_EQ(TcpServerSetEventProc(server, TlsRecorder::on_receive, TlsRecorder::on_disconnect,
                                  nullptr, nullptr, nullptr), 1) << GetLastErrorText();
  ASSERT_EQ(TcpServerSetConnectProc(server, TlsRecorder::on_connect), 1) << GetLastErrorText();
  ASSERT_EQ(TcpServerSetOption(server, TS_OPT_TLS, 1), 1) << GetLastErrorText();
  for (const auto& o : options)
    ASSERT_EQ(TcpServerSetOption(server, o.first, o.second), 1)
        << "option " << o.first << " = " << o.second << ": " << GetLastErrorText();
  const PemPair p = pem_pair(pki().server_ec);
  ASSERT_EQ(TcpServerSetTlsCertificate(server, reinterpret_cast<const uint8_t*>(p.cert.data()),
                                       static_cast<int32_t>(p.cert.size()),
                                       reinterpret_cast<const uint8_t*>(p.key.data()),
                                       static_cast<int32_t>(p.key.size()), nullptr), 1)
      << GetLastErrorText();
}

void TlsServerTest::start() {
  ASSERT_EQ(TcpServerStart(server_, "127.0.0.1", 0), 1) << GetLastErrorText();
  port_ = static_cast<uint16_t>(TcpServerGetPort(server_));
  ASSERT_NE(port_, 0);
}

::testing::AssertionResult TlsServerTest::connect(TlsSocketClient& c) {
  auto r = c.connect(port_);
  if (!r) return r;
  return c.handshake();
}

void TlsServerTest::expect_nothing_leaked() {
  const int64_t buffers = TcpServerGetOption(server_, TS_OPT_IO_BUFFER_COUNT);
  const int64_t slots = TcpServerGetOption(server_, TS_OPT_MAX_LINKS);
  auto clean = [&] {
    return TcpServerGetLinkCount(server_) == 0 &&
           counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS) == 0 &&
           counter(TS_COUNTER_MEMORY_IN_USE) == 0 && TcpServerGetIOMemFree(server_) == buffers &&
           TcpServerGetLinkFree(server_) == slots && rec_.connects.load() == rec_.disconnects.load();
  };
  wait_for(clean);
  EXPECT_EQ(TcpServerGetLinkCount(server_), 0) << "links still open";
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS), 0) << "handshakes still counted";
  EXPECT_EQ(counter(TS_COUNTER_MEMORY_IN_USE), 0) << "memory still counted against the budget";
  EXPECT_EQ(TcpServerGetIOMemFree(server_), buffers) << "IO buffers not back in the pool";
  EXPECT_EQ(TcpServerGetLinkFree(server_), slots) << "link slots not released";
  EXPECT_EQ(rec_.connects.load(), rec_.disconnects.load()) << "an OnConnect without OnDisconnect";
}

void TlsServerTest::TearDown() {
  for (TcpServerHandle* other : others_) EXPECT_EQ(DestroyTcpServer(other), 1) << GetLastErrorText();
  others_.clear();
  if (server_) {
    EXPECT_EQ(DestroyTcpServer(server_), 1) << GetLastErrorText();
    server_ = nullptr;
  }
  ServerTest::TearDown();
}

}  // namespace tstest
