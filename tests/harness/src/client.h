// A single connection for line-oriented protocol commands: send, read a line or n bytes
// with a timeout, notice that the server closed it. Not thread-safe: one user at a time.
#pragma once

#include <memory>
#include <string>

#include "connection.h"
#include "pattern.h"

namespace tsh {

class Client {
 public:
  // tls nullptr: a plain connection; else the TLS handshake completes in the constructor.
  Client(const std::string& host, int port, double timeout_s,
         std::shared_ptr<const TlsConfig> tls = nullptr);

  void send(const std::string& data, double timeout_s);
  // The next line, '\n' included. HarnessTimeout if none arrives in time, PeerClosed if the
  // server closes first.
  std::string readline(double timeout_s);
  std::string recv_exact(size_t n, double timeout_s);
  // Sends data and checks that exactly the same bytes come back, and nothing more is
  // already waiting behind them.
  void echo(const std::string& data, double timeout_s);
  // True once the server has closed (or reset) the connection, waiting up to timeout_s.
  // Data arriving meanwhile is kept (see buffered()).
  bool wait_closed(double timeout_s);
  bool closed();  // without waiting
  // Bytes received and not yet taken, after reading what is there now (no waiting).
  size_t available();

  // Framing mode (PROTOCOL.md --framing 1): one message with its 4-byte big-endian header,
  // and the payload of the next whole message (HarnessError for a header with the top bit
  // set, which is no valid length).
  void send_frame(const std::string& payload, double timeout_s);
  std::string read_frame(double timeout_s);

  // Flow control. The client's own pattern stream (PayloadStream, never '\n'): writes it
  // until the socket has accepted nothing for stall_s (the server stopped reading and every
  // buffer on the way is full) and returns the bytes written; HarnessError if max_bytes go
  // out without that happening.
  uint64_t fill_until_blocked(uint64_t max_bytes, double stall_s, double timeout_s);
  // Receives n bytes and checks they continue the echo of that pattern stream.
  void expect_pattern(uint64_t n, double timeout_s);
  // Receives the n bytes of "FLOOD <n>" (byte i = i % 251), framed: as one message.
  void expect_flood(uint64_t n, bool framed, double timeout_s);
  // Closes our side; TLS: after a close_notify, unless notify is false.
  void close(bool notify = true) { conn_.close(notify); }

  std::string buffered() const { return conn_.buffered(); }
  bool was_reset() const { return conn_.reset(); }
  double default_timeout() const { return timeout_s_; }
  int local_port() const { return local_port_; }

 private:
  Connection conn_;
  double timeout_s_;
  int local_port_ = 0;
  PayloadStream tx_{0, 0};  // the pattern stream, seeded per client in the constructor
  PayloadStream rx_{0, 0};
  std::string tx_pending_;  // generated, not yet accepted by the socket
  uint64_t echoed_ = 0;     // pattern bytes checked so far
};

// Printable, shortened form of received bytes for error messages.
std::string quoted(const std::string& bytes, size_t limit = 80);

}  // namespace tsh
