// ts::tls::TlsContext: an immutable snapshot of a server's TLS settings, ready for handshakes —
// one OpenSSL SSL_CTX for the default certificate and one per SNI certificate, all with the
// same protocol settings, client-CA store, ALPN list and session-ticket keys. Built by
// TlsConfig::build(); never changed afterwards, so any number of threads start handshakes from
// it at once. A TlsSession holds a shared_ptr to the context it started with, so a context
// lives as long as its last link, whatever reloads happen meanwhile.
//
// ts::tls::TlsContextSlot: where the engine keeps a server's current context. get() and set()
// are thread-safe (a mutex held for a pointer copy); a reload is set(new context).
//
// The OpenSSL callbacks (SNI, ALPN, session tickets, ClientHello) live here and read only the
// context and the handshaking session's HandshakeNotes, on the thread that drives that session.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tls/tls_config.h"
#include "tls/tls_error.h"
#include "tls/tls_openssl.h"
#include "tls/tls_ticket_keys.h"

namespace ts {
namespace tls {

// What the context's callbacks learn during one handshake, kept by its TlsSession (the SSL's
// app data points to it).
struct HandshakeNotes {
  bool hello_seen = false;     // a ClientHello was parsed (so the peer speaks TLS)
  std::string server_name;     // the SNI name the client sent ("" if none)
  std::string matched_pattern; // the SNI pattern whose certificate was used ("" = default)
};

class TlsContext {
 public:
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A server-side SSL in accept state for one link, bound to the default certificate (the SNI
  // callback may switch it); notes must outlive it. nullptr if out of memory.
  SSL* new_ssl(HandshakeNotes* notes) const;

  // Whether OpenSSL accepts these credentials under the layer's rules (security level 2:
  // no RSA key under 2048 bits, no MD5/SHA-1 signed chain); TlsConfig checks every certificate
  // when it is set, so a weak one is refused then and not at the next start.
  static bool check_credentials(const Credentials& creds, TlsError* err);
  // The SNI pattern that serves `host` ("" = the default certificate). For tests and logs.
  std::string pattern_for(const char* host) const;
  int min_version() const { return min_version_; }
  ClientCertMode client_cert_mode() const { return client_cert_; }

 private:
  friend class TlsConfig;
  TlsContext() = default;
  static std::shared_ptr<const TlsContext> build(const TlsConfig& config, TlsError* err);
  SslCtxPtr make_ctx(const TlsConfig& config, const Credentials& creds, X509_STORE* store,
                     STACK_OF(X509_NAME)* ca_names, TlsError* err) const;
  const SSL_CTX* find(const std::string& host, const std::string** pattern) const;

  static int on_client_hello(SSL* ssl, int* alert, void* arg);
  static int on_server_name(SSL* ssl, int* alert, void* arg);
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                     const unsigned char* in, unsigned int inlen, void* arg);
  static int on_ticket(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                       EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int enc);

  struct Entry {
    std::string pattern;
    SslCtxPtr ctx;
  };
  SslCtxPtr default_ctx_;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> exact_;     // host -> entries_ index
  std::unordered_map<std::string, size_t> wildcard_;  // "example.com" (of *.example.com) -> index
  std::vector<std::string> alpn_;                     // server preference order
  std::shared_ptr<const TicketKeys> ticket_keys_;
  int min_version_ = kTls12;
  ClientCertMode client_cert_ = ClientCertMode::kNone;
};

class TlsContextSlot {
 public:
  std::shared_ptr<const TlsContext> get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ctx_;
  }
  void set(std::shared_ptr<const TlsContext> ctx) {
    std::shared_ptr<const TlsContext> old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      old.swap(ctx_);
      ctx_ = std::move(ctx);
    }
    // `old` is released here, outside the lock (it may free SSL_CTXs).
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const TlsContext> ctx_;
};

}  // namespace tls
}  // namespace ts
