#include "client.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <algorithm>
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
Channel connect_one(const std::string& host, int port, double timeout_s,
                    const std::shared_ptr<const TlsConfig>& tls) {
  std::vector<Channel> channels = open_channels(host, port, 1, tls, Deadline(timeout_s));
  return std::move(channels.front());
}
}  // namespace

Client::Client(const std::string& host, int port, double timeout_s,
               std::shared_ptr<const TlsConfig> tls)
    : conn_(connect_one(host, port, timeout_s, tls),
            "client of " + host + ":" + std::to_string(port)),
      timeout_s_(timeout_s) {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(conn_.fd(), reinterpret_cast<sockaddr*>(&local), &len) == 0)
    local_port_ = ntohs(local.ss_family == AF_INET6
                            ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                            : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  tx_ = rx_ = PayloadStream(static_cast<uint64_t>(local_port_), 0);
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
    pollfd pfd{conn_.fd(), conn_.channel().poll_events(false), 0};
    ::poll(&pfd, 1, deadline.poll_ms());
  }
}

size_t Client::available() {
  conn_.pump();
  return conn_.buffered().size();
}

void Client::send_frame(const std::string& payload, double timeout_s) {
  if (payload.size() > 0x7FFFFFFF) throw HarnessError("send_frame: payload over 2^31-1 bytes");
  send(with_header(payload), timeout_s);
}

std::string Client::read_frame(double timeout_s) {
  Deadline deadline(timeout_s);
  std::string header = recv_exact(4, timeout_s);
  uint32_t len = 0;
  for (unsigned char b : header) len = (len << 8) | b;
  if (len & 0x80000000u)
    throw HarnessError(conn_.name() + ": received a frame header with the top bit set: " +
                       quoted(header));
  return recv_exact(len, deadline.left_s());
}

uint64_t Client::fill_until_blocked(uint64_t max_bytes, double stall_s, double timeout_s) {
  Deadline deadline(timeout_s);
  uint64_t sent = 0;
  while (sent < max_bytes) {
    if (tx_pending_.empty()) {
      tx_pending_.resize(static_cast<size_t>(std::min<uint64_t>(64 * 1024, max_bytes - sent)));
      tx_.fill(reinterpret_cast<uint8_t*>(&tx_pending_[0]), tx_pending_.size());
    }
    ssize_t n = conn_.channel().send(tx_pending_.data(), tx_pending_.size());
    if (n > 0) {
      sent += static_cast<uint64_t>(n);
      tx_pending_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      throw PeerClosed(conn_.name() + ": send failed after " + std::to_string(sent) +
                       " bytes: " + errno_text(errno));
    if (deadline.expired())
      throw HarnessTimeout(conn_.name() + ": fill_until_blocked: the socket neither took more "
                           "nor stalled for " + std::to_string(stall_s) + " s in time");
    pollfd pfd{conn_.fd(), static_cast<short>(conn_.channel().poll_events(true) & ~POLLIN), 0};
    int wait_ms = static_cast<int>(stall_s * 1000);
    if (::poll(&pfd, 1, std::min(wait_ms, deadline.poll_ms(wait_ms))) == 0 &&
        !deadline.expired())
      return sent;  // nothing accepted for stall_s: backed up
  }
  throw HarnessError(conn_.name() + ": " + std::to_string(sent) +
                     " bytes went out and the socket never backed up: the server kept reading");
}

void Client::expect_pattern(uint64_t n, double timeout_s) {
  std::string got = recv_exact(static_cast<size_t>(n), timeout_s);
  for (size_t i = 0; i < got.size(); ++i) {
    uint8_t want = rx_.next();
    if (static_cast<uint8_t>(got[i]) != want)
      throw HarnessError(conn_.name() + ": echoed pattern byte at offset " +
                         std::to_string(echoed_ + i) + " is " + quoted(got.substr(i, 1)) +
                         ", expected " + quoted(std::string(1, static_cast<char>(want))));
  }
  echoed_ += got.size();
}

void Client::expect_flood(uint64_t n, bool framed, double timeout_s) {
  std::string got;
  if (framed) {
    got = read_frame(timeout_s);
    if (got.size() != n)
      throw HarnessError(conn_.name() + ": expected a FLOOD message of " + std::to_string(n) +
                         " bytes, got one of " + std::to_string(got.size()));
  } else {
    got = recv_exact(static_cast<size_t>(n), timeout_s);
  }
  for (size_t i = 0; i < got.size(); ++i)
    if (static_cast<uint8_t>(got[i]) != flood_byte(i))
      throw HarnessError(conn_.name() + ": FLOOD byte " + std::to_string(i) + " of " +
                         std::to_string(n) + " is " + quoted(got.substr(i, 1)) +
                         ", expected " + std::to_string(flood_byte(i)));
}

bool Client::closed() {
  conn_.pump();
  return conn_.peer_closed();
}

}  // namespace tsh
