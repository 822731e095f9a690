// Many client connections to 127.0.0.1 driven by one thread with poll() (WSAPoll on Windows): non-blocking
// connects, writes of queued bytes, reads handed to a per-connection handler. Hundreds of
// links cost one thread, not hundreds. Transfers of hundreds of MiB wait on progress
// (run_while_progressing), not on a time budget: a slow machine only makes them take longer.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/socket_compat.h"
#include "support/wait.h"

namespace tstest {

class MultiClient {
 public:
  struct Conn {
    size_t index = 0;
    socket_t fd = kNoSocket;
    bool connected = false;
    uint16_t local_port = 0;  // what the server sees as TcpLink.RemotePort
    bool eof = false;  // the server closed it (FIN)
    int error = 0;     // the socket error that ended it (a reset ...), 0 if none
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    Clock::time_point last_moved{};  // the last time a byte was read or written
    std::vector<uint8_t> out;  // bytes still to send, from out_pos
    size_t out_pos = 0;
    // Called when `out` is drained: append the next bytes to send (or nothing).
    std::function<void(Conn&)> on_writable;
    // Called with every chunk read; without it the bytes are appended to `in`.
    std::function<void(Conn&, const uint8_t*, size_t)> on_data;
    std::vector<uint8_t> in;

    bool ended() const { return eof || error != 0; }
    bool is_open() const { return fd != kNoSocket; }
    size_t pending_out() const { return out.size() - out_pos; }
  };

  // rcvbuf > 0 sets SO_RCVBUF on every connection before it connects.
  explicit MultiClient(uint16_t port, int rcvbuf = 0) : port_(port), rcvbuf_(rcvbuf) {}
  ~MultiClient() { close_all(); }
  MultiClient(const MultiClient&) = delete;
  MultiClient& operator=(const MultiClient&) = delete;

  // Opens n more connections and waits until every one is connected.
  ::testing::AssertionResult open(size_t n,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
  size_t size() const { return conns_.size(); }
  Conn& at(size_t i) { return *conns_[i]; }

  // Queues bytes for connection i (sent by pump()).
  void send(size_t i, const void* data, size_t len);
  // One round: poll up to timeout_ms, then write and read whatever is ready.
  void pump(int timeout_ms);
  // Pumps until done() or the timeout; returns done().
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  // Pumps until done(), or until no connection has read or written a byte for `stall`; returns
  // done(). The deadline moves on with every byte, so only a stall (nothing moving any more)
  // ends it early, however slow the machine is.
  bool run_while_progressing(const std::function<bool()>& done, std::chrono::milliseconds stall);
  // The longest time without a byte moving during the last run_while_progressing.
  long long longest_pause_ms() const { return longest_pause_ms_; }
  // Bytes read plus bytes written, over every connection.
  uint64_t bytes_moved() const;
  // One line per connection for which finished() is false (at most max_lines): its bytes in
  // and out and how long ago it last moved one; for failure messages.
  std::string describe_unfinished(const std::function<bool(const Conn&)>& finished,
                                  size_t max_lines = 10) const;

  void close(size_t i, bool reset = false);
  void close_all();
  size_t count_ended() const;

 private:
  void do_write(Conn& c);
  void do_read(Conn& c);
  void end(Conn& c, int error);

  uint16_t port_;
  int rcvbuf_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<uint8_t> scratch_ = std::vector<uint8_t>(64 * 1024);
  long long longest_pause_ms_ = 0;
};

}  // namespace tstest
