// One client connection to 127.0.0.1 for tests that drive a few links step by step. Every
// operation has a deadline, so a misbehaving server fails the test instead of hanging it.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "support/socket_compat.h"

namespace tstest {

class BlockingClient {
 public:
  enum class ReadResult { kData, kClosed, kTimeout };

  BlockingClient() = default;
  ~BlockingClient();
  BlockingClient(const BlockingClient&) = delete;
  BlockingClient& operator=(const BlockingClient&) = delete;
  BlockingClient(BlockingClient&& other) noexcept;
  BlockingClient& operator=(BlockingClient&& other) noexcept;

  // rcvbuf > 0 sets SO_RCVBUF before connecting (a small one makes the server's sends queue).
  ::testing::AssertionResult connect(uint16_t port, int rcvbuf = 0,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // The same, to the IPv6 loopback ::1.
  ::testing::AssertionResult connect_ipv6(uint16_t port,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ::testing::AssertionResult send_all(const void* data, size_t len,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ::testing::AssertionResult send_all(const std::string& text) {
    return send_all(text.data(), text.size());
  }
  // Reads exactly n bytes into *out (replacing its content).
  ::testing::AssertionResult recv_exact(size_t n, std::vector<uint8_t>* out,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits until the server closes the connection (EOF or reset). Bytes that arrive meanwhile
  // are appended to *data when given.
  ::testing::AssertionResult wait_closed(std::chrono::milliseconds timeout,
                                         std::vector<uint8_t>* data = nullptr);
  // Waits for the next event: some bytes (appended to *data), the close, or the timeout.
  ReadResult read_some(std::chrono::milliseconds timeout, std::vector<uint8_t>* data);

  // One non-blocking send: bytes the kernel took, 0 when its buffers are full, -1 on error.
  long try_send(const void* data, size_t len);

  void set_no_delay();   // every send() its own segment (socket_compat.h)
  void shutdown_send();  // half-close: FIN to the server, reading goes on
  void close();  // graceful (FIN)
  void reset();  // abortive (RST): SO_LINGER 0
  bool is_open() const { return fd_ != kNoSocket; }
  socket_t fd() const { return fd_; }
  uint16_t local_port() const;

 private:
  ::testing::AssertionResult connect_to(const sockaddr* addr, int addr_len, int rcvbuf,
                                        std::chrono::milliseconds timeout);

  socket_t fd_ = kNoSocket;
};

}  // namespace tstest
