#include "client.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <vector>

namespace tsh {

std::string quoted(const std::string& bytes, size_t limit) {
  std::string out = "'";
  for (size_t i = 0; i < bytes.size() && i < limit; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\n') out += "\\n";
    else if (c == '\\' || c == '\'') (out += '\\') += static_cast<char>(c);
    else if (c >= 0x20 && c < 0x7F) out += static_cast<char>(c);
    else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  out += "'";
  if (bytes.size() > limit) out += "... (" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

namespace {
Fd connect_one(const std::string& host, int port, double timeout_s) {
  std::vector<Fd> fds = connect_all(host, port, 1, Deadline(timeout_s));
  return std::move(fds.front());
}
}  // namespace

Client::Client(const std::string& host, int port, double timeout_s)
    : conn_(connect_one(host, port, timeout_s), "client of " + host + ":" + std::to_string(port)),
      timeout_s_(timeout_s) {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(conn_.fd(), reinterpret_cast<sockaddr*>(&local), &len) == 0)
    local_port_ = ntohs(local.ss_family == AF_INET6
                            ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                            : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
}

void Client::send(const std::string& data, double timeout_s) {
  conn_.send(data, Deadline(timeout_s));
}

std::string Client::readline(double timeout_s) {
  Deadline deadline(timeout_s);
  for (;;) {
    std::string line = conn_.take_line();
    if (!line.empty()) return line;
    if (conn_.peer_closed())
      throw PeerClosed(conn_.name() + ": the server " + (conn_.reset() ? "reset" : "closed") +
                       " the connection before a complete line; got " + quoted(conn_.buffered()));
    if (!conn_.wait_readable(deadline))
      throw HarnessTimeout(conn_.name() + ": no complete line within " +
                           std::to_string(timeout_s) + " s; got " + quoted(conn_.buffered()));
  }
}

std::string Client::recv_exact(size_t n, double timeout_s) {
  Deadline deadline(timeout_s);
  for (;;) {
    if (conn_.buffered().size() >= n) return conn_.take(n);
    if (conn_.peer_closed())
      throw PeerClosed(conn_.name() + ": the server " + (conn_.reset() ? "reset" : "closed") +
                       " the connection after " + std::to_string(conn_.buffered().size()) +
                       " of " + std::to_string(n) + " expected bytes");
    if (!conn_.wait_readable(deadline))
      throw HarnessTimeout(conn_.name() + ": got " + std::to_string(conn_.buffered().size()) +
                           " of " + std::to_string(n) + " expected bytes within " +
                           std::to_string(timeout_s) + " s");
  }
}

void Client::echo(const std::string& data, double timeout_s) {
  send(data, timeout_s);
  std::string back = recv_exact(data.size(), timeout_s);
  if (back != data)
    throw HarnessError(conn_.name() + ": sent " + quoted(data) + " but the echo was " +
                       quoted(back));
  // More than the echo already here is an error too (what arrives later shows up in the
  // next read: nothing here waits for it).
  conn_.pump();
  if (!conn_.buffered().empty())
    throw HarnessError(conn_.name() + ": sent " + quoted(data) + " and got it back, followed by " +
                       quoted(conn_.buffered()));
}

bool Client::wait_closed(double timeout_s) {
  Deadline deadline(timeout_s);
  for (;;) {
    conn_.pump();
    if (conn_.peer_closed()) return true;
    if (!conn_.open()) throw HarnessError(conn_.name() + ": wait_closed after close()");
    if (deadline.expired()) return false;
    pollfd pfd{conn_.fd(), POLLIN, 0};
    ::poll(&pfd, 1, deadline.poll_ms());
  }
}

bool Client::closed() {
  conn_.pump();
  return conn_.peer_closed();
}

}  // namespace tsh
