// The transport stage: what stands between a backend, which moves wire bytes, and the core,
// which deals in the application's bytes. One per link (Link::transport), created by the server
// when it accepts the connection and destroyed when the link is released. TLS is the one there
// is (core/tls_transport.*).
//
// nullptr is the plain pass-through: received bytes go straight to OnReceive and sends straight
// to the socket, the hot path paying one predictable branch (Server::received, the send path).
// A transport that changes the bytes implements this interface; backends do not change for it:
// they keep reading wire bytes into Server::received and writing what the core queues.
//
// How the core drives a transport (core/link_life.cpp, core/send_path.cpp):
//  - Every call is made with link.mu held, so sends from any thread and the owner's reads are
//    serialized; no application callback runs while it is held (application bytes are taken
//    out under the lock into the worker's buffer, then delivered without it).
//  - Received wire bytes: receive() until it has consumed them all; after each call its output
//    (a handshake flight, say) is sent and its application bytes delivered.
//  - Until established() the connection is not a link for the application (no OnConnect, not
//    enumerated, no broadcasts); kEstablished says when that changes.
//  - Application bytes to send: seal() them, then send take_output().
//  - Graceful close: shutdown() (TLS close_notify), then send take_output(); the link closes
//    once that is flushed. Nothing is awaited from the peer.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/send_queue.h"

namespace ts {

class Transport {
 public:
  enum class Status : uint8_t {
    kNeedInput,    // everything given was consumed: wait for the socket
    kMore,         // the application buffer is full: deliver it, call again with the rest
    kEstablished,  // the connection just became usable (once): call again with the rest
    kPeerClosed,   // the peer ended its stream cleanly
    kFailed,       // fatal; failure_cause() and failure_text() tell why
  };
  struct Result {
    Status status;
    size_t consumed;  // wire bytes taken from `in`
    size_t produced;  // application bytes written to `out`
  };

  virtual ~Transport() = default;

  // Wire bytes in (read only during the call; what is not consumed is passed again), the
  // application's bytes out into `out` (`cap` bytes at most).
  virtual Result receive(const uint8_t* in, size_t n, uint8_t* out, size_t cap) = 0;
  // The application's bytes, to go out after everything sealed before. False: the transport
  // cannot take them (not established, or out of memory: then it has failed).
  virtual bool seal(const uint8_t* data, size_t len) = 0;
  // Queue the transport's goodbye (graceful close), once.
  virtual void shutdown() = 0;
  // The wire bytes waiting to be sent, as a chain of items the core queues in order (nullptr
  // when there are none); the caller owns them. nullptr with pending output means out of memory.
  virtual SendItem* take_output() = 0;
  virtual bool has_output() const = 0;
  virtual bool established() const = 0;
  // After kFailed: a number for counters (TS_TLS_CAUSE_*) and a sentence for the log.
  virtual int32_t failure_cause() const = 0;
  virtual const char* failure_text() const = 0;
  // What the transport holds for the link now, in bytes (the memory budget counts it).
  virtual size_t memory_estimate() const = 0;
};

}  // namespace ts
