// ts::tls::TlsSession: the server side of one TLS connection, as a pure state machine over
// bytes — ciphertext in, plaintext out, plaintext in, ciphertext out. No socket, no engine type,
// no thread, no lock of its own: the engine calls it under the link's lock and never runs a
// user callback while holding that lock (tls.h says exactly how).
//
// OpenSSL sits behind a custom BIO instead of memory BIOs:
//   - receive() lets OpenSSL read straight from the caller's buffer (the worker's receive
//     buffer) into its record buffer: no intermediate copy; what a call does not consume stays
//     with the caller. feed() is the copying alternative for ciphertext the caller cannot keep.
//   - ciphertext to send goes into a ByteQueue of chunks, freed as they are consumed; chunk
//     bytes never move, so a backend may send straight from them (an in-flight WSASend too).
//   - with SSL_MODE_RELEASE_BUFFERS OpenSSL drops its record buffers when they empty, so an idle
//     session holds only the SSL object and its keys (memory_estimate() tells how much).
//
// Failure causes are told apart for counters and logs (TlsCause): garbage instead of TLS,
// unsupported version, no shared cipher, ALPN mismatch, client certificate refused, a fatal
// alert from the peer, a bad record after the handshake ...
//
// Not thread-safe: one thread at a time (the engine's per-link lock). The TlsContext it was
// made from may be used by other sessions on other threads at the same time.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tls/tls_byte_queue.h"
#include "tls/tls_context.h"
#include "tls/tls_openssl.h"

namespace ts {
namespace tls {

// Why a session failed. Stable numbers (the engine may expose them, e.g. per-cause counters).
enum class TlsCause : int {
  kNone = 0,
  kNotTls = 1,             // the first bytes were not a TLS ClientHello (garbage, plain HTTP ...)
  kVersion = 2,            // the client offers only versions we do not enable (TLS 1.0/1.1, SSL)
  kNoSharedCipher = 3,     // no common cipher suite, group or signature algorithm
  kAlpn = 4,               // ALPN offered but nothing in common with the server's list
  kClientCertificate = 5,  // client certificate missing (require) or not verified
  kPeerAlert = 6,          // the peer sent a fatal alert (e.g. it rejected our certificate)
  kBadRecord = 7,          // after the handshake: a record that does not decrypt/parse
  kProtocol = 8,           // any other protocol violation during the handshake
  kNoMemory = 9,
  kInternal = 10,
};
// A short stable token for logs and counters: "not_tls", "version", "no_shared_cipher", ...
const char* cause_name(TlsCause cause);

// What info() can report, as text.
enum class TlsInfo : int {
  kProtocol = 0,           // "TLSv1.3", "TLSv1.2"
  kCipher = 1,             // OpenSSL's name: "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"
  kServerName = 2,         // the SNI name the client sent, "" if none
  kAlpn = 3,               // the protocol chosen, "" if none
  kClientSubject = 4,      // the client certificate's subject (RFC 2253, UTF-8), "" if none
  kClientIssuer = 5,       // its issuer, "" if none
  kVerifyResult = 6,       // "ok", "none" (no client certificate), or why it failed
  kResumed = 7,            // "1" if the session was resumed from a ticket, else "0"
  kClientFingerprint = 8,  // SHA-256 of the client certificate, "AB:CD:..."; "" if none
  kCertificatePattern = 9, // the SNI pattern whose certificate was used, "" = the default one
};
constexpr int kTlsInfoCount = 10;

class TlsSession {
 public:
  enum class Status {
    kNeedInput,      // everything given was consumed; nothing more until more ciphertext
    kMore,           // `out` is full: deliver it, then call again (with the rest of the input)
    kHandshakeDone,  // the handshake just completed (reported once): call again with the rest
    kPeerClosed,     // the peer sent close_notify: a clean end of its stream
    kFailed,         // fatal (cause(), failure_text()); pending output may hold an alert
  };
  struct Result {
    Status status;
    size_t consumed;  // ciphertext bytes taken from `in`
    size_t produced;  // plaintext bytes written to `out`
  };

  // A session for one accepted connection; nullptr (with *err) if out of memory.
  static std::unique_ptr<TlsSession> create(std::shared_ptr<const TlsContext> ctx, TlsError* err);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Decrypts: ciphertext from `in` (after anything feed() stored), plaintext into `out`
  // (out_cap > 0; 16 KiB holds a whole record). Drives the handshake until it completes.
  // `in` is read only during the call; bytes not consumed (Result::consumed < in_len) are still
  // the caller's to pass again. Afterwards pending_output() may have grown (handshake
  // messages, alerts, tickets, key-update replies): send it.
  Result receive(const void* in, size_t in_len, void* out, size_t out_cap);
  // Stores a copy of ciphertext for later receive() calls (when the caller cannot keep it).
  bool feed(const void* data, size_t len);
  size_t buffered_input() const { return stash_.size(); }

  // Encrypts plaintext into the pending output. Only once established, before shutdown();
  // false otherwise or if out of memory (then the session has failed: kNoMemory).
  bool write(const void* data, size_t len);

  // Ciphertext waiting to be sent, in order. The bytes stay put until consumed.
  size_t pending_output() const { return out_.size(); }
  ByteSpan output_front() const { return out_.front(); }
  size_t output_pieces(ByteSpan* pieces, size_t max) const { return out_.pieces(pieces, max); }
  void consume_output(size_t n) { out_.consume(n); }

  // Queues close_notify (once; only when established and not failed). Never waits for the
  // peer's: send the pending output, then close the socket.
  void shutdown();

  bool handshake_done() const { return established_; }
  bool failed() const { return cause_ != TlsCause::kNone; }
  bool peer_closed() const { return peer_closed_; }
  bool resumed() const;
  TlsCause cause() const { return cause_; }
  // A sentence for logs: what failed and, where it helps, what to do ("" while not failed).
  const std::string& failure_text() const { return failure_; }

  std::string info(TlsInfo what) const;

  // Bytes this session holds now, for a memory budget: an upper estimate of OpenSSL's state
  // plus the exact sizes of the queues. Small when idle; larger during the handshake and while
  // a partial record or unsent output waits.
  size_t memory_estimate() const;

 private:
  TlsSession() = default;
  static BIO_METHOD* bio_method();
  static int bio_read(BIO* b, char* out, size_t n, size_t* done);
  static int bio_write(BIO* b, const char* in, size_t n, size_t* done);
  static long bio_ctrl(BIO* b, int cmd, long num, void* ptr);
  static int bio_create(BIO* b);

  void fail_from_openssl(int ssl_error);
  void fail_with(TlsCause cause, std::string text);

  std::shared_ptr<const TlsContext> ctx_;
  SSL* ssl_ = nullptr;  // owns the BIO
  HandshakeNotes notes_;
  ByteQueue out_;    // ciphertext to send
  ByteQueue stash_;  // ciphertext fed in, not yet consumed
  const uint8_t* in_ = nullptr;  // the caller's ciphertext during receive()
  size_t in_len_ = 0;
  size_t in_used_ = 0;
  bool write_failed_ = false;  // a BIO write could not allocate
  bool established_ = false;
  bool peer_closed_ = false;
  bool shutdown_sent_ = false;
  TlsCause cause_ = TlsCause::kNone;
  std::string failure_;
};

}  // namespace tls
}  // namespace ts
