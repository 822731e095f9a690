// ts::tls::TlsConfig: a server's TLS settings as the user set them — certificate, SNI
// certificates, ALPN list, client CA and client-certificate mode, minimum version, cipher
// lists, session tickets and their keys. Every setter checks its input at once and fails with
// a TlsError saying what is wrong (wrong password, key does not match the certificate, unknown
// cipher, bad host pattern ...), leaving the previous setting in place.
//
// build() turns the settings into an immutable TlsContext (OpenSSL SSL_CTXs) that handshakes
// use; the engine stores it in a TlsContextSlot. On a running server the engine calls a setter,
// then build(), then slot.set(): new handshakes take the new context, links already open keep
// the one they started with (each TlsSession holds a shared_ptr to it).
//
// Safe defaults: TLS 1.2 minimum (1.3 preferred; 1.0 and 1.1 are never enabled), forward-secret
// AEAD suites only, no compression, no renegotiation, OpenSSL security level 2 (RSA >= 2048 bits),
// stateless session tickets on with a random key kept across rebuilds.
//
// Threads: not thread-safe. The engine owns one per server and serializes setters and build()
// under its own settings lock; the TlsContexts built are shared read-only by every thread.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "tls/tls_credentials.h"
#include "tls/tls_error.h"
#include "tls/tls_ticket_keys.h"

namespace ts {
namespace tls {

class TlsContext;

enum class ClientCertMode : int {
  kNone = 0,     // no client certificate asked for
  kRequest = 1,  // asked for; a client may send none; one that is sent must verify
  kRequire = 2,  // a client without a certificate that verifies fails the handshake
};

// Versions as the API spells them (TS_OPT_TLS_MIN_VERSION): 12 = TLS 1.2, 13 = TLS 1.3.
constexpr int kTls12 = 12;
constexpr int kTls13 = 13;

// Defaults (used when the user sets nothing, or sets a list to NULL/"").
extern const char* const kDefaultTls12Ciphers;
extern const char* const kDefaultTls13Suites;
// The TLS 1.2 list OpenSSL gets: the user's (or the default) plus what is never enabled.
std::string tls12_cipher_list(const std::string& user);

class TlsConfig {
 public:
  TlsConfig();
  TlsConfig(const TlsConfig&) = default;  // cheap: loaded objects are shared, never copied
  TlsConfig& operator=(const TlsConfig&) = default;

  // The server's certificate (the one used when no SNI name matches). See tls_credentials.h for
  // the formats; key null/0 when the key is inside cert (PEM with both, PFX).
  bool set_certificate(const void* cert, size_t cert_len, const void* key, size_t key_len,
                       const char* password, TlsError* err);
  bool set_certificate_file(const char* cert_file, const char* key_file, const char* password,
                            TlsError* err);
  // An SNI certificate for a host name or a wildcard pattern "*.example.com" (matches exactly one
  // label: a.example.com, not example.com nor a.b.example.com). Case-insensitive; an exact name
  // wins over a wildcard. The same pattern again replaces its certificate; cert null removes it.
  bool add_server_name(const char* pattern, const void* cert, size_t cert_len, const void* key,
                       size_t key_len, const char* password, TlsError* err);
  // ALPN protocols in the server's order of preference, comma-separated ("h2,http/1.1");
  // null/"" turns ALPN off. A client offering ALPN with nothing in common is refused
  // (no_application_protocol alert, RFC 7301); a client offering none is served.
  bool set_alpn(const char* list, TlsError* err);
  // CA certificates that client certificates must chain to (PEM bundle, DER, PKCS#12 without a
  // password); null/0 removes them.
  bool set_client_ca(const void* data, size_t len, TlsError* err);
  bool set_client_cert_mode(int mode, TlsError* err);  // ClientCertMode values
  // OpenSSL cipher lists: tls12 for TLS 1.2 ("ECDHE-ECDSA-AES128-GCM-SHA256:..."), tls13 the
  // TLS 1.3 suites ("TLS_AES_128_GCM_SHA256:..."). null/"" = default. Whatever is given, no
  // NULL, export, RC4, 3DES, anonymous or non-forward-secret suite is ever enabled; a list that
  // leaves nothing is an error.
  bool set_ciphers(const char* tls12, const char* tls13, TlsError* err);
  // Session-ticket keys (see tls_ticket_keys.h); null/0 = a new random key.
  bool set_ticket_keys(const void* keys, size_t len, TlsError* err);
  bool set_min_version(int version, TlsError* err);  // kTls12 or kTls13
  void set_session_tickets(bool on) { session_tickets_ = on; }

  bool has_certificate() const { return default_ != nullptr; }
  int min_version() const { return min_version_; }
  ClientCertMode client_cert_mode() const { return client_cert_; }
  size_t server_name_count() const { return names_.size(); }

  // An immutable context from the current settings; nullptr with *err when they cannot make
  // one (no certificate; client certificates asked for without a client CA).
  std::shared_ptr<const TlsContext> build(TlsError* err) const;

 private:
  friend class TlsContext;
  struct Named {
    std::string pattern;  // lower case, no trailing dot; "*.example.com" for wildcards
    CredentialsPtr creds;
  };
  using CaList = std::vector<std::shared_ptr<X509>>;

  CredentialsPtr default_;
  std::vector<Named> names_;
  std::vector<std::string> alpn_;  // protocols, preference order
  std::shared_ptr<const CaList> client_ca_;
  ClientCertMode client_cert_ = ClientCertMode::kNone;
  std::string tls12_ciphers_;  // "" = default
  std::string tls13_suites_;   // "" = default
  std::shared_ptr<const TicketKeys> ticket_keys_;
  TlsError ticket_error_;  // why ticket_keys_ is null (the random generator failed)
  int min_version_ = kTls12;
  bool session_tickets_ = true;
};

}  // namespace tls
}  // namespace ts
