#include "support/multi_client.h"

#include <algorithm>
#include <sstream>

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
    c->fd = tcp_socket(AF_INET, /*nonblocking=*/true);
    if (!c->is_open())
      return ::testing::AssertionFailure() << "socket(): " << socket_error_text(last_socket_error());
    if (rcvbuf_ > 0) set_receive_buffer(c->fd, rcvbuf_);
    c->last_moved = Clock::now();
    if (::connect(c->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      c->connected = true;
    } else {
      const int e = last_socket_error();
      const SockErr kind = classify_socket_error(e);
      if (kind != SockErr::kInProgress && kind != SockErr::kWouldBlock)
        return ::testing::AssertionFailure() << "connect #" << c->index << ": " << socket_error_text(e);
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
      pfds.push_back(poll_entry(c.fd, POLLOUT));
      who.push_back(&c);
    }
    if (pfds.empty()) return ::testing::AssertionSuccess();
    if (Clock::now() >= deadline)
      return ::testing::AssertionFailure() << pfds.size() << " of " << n << " connects did not complete";
    int r = poll_sockets(pfds.data(), pfds.size(), 20);
    if (r < 0 && classify_socket_error(last_socket_error()) != SockErr::kInterrupted)
      return ::testing::AssertionFailure() << "poll: " << socket_error_text(last_socket_error());
    for (size_t k = 0; r > 0 && k < pfds.size(); ++k) {
      if (!pfds[k].revents) continue;
      if (int err = connect_result(who[k]->fd))
        return ::testing::AssertionFailure() << "connect #" << who[k]->index << ": " << socket_error_text(err);
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
  if (c.is_open()) close_socket(c.fd);
  c.fd = kNoSocket;
}

void MultiClient::do_write(Conn& c) {
  for (int round = 0; round < 8 && c.is_open(); ++round) {
    if (c.pending_out() == 0) {
      c.out.clear();
      c.out_pos = 0;
      if (c.on_writable) c.on_writable(c);
      if (c.pending_out() == 0) return;
    }
    long n = send_some(c.fd, c.out.data() + c.out_pos, c.pending_out());
    if (n > 0) {
      c.out_pos += static_cast<size_t>(n);
      c.bytes_out += static_cast<uint64_t>(n);
      c.last_moved = Clock::now();
      continue;
    }
    const int e = n < 0 ? last_socket_error() : 0;
    const SockErr kind = classify_socket_error(e);
    if (n < 0 && kind == SockErr::kInterrupted) continue;
    if (n < 0 && kind == SockErr::kWouldBlock) return;
    end(c, e ? e : -1);
    return;
  }
}

void MultiClient::do_read(Conn& c) {
  for (int round = 0; round < 8 && c.is_open(); ++round) {
    long n = recv_some(c.fd, scratch_.data(), scratch_.size());
    if (n > 0) {
      c.bytes_in += static_cast<uint64_t>(n);
      c.last_moved = Clock::now();
      if (c.on_data) c.on_data(c, scratch_.data(), static_cast<size_t>(n));
      else c.in.insert(c.in.end(), scratch_.data(), scratch_.data() + n);
      continue;
    }
    if (n == 0) {
      end(c, 0);
      return;
    }
    const int e = last_socket_error();
    const SockErr kind = classify_socket_error(e);
    if (kind == SockErr::kInterrupted) continue;
    if (kind == SockErr::kWouldBlock) return;
    end(c, e);
    return;
  }
}

void MultiClient::pump(int timeout_ms) {
  std::vector<pollfd> pfds;
  std::vector<Conn*> who;
  pfds.reserve(conns_.size());
  for (auto& cp : conns_) {
    Conn& c = *cp;
    if (!c.is_open() || !c.connected) continue;
    if (c.pending_out() == 0 && c.on_writable) {
      c.out.clear();
      c.out_pos = 0;
      c.on_writable(c);
    }
    short events = POLLIN;
    if (c.pending_out() > 0) events |= POLLOUT;
    pfds.push_back(poll_entry(c.fd, events));
    who.push_back(&c);
  }
  if (pfds.empty()) return;
  int r = poll_sockets(pfds.data(), pfds.size(), timeout_ms);
  if (r <= 0) return;
  for (size_t k = 0; k < pfds.size(); ++k) {
    short ev = pfds[k].revents;
    if (!ev) continue;
    Conn& c = *who[k];
    if (ev & (POLLIN | POLLHUP | POLLERR)) do_read(c);
    if (c.is_open() && (ev & POLLOUT)) do_write(c);
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

bool MultiClient::run_while_progressing(const std::function<bool()>& done,
                                        std::chrono::milliseconds stall) {
  longest_pause_ms_ = 0;
  uint64_t moved = bytes_moved();
  auto last_move = Clock::now();
  while (!done()) {
    pump(10);
    const uint64_t now_moved = bytes_moved();
    const long long paused = ms_since(last_move);
    longest_pause_ms_ = std::max(longest_pause_ms_, paused);
    if (now_moved != moved) {
      moved = now_moved;
      last_move = Clock::now();
    } else if (paused >= stall.count()) {
      return done();
    }
  }
  return true;
}

uint64_t MultiClient::bytes_moved() const {
  uint64_t n = 0;
  for (const auto& c : conns_) n += c->bytes_in + c->bytes_out;
  return n;
}

std::string MultiClient::describe_unfinished(const std::function<bool(const Conn&)>& finished,
                                             size_t max_lines) const {
  std::ostringstream out;
  size_t count = 0;
  for (const auto& c : conns_) {
    if (finished(*c)) continue;
    if (++count > max_lines) continue;
    out << "\n  link " << c->index << ": " << c->bytes_out << " bytes sent, " << c->bytes_in
        << " received, last byte moved " << ms_since(c->last_moved) << " ms ago"
        << (c->ended() ? " (closed)" : "");
  }
  if (count > max_lines) out << "\n  ... and " << (count - max_lines) << " more";
  return std::to_string(count) + " of " + std::to_string(conns_.size()) + " links unfinished:" +
         out.str();
}

void MultiClient::close(size_t i, bool reset) {
  Conn& c = *conns_[i];
  if (!c.is_open()) return;
  if (reset) set_abortive_close(c.fd);
  close_socket(c.fd);
  c.fd = kNoSocket;
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
