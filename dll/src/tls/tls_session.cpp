// TlsSession: one server-side TLS connection over a custom BIO (see tls_session.h).
// One thread at a time (the engine's per-link lock); no locks, no threads here.
#include "tls/tls_session.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>

namespace ts {
namespace tls {
namespace {

// memory_estimate()'s model of what OpenSSL holds, measured with OpenSSL's allocation hooks in
// tests/tls (TlsMemoryTest, which fails if the estimate drops under the measured figure):
//   idle after a 4 KiB echo: 13.1 KiB (TLS 1.2, RSA) to 13.7 KiB (TLS 1.3, ECDSA), of which the
//   SSL object alone is 7.6 KiB; mid-handshake (flight sent, Finished awaited): 40-43 KiB;
//   a verified client certificate adds ~4.2 KiB for a 450-byte (DER) EC certificate.
constexpr size_t kSslIdleBytes = 14 * 1024;       // SSL + session + keys, established, idle
constexpr size_t kHandshakeBytes = 30 * 1024;     // transcript, key shares, handshake buffers
constexpr size_t kRecordBufferBytes = 18 * 1024;  // a read buffer holding a partial record
constexpr size_t kPeerCertificateBase = 3 * 1024;  // a client certificate kept: decoded X509,
constexpr size_t kPeerCertificatePerDerByte = 3;   // its key, extensions cache, chain

}  // namespace

const char* cause_name(TlsCause cause) {
  switch (cause) {
    case TlsCause::kNone: return "none";
    case TlsCause::kNotTls: return "not_tls";
    case TlsCause::kVersion: return "version";
    case TlsCause::kNoSharedCipher: return "no_shared_cipher";
    case TlsCause::kAlpn: return "alpn";
    case TlsCause::kClientCertificate: return "client_certificate";
    case TlsCause::kPeerAlert: return "peer_alert";
    case TlsCause::kBadRecord: return "bad_record";
    case TlsCause::kProtocol: return "protocol";
    case TlsCause::kNoMemory: return "no_memory";
    case TlsCause::kInternal: return "internal";
  }
  return "unknown";
}

// ---- the BIO: reads from the stash, then the caller's buffer; writes into out_ ----

BIO_METHOD* TlsSession::bio_method() {
  static std::once_flag once;
  static BIO_METHOD* method = nullptr;
  std::call_once(once, [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tcpserver tls");
    if (m && BIO_meth_set_read_ex(m, &TlsSession::bio_read) &&
        BIO_meth_set_write_ex(m, &TlsSession::bio_write) &&
        BIO_meth_set_ctrl(m, &TlsSession::bio_ctrl) &&
        BIO_meth_set_create(m, &TlsSession::bio_create)) {
      method = m;  // kept for the life of the process
    } else {
      BIO_meth_free(m);
    }
  });
  return method;
}

int TlsSession::bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

int TlsSession::bio_read(BIO* b, char* out, size_t n, size_t* done) {
  TlsSession* s = static_cast<TlsSession*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  size_t got = s->stash_.read(out, n);
  if (got < n && s->in_used_ < s->in_len_) {
    size_t take = std::min(n - got, s->in_len_ - s->in_used_);
    std::memcpy(out + got, s->in_ + s->in_used_, take);
    s->in_used_ += take;
    got += take;
  }
  if (got == 0) {
    BIO_set_retry_read(b);  // nothing now: OpenSSL reports SSL_ERROR_WANT_READ
    *done = 0;
    return 0;
  }
  *done = got;
  return 1;
}

int TlsSession::bio_write(BIO* b, const char* in, size_t n, size_t* done) {
  TlsSession* s = static_cast<TlsSession*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (!s->out_.append(in, n)) {
    s->write_failed_ = true;
    *done = 0;
    return 0;
  }
  *done = n;
  return 1;
}

long TlsSession::bio_ctrl(BIO* b, int cmd, long, void*) {
  TlsSession* s = static_cast<TlsSession*>(BIO_get_data(b));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING: {
      size_t n = s->stash_.size() + (s->in_len_ - s->in_used_);
      return n > LONG_MAX ? LONG_MAX : static_cast<long>(n);
    }
    case BIO_CTRL_WPENDING:
      return s->out_.size() > LONG_MAX ? LONG_MAX : static_cast<long>(s->out_.size());
    default:
      return 0;
  }
}

// ---- the session ----

std::unique_ptr<TlsSession> TlsSession::create(std::shared_ptr<const TlsContext> ctx,
                                               TlsError* err) {
  if (!ctx) {
    fail(err, TlsErrorKind::kConfig, "no TLS context");
    return nullptr;
  }
  std::unique_ptr<TlsSession> s(new (std::nothrow) TlsSession());
  BIO_METHOD* method = bio_method();
  if (!s || !method) {
    fail(err, TlsErrorKind::kNoMemory, "out of memory for a TLS session");
    return nullptr;
  }
  s->ctx_ = std::move(ctx);
  s->ssl_ = s->ctx_->new_ssl(&s->notes_);
  BIO* bio = s->ssl_ ? BIO_new(method) : nullptr;
  if (!bio) {
    ERR_clear_error();
    fail(err, TlsErrorKind::kNoMemory, "out of memory for a TLS session");
    return nullptr;  // ~TlsSession frees ssl_
  }
  BIO_set_data(bio, s.get());
  SSL_set_bio(s->ssl_, bio, bio);  // one reference, owned by the SSL
  return s;
}

TlsSession::~TlsSession() {
  if (ssl_) SSL_free(ssl_);
  ERR_clear_error();
}

bool TlsSession::feed(const void* data, size_t len) {
  if (len == 0) return true;
  return stash_.append(data, len);
}

TlsSession::Result TlsSession::receive(const void* in, size_t in_len, void* out, size_t out_cap) {
  Result r{Status::kNeedInput, 0, 0};
  if (failed()) {
    r.status = Status::kFailed;
    return r;
  }
  if (peer_closed_) {
    r.status = Status::kPeerClosed;
    return r;
  }
  ERR_clear_error();
  in_ = static_cast<const uint8_t*>(in);
  in_len_ = in ? in_len : 0;
  in_used_ = 0;
  if (!established_) {
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) {
      established_ = true;
      r.status = Status::kHandshakeDone;
    } else {
      int e = SSL_get_error(ssl_, rc);
      if (e == SSL_ERROR_WANT_READ && !write_failed_) {
        r.status = Status::kNeedInput;
      } else {
        fail_from_openssl(e);
        r.status = Status::kFailed;
      }
    }
  } else {
    uint8_t* o = static_cast<uint8_t*>(out);
    r.status = Status::kMore;
    while (r.produced < out_cap) {
      size_t n = 0;
      if (SSL_read_ex(ssl_, o + r.produced, out_cap - r.produced, &n) == 1) {
        r.produced += n;
        continue;
      }
      int e = SSL_get_error(ssl_, 0);
      if (e == SSL_ERROR_WANT_READ && !write_failed_) {
        r.status = Status::kNeedInput;
      } else if (e == SSL_ERROR_ZERO_RETURN) {
        peer_closed_ = true;
        r.status = Status::kPeerClosed;
      } else {
        fail_from_openssl(e);
        r.status = Status::kFailed;
      }
      break;
    }
  }
  r.consumed = in_used_;
  in_ = nullptr;
  in_len_ = 0;
  in_used_ = 0;
  ERR_clear_error();
  return r;
}

