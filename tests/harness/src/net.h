// Socket plumbing shared by the harness clients: errors, deadlines, connecting, reading.
// Every socket is non-blocking and every wait is bounded by a Deadline, so a misbehaving
// server makes a test fail with a message instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace tsh {

// Raised for anything the server did wrong (wrong byte, early close, ...) and for local
// socket failures. Python sees tsharness.HarnessError.
class HarnessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// A bounded wait ran out (tsharness.HarnessTimeout).
class HarnessTimeout : public HarnessError {
 public:
  using HarnessError::HarnessError;
};
// The server closed or reset the connection where data was expected (tsharness.PeerClosed).
class PeerClosed : public HarnessError {
 public:
  using HarnessError::HarnessError;
};

using Clock = std::chrono::steady_clock;

class Deadline {
 public:
  explicit Deadline(double seconds);
  bool expired() const { return Clock::now() >= at_; }
  // Milliseconds to pass to poll(): what is left, at most cap_ms, at least 0.
  int poll_ms(int cap_ms = 100) const;
  double left_s() const;  // seconds left, 0 once expired

 private:
  Clock::time_point at_;
};

double seconds_since(Clock::time_point start);
std::string errno_text(int err);

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();
  void reset();

 private:
  int fd_ = -1;
};

// Starts non-blocking connects to host:port (a numeric address or a name) for `count`
// sockets, then waits until all are established. TCP_NODELAY is set so each send() the
// harness makes leaves as its own segment (the server sees the chunking we chose).
std::vector<Fd> connect_all(const std::string& host, int port, size_t count, Deadline deadline);

}  // namespace tsh
