#include "support/blocking_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "support/wait.h"

namespace tstest {
namespace {

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// poll() one descriptor until `events` or the deadline; true when ready.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, ms_left(deadline));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

BlockingClient::~BlockingClient() { close(); }

BlockingClient::BlockingClient(BlockingClient&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

BlockingClient& BlockingClient::operator=(BlockingClient&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

::testing::AssertionResult BlockingClient::connect(uint16_t port, int rcvbuf,
                                                   std::chrono::milliseconds timeout) {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return ::testing::AssertionFailure() << "socket(): " << std::strerror(errno);
  if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto deadline = Clock::now() + timeout;
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) {
      int e = errno;
      close();
      return ::testing::AssertionFailure() << "connect to port " << port << ": " << std::strerror(e);
    }
    if (!wait_fd(fd_, POLLOUT, deadline)) {
      close();
      return ::testing::AssertionFailure() << "connect to port " << port << " timed out";
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      close();
      return ::testing::AssertionFailure() << "connect to port " << port << ": " << std::strerror(err);
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult BlockingClient::send_all(const void* data, size_t len,
                                                    std::chrono::milliseconds timeout) {
  if (fd_ < 0) return ::testing::AssertionFailure() << "send on a closed client";
  auto deadline = Clock::now() + timeout;
  auto* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::send(fd_, p + done, len - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_fd(fd_, POLLOUT, deadline))
        return ::testing::AssertionFailure() << "send timed out after " << done << " of " << len << " bytes";
      continue;
    }
    return ::testing::AssertionFailure() << "send failed after " << done << " of " << len
                                         << " bytes: " << std::strerror(errno);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult BlockingClient::recv_exact(size_t n, std::vector<uint8_t>* out,
                                                      std::chrono::milliseconds timeout) {
  out->clear();
  if (fd_ < 0) return ::testing::AssertionFailure() << "recv on a closed client";
  out->resize(n);
  auto deadline = Clock::now() + timeout;
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd_, out->data() + got, n - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) {
      out->resize(got);
      return ::testing::AssertionFailure() << "server closed after " << got << " of " << n << " bytes";
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_fd(fd_, POLLIN, deadline)) {
        out->resize(got);
        return ::testing::AssertionFailure() << "timed out after " << got << " of " << n << " bytes";
      }
      continue;
    }
    int e = errno;
    out->resize(got);
    return ::testing::AssertionFailure() << "recv failed after " << got << " of " << n
                                         << " bytes: " << std::strerror(e);
  }
  return ::testing::AssertionSuccess();
}

BlockingClient::ReadResult BlockingClient::read_some(std::chrono::milliseconds timeout,
                                                     std::vector<uint8_t>* data) {
  if (fd_ < 0) return ReadResult::kClosed;
  auto deadline = Clock::now() + timeout;
  uint8_t buf[64 * 1024];
  for (;;) {
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r > 0) {
      if (data) data->insert(data->end(), buf, buf + r);
      return ReadResult::kData;
    }
    if (r == 0) return ReadResult::kClosed;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return ReadResult::kClosed;  // reset
    if (!wait_fd(fd_, POLLIN, deadline)) return ReadResult::kTimeout;
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

void BlockingClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void BlockingClient::reset() {
  if (fd_ < 0) return;
  linger lg{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close();
}

uint16_t BlockingClient::local_port() const {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (fd_ < 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

}  // namespace tstest