bool TlsSession::write(const void* data, size_t len) {
  if (!established_ || failed() || shutdown_sent_) return false;
  if (len == 0) return true;
  ERR_clear_error();
  size_t done = 0;
  int ok = SSL_write_ex(ssl_, data, len, &done);
  if (ok != 1 || done != len || write_failed_) {
    fail_from_openssl(SSL_get_error(ssl_, ok));
    return false;
  }
  return true;
}

void TlsSession::shutdown() {
  if (!established_ || failed() || shutdown_sent_) return;
  shutdown_sent_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // queues close_notify; 0 = the peer's is not in yet, which we never await
  ERR_clear_error();
}

bool TlsSession::resumed() const { return established_ && SSL_session_reused(ssl_) == 1; }

void TlsSession::fail_with(TlsCause cause, std::string text) {
  cause_ = cause;
  failure_ = std::move(text);
}

void TlsSession::fail_from_openssl(int ssl_error) {
  if (write_failed_) {
    ERR_clear_error();
    return fail_with(TlsCause::kNoMemory, "out of memory for TLS output");
  }
  if (ssl_error != SSL_ERROR_SSL) {
    std::string why = drain_errors();
    return fail_with(TlsCause::kInternal,
                     "unexpected TLS state " + std::to_string(ssl_error) +
                         (why.empty() ? std::string() : " (" + why + ")"));
  }
  unsigned long code = peek_error();
  std::string why = drain_errors();
  int reason = ERR_GET_REASON(code);
  bool ssl_lib = ERR_GET_LIB(code) == ERR_LIB_SSL;
  const std::string openssl = " (OpenSSL: " + why + ")";
  if (reason == ERR_R_MALLOC_FAILURE) return fail_with(TlsCause::kNoMemory, "out of memory in TLS");
  if (ssl_lib && reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
    int alert = reason - SSL_AD_REASON_OFFSET;
    std::string text = std::string("the peer sent a fatal alert: ") + SSL_alert_desc_string_long(alert);
    if (!established_ && (alert == SSL_AD_BAD_CERTIFICATE || alert == SSL_AD_UNKNOWN_CA ||
                          alert == SSL_AD_CERTIFICATE_UNKNOWN ||
                          alert == SSL_AD_UNSUPPORTED_CERTIFICATE ||
                          alert == SSL_AD_CERTIFICATE_EXPIRED))
      text += " (the client does not accept the server's certificate)";
    return fail_with(TlsCause::kPeerAlert, text);
  }
  if (established_) return fail_with(TlsCause::kBadRecord, "bad TLS record on an established link" + openssl);
  if (!notes_.hello_seen) {
    if (ssl_lib && (reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST))
      return fail_with(TlsCause::kNotTls,
                       "plain HTTP arrived on the TLS port: the client must use https://");
    return fail_with(TlsCause::kNotTls, "the client did not start with a TLS ClientHello" + openssl);
  }
  if (ssl_lib) {
    switch (reason) {
      case SSL_R_UNSUPPORTED_PROTOCOL:
      case SSL_R_UNSUPPORTED_SSL_VERSION:
      case SSL_R_VERSION_TOO_LOW:
      case SSL_R_NO_PROTOCOLS_AVAILABLE:
      case SSL_R_WRONG_SSL_VERSION:
        return fail_with(TlsCause::kVersion,
                         std::string("the client offers only TLS versions that are not enabled "
                                     "(the minimum is ") +
                             (ctx_->min_version() == kTls13 ? "TLS 1.3" : "TLS 1.2") +
                             "; TLS 1.0 and 1.1 are never enabled)" + openssl);
      case SSL_R_NO_SHARED_CIPHER:
      case SSL_R_NO_SHARED_GROUPS:
      case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
      case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
      case SSL_R_NO_SUITABLE_KEY_SHARE:
        return fail_with(TlsCause::kNoSharedCipher,
                         "no cipher suite, group or signature algorithm in common with the "
                         "client" + openssl);
      case SSL_R_NO_APPLICATION_PROTOCOL:
        return fail_with(TlsCause::kAlpn,
                         "the client's ALPN protocols have none in common with the server's "
                         "list (SetTlsAlpn)");
      case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return fail_with(TlsCause::kClientCertificate,
                         "the client sent no certificate, and one is required");
      case SSL_R_CERTIFICATE_VERIFY_FAILED:
        return fail_with(TlsCause::kClientCertificate,
                         std::string("the client certificate was not verified: ") +
                             X509_verify_cert_error_string(SSL_get_verify_result(ssl_)));
      default:
        break;
    }
  }
  fail_with(TlsCause::kProtocol, "TLS handshake failed" + openssl);
}

