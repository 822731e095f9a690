// A single connection for line-oriented protocol commands: send, read a line or n bytes
// with a timeout, notice that the server closed it. Not thread-safe: one user at a time.
#pragma once

#include <string>

#include "connection.h"

namespace tsh {

class Client {
 public:
  Client(const std::string& host, int port, double timeout_s);

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
  void close() { conn_.close(); }

  std::string buffered() const { return conn_.buffered(); }
  bool was_reset() const { return conn_.reset(); }
  double default_timeout() const { return timeout_s_; }
  int local_port() const { return local_port_; }

 private:
  Connection conn_;
  double timeout_s_;
  int local_port_ = 0;
};

// Printable, shortened form of received bytes for error messages.
std::string quoted(const std::string& bytes, size_t limit = 80);

}  // namespace tsh
