// Test support: blocking clients with deadlines, a multiplexed driver for many connections,
// wait_until, and process resource counts. Everything binds/connects to 127.0.0.1.
#pragma once
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tcpserver.h"

namespace tst {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Polls `pred` every 2 ms until it holds or `timeout` passes; returns its last value.
bool wait_until(const std::function<bool()>& pred, milliseconds timeout = milliseconds(10000));

int fd_count();
int thread_count();

// A blocking TCP client with receive/send deadlines.
class Client {
 public:
  explicit Client(uint32_t port, int timeout_ms = 5000);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  bool ok() const { return fd_ >= 0; }
  bool send_all(const void* data, size_t len);
  bool send_str(const std::string& s) { return send_all(s.data(), s.size()); }
  // Reads exactly n bytes (false on EOF/timeout).
  bool recv_exact(void* out, size_t n);
  std::string recv_n(size_t n);
  // True once the peer closed (EOF or reset) within the timeout; discards data.
  bool wait_closed(int timeout_ms = 5000);
  void close();
  void shutdown_write();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// Deterministic pseudo-random bytes: byte i of stream `seed`.
uint8_t pattern(uint64_t seed, uint64_t i);

// Drives many connections at once (one thread, poll): each sends `bytes` of pattern(seed=i)
// in random chunks of 1..max_chunk and checks the echo byte by byte. Returns errors found
// (0 = every byte verified) and fills `verified` with the bytes checked.
struct EchoResult {
  int errors = 0;
  uint64_t verified = 0;
  std::string first_error;
};
EchoResult echo_many(uint32_t port, int connections, size_t bytes, size_t max_chunk,
                     int timeout_ms);

// Common fixture: resets callbacks and options, always stops the server.
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Starts on 127.0.0.1, port 0; fails the test if it cannot.
  uint32_t start();
};

}  // namespace tst
