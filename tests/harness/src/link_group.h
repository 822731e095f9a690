// Many connections held open at once: idle links for timeout/stop tests, listeners for
// broadcasts. Not thread-safe: one user at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "connection.h"

namespace tsh {

class LinkGroup {
 public:
  // framed: the server runs in framing mode (PROTOCOL.md --framing 1): pings are sent as
  // messages, and read_lines reads messages instead of lines.
  // tls nullptr: plain connections; else each completes its TLS handshake first.
  LinkGroup(const std::string& host, int port, size_t count, double timeout_s,
            bool framed = false, std::shared_ptr<const TlsConfig> tls = nullptr);
  // Move-only (std::vector would claim to be copyable, and pybind11 would believe it).
  LinkGroup(LinkGroup&&) = default;
  LinkGroup& operator=(LinkGroup&&) = default;
  LinkGroup(const LinkGroup&) = delete;
  LinkGroup& operator=(const LinkGroup&) = delete;

  size_t size() const { return links_.size(); }
  // Each open link sends a short token of its own (no '\n') and checks the echo: afterwards
  // the server is known to serve every link (accepted, registered, reading).
  void ping(double timeout_s);
  // How many links the server has closed (or reset), checking without waiting.
  size_t closed_count();
  // Waits until at least `expected` links are closed or the time is up; returns the count.
  size_t wait_closed(size_t expected, double timeout_s);
  std::vector<bool> closed_flags();
  // Every link reads lines until it receives the line `until` ('\n' included). Returns each
  // link's lines ('\n' included), plus whatever else is already there after `until` (so a
  // duplicate shows). Raises HarnessTimeout naming a link that did not see `until` in time,
  // PeerClosed if one is closed before. Framed: message payloads instead of lines.
  std::vector<std::vector<std::string>> read_lines(const std::string& until, double timeout_s);
  // Closes our side of every link (the server sees FINs; TLS: close_notify first unless
  // notify is false).
  void close(bool notify = true);

 private:
  std::vector<Connection> links_;
  bool framed_ = false;
};

struct BroadcastResult {
  std::vector<std::vector<std::string>> listener_lines;  // per listener, in arrival order
  std::vector<std::string> sender_lines;
};

// Opens `listeners` links and pings them, then a sender link sends "BCAST <text>\n" for each
// text, waiting for its own copy of each before the next (PROTOCOL.md: wait for a command's
// effect). Every listener then reads until the last text's line. Texts must not contain '\n'.
// Framed: every command and every copy is one message.
BroadcastResult broadcast_collect(const std::string& host, int port, size_t listeners,
                                  const std::vector<std::string>& texts, double timeout_s,
                                  bool framed = false,
                                  const std::shared_ptr<const TlsConfig>& tls = nullptr);

}  // namespace tsh
