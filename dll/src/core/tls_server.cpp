// ServerTls (core/tls_server.h): one server's TLS settings, context and handshake bookkeeping,
// over the TLS layer (tls/*.h). Threads: see the header. Built without OpenSSL
// (TCPSERVER_HAS_TLS undefined), each call says TLS is unavailable.
#include "core/tls_server.h"

#include <algorithm>
#include <cstring>

#include "core/errors.h"
#include "core/link.h"
#include "core/log.h"
#include "tcpserver.h"

#if defined(TCPSERVER_HAS_TLS)
#include "core/tls_transport.h"
#include "tls/tls.h"
#endif

namespace ts {

#if defined(TCPSERVER_HAS_TLS)

struct ServerTls::Impl {
  tls::TlsConfig config;       // what the SetTls* calls set
  tls::TlsContextSlot slot;    // what new handshakes use while the server runs with TLS
  Options started;             // the options of the running server (start-time settings)
};

namespace {
bool fail_tls(const tls::TlsError& err) {
  int32_t code = TS_ERR_TLS_CONFIG;
  switch (err.kind) {
    case tls::TlsErrorKind::kCertificate: code = TS_ERR_TLS_CERTIFICATE; break;
    case tls::TlsErrorKind::kNoMemory: code = TS_ERR_OUT_OF_MEMORY; break;
    case tls::TlsErrorKind::kUnavailable: code = TS_ERR_TLS_UNAVAILABLE; break;
    default: break;
  }
  return fail(code, "%s", err.text.c_str());
}

// The options that take effect at start, applied to a copy of the settings.
bool apply_options(tls::TlsConfig& config, const Options& o, tls::TlsError* err) {
  config.set_session_tickets(o[TS_OPT_TLS_SESSION_TICKETS] != 0);
  return config.set_min_version(static_cast<int>(o[TS_OPT_TLS_MIN_VERSION]), err) &&
         config.set_client_cert_mode(static_cast<int>(o[TS_OPT_TLS_CLIENT_CERT]), err);
}
}  // namespace

ServerTls::ServerTls() : impl_(new Impl) {}
ServerTls::~ServerTls() = default;

// A change to a copy of the settings; with TLS running the new context is built first, and
// only a change that builds is kept (a refused call changes nothing).
template <typename Fn>
bool ServerTls::change(Fn&& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  tls::TlsConfig next = impl_->config;
  tls::TlsError err;
  if (!fn(next, &err)) return fail_tls(err);
  std::shared_ptr<const tls::TlsContext> ctx;
  if (active_.load(std::memory_order_relaxed)) {
    tls::TlsConfig running = next;
    if (!apply_options(running, impl_->started, &err) || !(ctx = running.build(&err)))
      return fail_tls(err);
  }
  impl_->config = next;
  if (ctx) impl_->slot.set(std::move(ctx));
  return true;
}

bool ServerTls::set_certificate_file(const char* cert, const char* key, const char* password) {
  if (!cert || !*cert)
    return fail(TS_ERR_INVALID_ARGUMENT, "SetTlsCertificateFile: no certificate file name");
  return change([&](tls::TlsConfig& c, tls::TlsError* e) {
    return c.set_certificate_file(cert, key, password, e);
  });
}

bool ServerTls::set_certificate(const uint8_t* cert, int32_t cert_len, const uint8_t* key,
                                int32_t key_len, const char* password) {
  if (!cert || cert_len <= 0 || key_len < 0 || (key_len > 0 && !key))
    return fail(TS_ERR_INVALID_ARGUMENT,
                "SetTlsCertificate: the certificate data is missing or a length is negative");
  return change([&](tls::TlsConfig& c, tls::TlsError* e) {
    return c.set_certificate(cert, static_cast<size_t>(cert_len), key,
                             static_cast<size_t>(key_len), password, e);
  });
}

bool ServerTls::add_server_name(const char* pattern, const uint8_t* cert, int32_t cert_len,
                                const uint8_t* key, int32_t key_len, const char* password) {
  if (!pattern || !*pattern || cert_len < 0 || key_len < 0 || (cert_len > 0 && !cert) ||
      (key_len > 0 && !key))
    return fail(TS_ERR_INVALID_ARGUMENT,
                "AddTlsServerName: the host pattern is empty, or a length is negative");
  return change([&](tls::TlsConfig& c, tls::TlsError* e) {
    return c.add_server_name(pattern, cert, static_cast<size_t>(cert_len), key,
                             static_cast<size_t>(key_len), password, e);
  });
}

bool ServerTls::set_alpn(const char* list) {
  return change([&](tls::TlsConfig& c, tls::TlsError* e) { return c.set_alpn(list, e); });
}

bool ServerTls::set_client_ca(const uint8_t* data, int32_t len) {
  if (len < 0 || (len > 0 && !data))
    return fail(TS_ERR_INVALID_ARGUMENT, "SetTlsClientCA: the length %d is negative", len);
  return change([&](tls::TlsConfig& c, tls::TlsError* e) {
    return c.set_client_ca(data, static_cast<size_t>(len), e);
  });
}

bool ServerTls::set_ciphers(const char* tls12, const char* tls13) {
  return change([&](tls::TlsConfig& c, tls::TlsError* e) { return c.set_ciphers(tls12, tls13, e); });
}

bool ServerTls::set_ticket_keys(const uint8_t* keys, int32_t len) {
  if (len < 0 || (len > 0 && !keys))
    return fail(TS_ERR_INVALID_ARGUMENT, "SetTlsTicketKeys: the length %d is negative", len);
  return change([&](tls::TlsConfig& c, tls::TlsError* e) {
    return c.set_ticket_keys(keys, static_cast<size_t>(len), e);
  });
}

bool ServerTls::start(const Options& opts) {
  std::lock_guard<std::mutex> lock(mu_);
  tls::TlsConfig running = impl_->config;
  tls::TlsError err;
  std::shared_ptr<const tls::TlsContext> ctx;
  if (!apply_options(running, opts, &err) || !(ctx = running.build(&err))) return fail_tls(err);
  impl_->started = opts;
  impl_->slot.set(std::move(ctx));
  active_.store(true, std::memory_order_release);
  return true;
}

void ServerTls::stop() {
  std::lock_guard<std::mutex> lock(mu_);
  active_.store(false, std::memory_order_release);
  impl_->slot.set(nullptr);
  std::lock_guard<std::mutex> qlock(queue_mu_);
  handshakes_.clear();
}

Transport* ServerTls::new_transport() {
  tls::TlsError err;
  std::shared_ptr<const tls::TlsContext> ctx = impl_->slot.get();
  if (!ctx) return nullptr;
  std::unique_ptr<tls::TlsSession> session = tls::TlsSession::create(std::move(ctx), &err);
  if (!session) {
    log(TS_LOG_ERROR, "cannot start a TLS session: %s", err.text.c_str());
    return nullptr;
  }
  return new (std::nothrow) TlsTransport(std::move(session));
}

#else  // no TLS in this build

struct ServerTls::Impl {};
namespace {
bool unavailable(const char* what) {
  return fail(TS_ERR_TLS_UNAVAILABLE,
              "%s: this build of tcpserver has no TLS (it was built without OpenSSL 3)", what);
}
}  // namespace
ServerTls::ServerTls() = default;
ServerTls::~ServerTls() = default;
bool ServerTls::set_certificate_file(const char*, const char*, const char*) {
  return unavailable("SetTlsCertificateFile");
}
bool ServerTls::set_certificate(const uint8_t*, int32_t, const uint8_t*, int32_t, const char*) {
  return unavailable("SetTlsCertificate");
}
bool ServerTls::add_server_name(const char*, const uint8_t*, int32_t, const uint8_t*, int32_t,
                                const char*) {
  return unavailable("AddTlsServerName");
}
bool ServerTls::set_alpn(const char*) { return unavailable("SetTlsAlpn"); }
bool ServerTls::set_client_ca(const uint8_t*, int32_t) { return unavailable("SetTlsClientCA"); }
bool ServerTls::set_ciphers(const char*, const char*) { return unavailable("SetTlsCiphers"); }
bool ServerTls::set_ticket_keys(const uint8_t*, int32_t) { return unavailable("SetTlsTicketKeys"); }
bool ServerTls::start(const Options&) { return unavailable("StartTcpServer with TS_OPT_TLS=1"); }
void ServerTls::stop() {}
Transport* ServerTls::new_transport() { return nullptr; }

#endif

std::pair<Link*, uint64_t> ServerTls::begin_handshake(Link& link, uint64_t id, uint32_t cap,
                                                      std::atomic<int64_t>& in_progress,
                                                      uint64_t now_ms) {
  std::lock_guard<std::mutex> lock(queue_mu_);
  // A counted handshake has its deadline set, and it is cleared (under this lock) when it ends:
  // an entry without one, or of a link that is another connection by now, is stale.
  auto counted = [](const std::pair<Link*, uint64_t>& e) {
    return e.first->id.load(std::memory_order_acquire) == e.second &&
           e.first->handshake_started_ms.load(std::memory_order_acquire) != 0;
  };
  while (!handshakes_.empty() && !counted(handshakes_.front())) handshakes_.pop_front();
  if (handshakes_.size() > 64 && handshakes_.size() / 2 > static_cast<size_t>(in_progress.load()))
    handshakes_.erase(std::remove_if(handshakes_.begin(), handshakes_.end(),
                                     [&](const std::pair<Link*, uint64_t>& e) { return !counted(e); }),
                      handshakes_.end());
  std::pair<Link*, uint64_t> victim{nullptr, 0};
  while (in_progress.load(std::memory_order_relaxed) >= static_cast<int64_t>(cap) &&
         !handshakes_.empty()) {
    auto oldest = handshakes_.front();
    handshakes_.pop_front();
    if (counted(oldest)) {
      oldest.first->handshake_started_ms.store(0, std::memory_order_release);
      in_progress.fetch_sub(1, std::memory_order_relaxed);
      victim = oldest;
      break;
    }
  }
  link.handshake_started_ms.store(now_ms ? now_ms : 1, std::memory_order_release);
  in_progress.fetch_add(1, std::memory_order_relaxed);
  handshakes_.emplace_back(&link, id);
  return victim;
}

bool ServerTls::end_handshake(Link& link, std::atomic<int64_t>& in_progress) {
  std::lock_guard<std::mutex> lock(queue_mu_);
  if (link.handshake_started_ms.exchange(0, std::memory_order_acq_rel) == 0) return false;
  in_progress.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

void ServerTls::count_failure(int32_t cause) {
  if (cause > 0 && cause < kTlsCauseCount) failures_[cause].fetch_add(1, std::memory_order_relaxed);
}

int64_t ServerTls::failures(int32_t cause) const {
  if (cause < 1 || cause >= kTlsCauseCount)
    return fail(TS_ERR_INVALID_ARGUMENT, "unknown TLS failure cause %d (TS_TLS_CAUSE_*: 1..%d)",
                cause, kTlsCauseCount - 1), -1;
  return failures_[cause].load(std::memory_order_relaxed);
}

}  // namespace ts
