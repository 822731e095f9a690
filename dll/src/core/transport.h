// The transport stage: what stands between a backend, which moves wire bytes, and the core,
// which deals in the application's bytes. One per link (Link::transport), created by the
// server before the link opens and destroyed when it is released.
//
// nullptr is the plain pass-through: received bytes go straight to OnReceive and sends straight
// to the socket, the hot path paying one predictable branch (Server::received, the send path).
// A transport that changes the bytes (TLS) implements this interface; no backend changes for it:
// backends keep reading wire bytes into Server::received and writing what the core queues.
//
// How the core drives a transport (core/link_life.cpp, core/send_path.cpp):
//  - Every call is made with link.mu held, so sends from any thread and the owner's reads are
//    serialized; no application callback runs while it is held (plaintext is taken out under
//    the lock, then delivered without it).
//  - Received wire bytes: put_input(), then take_output() (a handshake answer, say) is sent,
//    then read_plain() is called until it returns 0, each piece delivered to OnReceive.
//  - Application bytes to send: seal() them, then send take_output().
//  - Graceful close: shutdown() (e.g. close_notify), then send take_output(); the link closes
//    once that is flushed. Nothing is awaited from the peer.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/send_queue.h"

namespace ts {

class Transport {
 public:
  virtual ~Transport() = default;

  // Wire bytes read from the socket, all taken. Returns TS_CLOSE_NONE or the reason to close
  // the link with (a protocol error from the peer).
  virtual int32_t put_input(const uint8_t* data, size_t len) = 0;
  // Up to `cap` bytes of the application's data into `buf`: their count, 0 when no more is ready
  // now, or -1 when the peer ended the stream cleanly (then TS_CLOSE_PEER_CLOSED), or -2 with
  // *reason set to why the link must close.
  virtual long read_plain(uint8_t* buf, size_t cap, int32_t* reason) = 0;
  // The application's bytes, to go out after everything sealed before. False: out of memory
  // (the link is then closed).
  virtual bool seal(const uint8_t* data, size_t len) = 0;
  // Queue the transport's goodbye (graceful close).
  virtual void shutdown() = 0;
  // The wire bytes waiting to be sent, as a chain of items the core queues in order (nullptr
  // when there are none). The caller owns them.
  virtual SendItem* take_output() = 0;
  // Whether the transport lets application data through yet (a TLS handshake finished).
  virtual bool established() const = 0;
  // What the transport holds for the link, in bytes (the memory budget counts it).
  virtual size_t memory_estimate() const = 0;
};

}  // namespace ts