std::string TlsSession::info(TlsInfo what) const {
  const X509* peer = SSL_get0_peer_certificate(ssl_);
  switch (what) {
    case TlsInfo::kProtocol:
      return established_ ? SSL_get_version(ssl_) : "";
    case TlsInfo::kCipher: {
      const SSL_CIPHER* c = established_ ? SSL_get_current_cipher(ssl_) : nullptr;
      return c ? SSL_CIPHER_get_name(c) : "";
    }
    case TlsInfo::kServerName:
      return notes_.server_name;
    case TlsInfo::kAlpn: {
      const unsigned char* p = nullptr;
      unsigned int n = 0;
      SSL_get0_alpn_selected(ssl_, &p, &n);
      return p ? std::string(reinterpret_cast<const char*>(p), n) : "";
    }
    case TlsInfo::kClientSubject:
      return peer ? name_text(X509_get_subject_name(peer)) : "";
    case TlsInfo::kClientIssuer:
      return peer ? name_text(X509_get_issuer_name(peer)) : "";
    case TlsInfo::kVerifyResult: {
      if (!peer) return "none";
      long v = SSL_get_verify_result(ssl_);
      return v == X509_V_OK ? "ok" : X509_verify_cert_error_string(v);
    }
    case TlsInfo::kResumed:
      return resumed() ? "1" : "0";
    case TlsInfo::kClientFingerprint: {
      if (!peer) return "";
      unsigned char md[EVP_MAX_MD_SIZE];
      unsigned int n = 0;
      if (X509_digest(peer, EVP_sha256(), md, &n) != 1) {
        ERR_clear_error();
        return "";
      }
      std::string hex;
      char b[4];
      for (unsigned int i = 0; i < n; ++i) {
        std::snprintf(b, sizeof b, i ? ":%02X" : "%02X", md[i]);
        hex += b;
      }
      return hex;
    }
    case TlsInfo::kCertificatePattern:
      return notes_.matched_pattern;
  }
  return "";
}

size_t TlsSession::memory_estimate() const {
  size_t n = sizeof(TlsSession) + out_.allocated() + stash_.allocated() + kSslIdleBytes;
  if (!established_ && !failed()) n += kHandshakeBytes;
  if (SSL_has_pending(ssl_)) n += kRecordBufferBytes;
  if (const X509* peer = SSL_get0_peer_certificate(ssl_)) {
    int der = i2d_X509(peer, nullptr);
    n += kPeerCertificateBase + kPeerCertificatePerDerByte * static_cast<size_t>(der > 0 ? der : 0);
  }
  return n;
}

}  // namespace tls
}  // namespace ts
