// One client connection (plain or TLS) that buffers what it receives and notices when the
// server closes it. Client and LinkGroup are built from these.
#pragma once

#include <string>

#include "channel.h"

namespace tsh {

class Connection {
 public:
  Connection(Channel channel, std::string name)
      : channel_(std::move(channel)), name_(std::move(name)) {}

  // Reads everything available now without waiting. Returns true if anything changed.
  bool pump();
  // Waits (up to the deadline) until pump() makes progress. Returns false on timeout.
  bool wait_readable(const Deadline& deadline);

  void send(const std::string& data, const Deadline& deadline);
  // Closes our side (TLS: after a close_notify unless notify is false); buffered data stays
  // readable.
  void close(bool notify = true) { channel_.close(notify); }

  // Removes and returns the first line (with its '\n'); empty if no whole line is buffered.
  std::string take_line();
  // Removes and returns the first n bytes; empty if fewer are buffered.
  std::string take(size_t n);
  // Framing mode: removes the first whole message into *payload and returns true; false if
  // none is complete yet. HarnessError for a header with the top bit set.
  bool take_frame(std::string* payload);
  // The next unit of a line-oriented or framed stream (take_line or take_frame); false if
  // none is complete yet.
  bool take_unit(bool framed, std::string* unit);

  int fd() const { return channel_.fd(); }
  Channel& channel() { return channel_; }
  bool open() const { return channel_.valid() && !peer_closed_; }
  bool peer_closed() const { return peer_closed_; }  // end of stream or reset seen
  bool reset() const { return reset_; }
  const std::string& buffered() const { return rx_; }
  std::string take_all() { return std::move(rx_); }
  const std::string& name() const { return name_; }

 private:
  Channel channel_;
  std::string name_;
  std::string rx_;
  bool peer_closed_ = false;
  bool reset_ = false;
};

}  // namespace tsh
