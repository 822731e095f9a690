#include "connection.h"

#include <poll.h>

#include <cerrno>
#include <cstdint>

namespace tsh {

bool Connection::pump() {
  if (!channel_.valid() || peer_closed_) return false;
  bool changed = false;
  char buf[16384];
  for (;;) {
    bool was_reset = false;
    long n = read_some(channel_, buf, sizeof buf, &was_reset, name_);
    if (n < 0) return changed;
    if (n == 0) {
      peer_closed_ = true;
      reset_ = was_reset;
      return true;
    }
    rx_.append(buf, static_cast<size_t>(n));
    changed = true;
  }
}

bool Connection::wait_readable(const Deadline& deadline) {
  for (;;) {
    if (pump()) return true;
    if (!open())
      throw HarnessError(name_ + ": waiting on a connection that is already closed");
    if (deadline.expired()) return false;
    pollfd pfd{channel_.fd(), channel_.poll_events(false), 0};
    int r = ::poll(&pfd, 1, deadline.poll_ms());
    if (r < 0 && errno != EINTR) throw HarnessError(name_ + ": poll: " + errno_text(errno));
  }
}

void Connection::send(const std::string& data, const Deadline& deadline) {
  if (!channel_.valid()) throw HarnessError(name_ + ": send on a connection we closed");
  send_all(channel_, data.data(), data.size(), deadline, name_);
}

std::string Connection::take_line() {
  size_t nl = rx_.find('\n');
  if (nl == std::string::npos) return {};
  std::string line = rx_.substr(0, nl + 1);
  rx_.erase(0, nl + 1);
  return line;
}

bool Connection::take_frame(std::string* payload) {
  if (rx_.size() < 4) return false;
  uint32_t len = 0;
  for (size_t i = 0; i < 4; ++i) len = (len << 8) | static_cast<unsigned char>(rx_[i]);
  if (len & 0x80000000u)
    throw HarnessError(name_ + ": received a frame header with the top bit set");
  if (rx_.size() - 4 < len) return false;
  *payload = rx_.substr(4, len);
  rx_.erase(0, 4 + static_cast<size_t>(len));
  return true;
}

bool Connection::take_unit(bool framed, std::string* unit) {
  if (framed) return take_frame(unit);
  *unit = take_line();
  return !unit->empty();
}

std::string Connection::take(size_t n) {
  if (rx_.size() < n) return {};
  std::string out = rx_.substr(0, n);
  rx_.erase(0, n);
  return out;
}

}  // namespace tsh
