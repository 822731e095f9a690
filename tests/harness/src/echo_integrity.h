// Many connections at once send pseudo-random data in random-sized writes and check that
// every byte comes back, in order (the echo of the conformance server).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tls_config.h"

namespace tsh {

struct EchoOptions {
  std::string host;
  int port = 0;
  size_t connections = 1;
  size_t bytes_per_conn = 0;
  size_t max_chunk = 1;   // each send() is 1..max_chunk bytes
  uint64_t seed = 1;
  double timeout_s = 30;  // for the whole run, connects included
  // Framing mode (PROTOCOL.md --framing 1): each connection sends messages_per_conn framed
  // messages (FrameStream) instead of bytes_per_conn raw bytes. The echo of whole messages
  // is the same byte stream, headers included, so it is checked the same way.
  bool framed = false;
  size_t messages_per_conn = 0;
  uint32_t max_message = 0;
  // nullptr: plain connections; else each completes its TLS handshake before sending, and
  // ends with a close_notify.
  std::shared_ptr<const TlsConfig> tls;
};

struct EchoResult {
  size_t connections = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t sends = 0;       // send() calls that wrote something
  uint64_t messages = 0;    // framed messages sent (framing mode)
  uint32_t largest = 0;     // the largest message payload sent (framing mode)
  double connect_s = 0;     // time to establish every connection
  double elapsed_s = 0;     // connects included
};

// Raises HarnessError on the first wrong byte (naming connection and offset), PeerClosed if
// a connection ends before its echo is complete, HarnessTimeout when the deadline passes.
// The connections are closed (FIN) when the run returns or raises.
EchoResult echo_integrity(const EchoOptions& options);

}  // namespace tsh
