// ServerTls: one server's TLS. The settings the SetTls* calls change (applied to new handshakes
// at once when the server runs with TLS), the context new handshakes use, the transports made
// for accepted connections, per-cause failure counts, and the queue of handshakes in progress
// behind TS_OPT_TLS_MAX_HANDSHAKES. Owned by its Server, made on first use. Settings calls:
// any application thread (its own mutex); new_transport / begin_handshake: accepting workers;
// end_handshake: the link's owner.
// In a build without OpenSSL every call fails with TS_ERR_TLS_UNAVAILABLE.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "core/options.h"
#include "core/transport.h"

namespace ts {

struct Link;
constexpr int kTlsCauseCount = 12;  // TS_TLS_CAUSE_* are below this

class ServerTls {
 public:
  ServerTls();
  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  // The SetTls* calls (error set on failure; a refused call changes nothing).
  bool set_certificate_file(const char* cert, const char* key, const char* password);
  bool set_certificate(const uint8_t* cert, int32_t cert_len, const uint8_t* key, int32_t key_len,
                       const char* password);
  bool add_server_name(const char* pattern, const uint8_t* cert, int32_t cert_len,
                       const uint8_t* key, int32_t key_len, const char* password);
  bool set_alpn(const char* list);
  bool set_client_ca(const uint8_t* data, int32_t len);
  bool set_ciphers(const char* tls12, const char* tls13);
  bool set_ticket_keys(const uint8_t* keys, int32_t len);

  // StartTcpServer with TS_OPT_TLS = 1: builds the context from the settings and the options
  // (error set, e.g. no certificate, on failure). stop() forgets it: new_transport() is then off.
  bool start(const Options& opts);
  void stop();
  bool active() const { return active_.load(std::memory_order_acquire); }

  // A transport for an accepted connection; nullptr (logged) if out of memory.
  Transport* new_transport();

  // The handshakes in progress and their cap, counted in `in_progress` (the server's
  // TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS), which changes only here, under one lock, so it
  // never exceeds the cap, not even for a moment.
  // A connection begins its handshake (its accepting worker, after it went kHandshaking): its
  // deadline starts at `now_ms` (Link::handshake_started_ms) and it is counted. At `cap`, the
  // oldest connection still in its handshake is taken out of the count first and returned with
  // its id, to be closed (the caller counts it as dropped); {nullptr, 0} otherwise.
  std::pair<Link*, uint64_t> begin_handshake(Link& link, uint64_t id, uint32_t cap,
                                             std::atomic<int64_t>& in_progress, uint64_t now_ms);
  // The handshake of `link` ended: completed, failed, timed out, or the connection closed (any
  // thread). True for the one caller that takes it out of the count, which then counts how it
  // ended; false when it was no longer counted (already ended, or dropped at the cap).
  bool end_handshake(Link& link, std::atomic<int64_t>& in_progress);

  void count_failure(int32_t cause);
  int64_t failures(int32_t cause) const;  // -1 (error set) for an unknown cause

 private:
  struct Impl;  // the TLS layer's objects (tls/*.h), kept out of this header
  template <typename Fn> bool change(Fn&& fn);
  std::mutex mu_;  // settings; start/stop
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> active_{false};
  std::atomic<int64_t> failures_[kTlsCauseCount] = {};
  std::mutex queue_mu_;
  // In order of arrival; entries of handshakes that ended stay until they reach the front, or
  // until they are most of the queue.
  std::deque<std::pair<Link*, uint64_t>> handshakes_;
};

}  // namespace ts
