#include "support/blocking_client.h"

#include <cstring>

#include "support/wait.h"

namespace tstest {
namespace {

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Polls one socket until `events` or the deadline; true when ready.
bool wait_ready(socket_t s, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p = poll_entry(s, events);
    int r = poll_sockets(&p, 1, ms_left(deadline));
    if (r > 0) return true;
    if (r == 0) return false;
    if (classify_socket_error(last_socket_error()) != SockErr::kInterrupted) return false;
  }
}

}  // namespace

BlockingClient::~BlockingClient() { close(); }

long BlockingClient::try_send(const void* data, size_t len) {
  for (;;) {
    long n = send_some(fd_, data, len);
    if (n >= 0) return n;
    SockErr kind = classify_socket_error(last_socket_error());
    if (kind == SockErr::kWouldBlock) return 0;
    if (kind != SockErr::kInterrupted) return -1;
  }
}

BlockingClient::BlockingClient(BlockingClient&& other) noexcept : fd_(other.fd_) {
  other.fd_ = kNoSocket;
}

BlockingClient& BlockingClient::operator=(BlockingClient&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    other.fd_ = kNoSocket;
  }
  return *this;
}

::testing::AssertionResult BlockingClient::connect(uint16_t port, int rcvbuf,
                                                   std::chrono::milliseconds timeout) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return connect_to(reinterpret_cast<const sockaddr*>(&addr), sizeof addr, rcvbuf, timeout);
}

::testing::AssertionResult BlockingClient::connect_ipv6(uint16_t port,
                                                        std::chrono::milliseconds timeout) {
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(port);
  addr.sin6_addr = in6addr_loopback;
  return connect_to(reinterpret_cast<const sockaddr*>(&addr), sizeof addr, 0, timeout);
}

::testing::AssertionResult BlockingClient::connect_to(const sockaddr* addr, int addr_len,
                                                      int rcvbuf, std::chrono::milliseconds timeout) {
  close();
  const uint16_t port = ntohs(reinterpret_cast<const sockaddr_in*>(addr)->sin_port);
  fd_ = tcp_socket(addr->sa_family, /*nonblocking=*/true);
  if (fd_ == kNoSocket)
    return ::testing::AssertionFailure() << "socket(): " << socket_error_text(last_socket_error());
  if (rcvbuf > 0) set_receive_buffer(fd_, rcvbuf);
  auto deadline = Clock::now() + timeout;
  if (::connect(fd_, addr, addr_len) != 0) {
    const int e = last_socket_error();
    const SockErr kind = classify_socket_error(e);
    if (kind != SockErr::kInProgress && kind != SockErr::kWouldBlock) {
      close();
      return ::testing::AssertionFailure() << "connect to port " << port << ": " << socket_error_text(e);
    }
    if (!wait_ready(fd_, POLLOUT, deadline)) {
      close();
      return ::testing::AssertionFailure() << "connect to port " << port << " timed out";
    }
    if (int err = connect_result(fd_)) {
      close();
      return ::testing::AssertionFailure() << "connect to port " << port << ": " << socket_error_text(err);
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult BlockingClient::send_all(const void* data, size_t len,
                                                    std::chrono::milliseconds timeout) {
  if (!is_open()) return ::testing::AssertionFailure() << "send on a closed client";
  auto deadline = Clock::now() + timeout;
  auto* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < len) {
    long n = send_some(fd_, p + done, len - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    const int e = last_socket_error();
    const SockErr kind = classify_socket_error(e);
    if (n < 0 && kind == SockErr::kInterrupted) continue;
    if (n < 0 && kind == SockErr::kWouldBlock) {
      if (!wait_ready(fd_, POLLOUT, deadline))
        return ::testing::AssertionFailure() << "send timed out after " << done << " of " << len << " bytes";
      continue;
    }
    return ::testing::AssertionFailure() << "send failed after " << done << " of " << len
                                         << " bytes: " << socket_error_text(e);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult BlockingClient::recv_exact(size_t n, std::vector<uint8_t>* out,
                                                      std::chrono::milliseconds timeout) {
  out->clear();
  if (!is_open()) return ::testing::AssertionFailure() << "recv on a closed client";
  out->resize(n);
  auto deadline = Clock::now() + timeout;
  size_t got = 0;
  while (got < n) {
    long r = recv_some(fd_, out->data() + got, n - got);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) {
      out->resize(got);
      return ::testing::AssertionFailure() << "server closed after " << got << " of " << n << " bytes";
    }
    const int e = last_socket_error();
    const SockErr kind = classify_socket_error(e);
    if (kind == SockErr::kInterrupted) continue;
    if (kind == SockErr::kWouldBlock) {
      if (!wait_ready(fd_, POLLIN, deadline)) {
        out->resize(got);
        return ::testing::AssertionFailure() << "timed out after " << got << " of " << n << " bytes";
      }
      continue;
    }
    out->resize(got);
    return ::testing::AssertionFailure() << "recv failed after " << got << " of " << n
                                         << " bytes: " << socket_error_text(e);
  }
  return ::testing::AssertionSuccess();
}

BlockingClient::ReadResult BlockingClient::read_some(std::chrono::milliseconds timeout,
                                                     std::vector<uint8_t>* data) {
  if (!is_open()) return ReadResult::kClosed;
  auto deadline = Clock::now() + timeout;
  uint8_t buf[64 * 1024];
  for (;;) {
    long r = recv_some(fd_, buf, sizeof buf);
    if (r > 0) {
      if (data) data->insert(data->end(), buf, buf + r);
      return ReadResult::kData;
    }
    if (r == 0) return ReadResult::kClosed;
    const SockErr kind = classify_socket_error(last_socket_error());
    if (kind == SockErr::kInterrupted) continue;
    if (kind != SockErr::kWouldBlock) return ReadResult::kClosed;  // reset
    if (!wait_ready(fd_, POLLIN, deadline)) return ReadResult::kTimeout;
  }
}

::testing::AssertionResult BlockingClient::wait_closed(std::chrono::milliseconds timeout,
                                                       std::vector<uint8_t>* data) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    switch (read_some(milliseconds(ms_left(deadline)), data)) {
      case ReadResult::kClosed:
        return ::testing::AssertionSuccess();
      case ReadResult::kTimeout:
        return ::testing::AssertionFailure() << "the server did not close the connection within "
                                             << timeout.count() << " ms";
      case ReadResult::kData:
        break;
    }
  }
}

void BlockingClient::shutdown_send() {
#ifdef _WIN32
  if (is_open()) ::shutdown(fd_, SD_SEND);
#else
  if (is_open()) ::shutdown(fd_, SHUT_WR);
#endif
}

void BlockingClient::close() {
  if (is_open()) close_socket(fd_);
  fd_ = kNoSocket;
}

void BlockingClient::set_no_delay() {
  if (is_open()) tstest::set_no_delay(fd_);
}

void BlockingClient::reset() {
  if (!is_open()) return;
  set_abortive_close(fd_);
  close();
}

uint16_t BlockingClient::local_port() const {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (!is_open() || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

}  // namespace tstest
