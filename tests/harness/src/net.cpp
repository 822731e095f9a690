#include "net.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tsh {

Deadline::Deadline(double seconds)
    : at_(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(std::max(0.0, seconds)))) {}

int Deadline::poll_ms(int cap_ms) const {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now()).count();
  // Round up so a wait never returns just before the deadline and spins.
  return static_cast<int>(std::clamp<long long>(left + 1, 0, cap_ms));
}

double Deadline::left_s() const {
  return std::max(0.0, std::chrono::duration<double>(at_ - Clock::now()).count());
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string errno_text(int err) { return std::strerror(err); }

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.release();
  }
  return *this;
}

int Fd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

namespace {

struct Address {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
};

Address resolve(const std::string& host, int port) {
  if (port <= 0 || port > 65535)
    throw HarnessError("port " + std::to_string(port) + " is not a TCP port (1..65535)");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0 || !found)
    throw HarnessError("cannot resolve '" + host + "': " + ::gai_strerror(rc));
  Address a;
  std::memcpy(&a.addr, found->ai_addr, found->ai_addrlen);
  a.len = found->ai_addrlen;
  a.family = found->ai_family;
  ::freeaddrinfo(found);
  return a;
}

}  // namespace

std::vector<Fd> connect_all(const std::string& host, int port, size_t count, Deadline deadline) {
  const Address to = resolve(host, port);
  std::vector<Fd> fds;
  std::vector<bool> done(count, false);
  fds.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    Fd fd(::socket(to.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid())
      throw HarnessError("socket() for connection #" + std::to_string(i) + ": " +
                         errno_text(errno) + " (raise the open-files limit?)");
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to.addr), to.len) == 0)
      done[i] = true;
    else if (errno != EINPROGRESS)
      throw HarnessError("connect #" + std::to_string(i) + " to " + host + ":" +
                         std::to_string(port) + ": " + errno_text(errno));
    fds.push_back(std::move(fd));
  }
  for (;;) {
    std::vector<pollfd> pending;
    std::vector<size_t> index;
    for (size_t i = 0; i < count; ++i)
      if (!done[i]) {
        pending.push_back(pollfd{fds[i].get(), POLLOUT, 0});
        index.push_back(i);
      }
    if (pending.empty()) return fds;
    if (deadline.expired())
      throw HarnessTimeout(std::to_string(pending.size()) + " of " + std::to_string(count) +
                           " connects to " + host + ":" + std::to_string(port) +
                           " did not complete in time");
    int r = ::poll(pending.data(), pending.size(), deadline.poll_ms());
    if (r < 0 && errno != EINTR) throw HarnessError("poll: " + errno_text(errno));
    for (size_t k = 0; r > 0 && k < pending.size(); ++k) {
      if (!pending[k].revents) continue;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(pending[k].fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0)
        throw HarnessError("connect #" + std::to_string(index[k]) + " to " + host + ":" +
                           std::to_string(port) + ": " + errno_text(err));
      done[index[k]] = true;
    }
  }
}

}  // namespace tsh
