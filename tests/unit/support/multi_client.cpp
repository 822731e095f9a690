#include "support/multi_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "support/wait.h"

namespace tstest {

::testing::AssertionResult MultiClient::open(size_t n, std::chrono::milliseconds timeout) {
  const size_t first = conns_.size();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (size_t i = 0; i < n; ++i) {
    auto c = std::make_unique<Conn>();
    c->index = conns_.size();
    c->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return ::testing::AssertionFailure() << "socket(): " << std::strerror(errno);
    if (rcvbuf_ > 0) ::setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof rcvbuf_);
    if (::connect(c->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      c->connected = true;
    } else if (errno != EINPROGRESS) {
      return ::testing::AssertionFailure() << "connect #" << c->index << ": " << std::strerror(errno);
    }
    sockaddr_in local{};
    socklen_t local_len = sizeof local;
    if (::getsockname(c->fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0)
      c->local_port = ntohs(local.sin_port);
    conns_.push_back(std::move(c));
  }
  // Wait for the connects still in progress.
  auto deadline = Clock::now() + timeout;
  for (;;) {
    std::vector<pollfd> pfds;
    std::vector<Conn*> who;
    for (size_t i = first; i < conns_.size(); ++i) {
      Conn& c = *conns_[i];
      if (c.connected) continue;
      pfds.push_back(pollfd{c.fd, POLLOUT, 0});
      who.push_back(&c);
    }
    if (pfds.empty()) return ::testing::AssertionSuccess();
    if (Clock::now() >= deadline)
      return ::testing::AssertionFailure() << pfds.size() << " of " << n << " connects did not complete";
    int r = ::poll(pfds.data(), pfds.size(), 20);
    if (r < 0 && errno != EINTR) return ::testing::AssertionFailure() << "poll: " << std::strerror(errno);
    for (size_t k = 0; r > 0 && k < pfds.size(); ++k) {
      if (!pfds[k].revents) continue;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(who[k]->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0)
        return ::testing::AssertionFailure() << "connect #" << who[k]->index << ": " << std::strerror(err);
      who[k]->connected = true;
    }
  }
}

void MultiClient::send(size_t i, const void* data, size_t len) {
  Conn& c = *conns_[i];
  if (c.out_pos == c.out.size()) {
    c.out.clear();
    c.out_pos = 0;
  }
  auto* p = static_cast<const uint8_t*>(data);
  c.out.insert(c.out.end(), p, p + len);
}

void MultiClient::end(Conn& c, int error) {
  if (error) c.error = error;
  else c.eof = true;
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
}

void MultiClient::do_write(Conn& c) {
  for (int round = 0; round < 8 && c.fd >= 0; ++round) {
    if (c.pending_out() == 0) {
      c.out.clear();
      c.out_pos = 0;
      if (c.on_writable) c.on_writable(c);
      if (c.pending_out() == 0) return;
    }
    ssize_t n = ::send(c.fd, c.out.data() + c.out_pos, c.pending_out(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out_pos += static_cast<size_t>(n);
      c.bytes_out += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    end(c, errno ? errno : EPIPE);
    return;
  }
}

void MultiClient::do_read(Conn& c) {
  for (int round = 0; round < 8 && c.fd >= 0; ++round) {
    ssize_t n = ::recv(c.fd, scratch_.data(), scratch_.size(), 0);
    if (n > 0) {
      c.bytes_in += static_cast<uint64_t>(n);
      if (c.on_data) c.on_data(c, scratch_.data(), static_cast<size_t>(n));
      else c.in.insert(c.in.end(), scratch_.data(), scratch_.data() + n);
      continue;
    }
    if (n == 0) {
      end(c, 0);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    end(c, errno);
    return;
  }
}

void MultiClient::pump(int timeout_ms) {
  std::vector<pollfd> pfds;
  std::vector<Conn*> who;
  pfds.reserve(conns_.size());
  for (auto& cp : conns_) {
    Conn& c = *cp;
    if (c.fd < 0 || !c.connected) continue;
    if (c.pending_out() == 0 && c.on_writable) {
      c.out.clear();
      c.out_pos = 0;
      c.on_writable(c);
    }
    short events = POLLIN;
    if (c.pending_out() > 0) events |= POLLOUT;
    pfds.push_back(pollfd{c.fd, events, 0});
    who.push_back(&c);
  }
  if (pfds.empty()) return;
  int r = ::poll(pfds.data(), pfds.size(), timeout_ms);
  if (r <= 0) return;
  for (size_t k = 0; k < pfds.size(); ++k) {
    short ev = pfds[k].revents;
    if (!ev) continue;
    Conn& c = *who[k];
    if (ev & (POLLIN | POLLHUP | POLLERR)) do_read(c);
    if (c.fd >= 0 && (ev & POLLOUT)) do_write(c);
  }
}

bool MultiClient::run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= deadline) return done();
    pump(10);
  }
  return true;
}

void MultiClient::close(size_t i, bool reset) {
  Conn& c = *conns_[i];
  if (c.fd < 0) return;
  if (reset) {
    linger lg{1, 0};
    ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  ::close(c.fd);
  c.fd = -1;
}

void MultiClient::close_all() {
  for (size_t i = 0; i < conns_.size(); ++i) close(i);
}

size_t MultiClient::count_ended() const {
  size_t n = 0;
  for (auto& c : conns_) n += c->ended() ? 1 : 0;
  return n;
}

}  // namespace tstest
