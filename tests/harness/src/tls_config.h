// TlsConfig: how the harness's clients speak TLS (tsharness.TlsConfig) — one OpenSSL client
// context shared by every connection made with it: the CA file the server's certificate must
// chain to (none: not verified), the name sent as SNI and checked against the certificate, the
// highest version offered. Immutable once made, so any thread may use it.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace tsh {

class TlsConfig {
 public:
  // ca_file "" = the server's certificate is not verified; server_name "" = no SNI and no
  // name check; max_version "" (the highest OpenSSL has), "1.2" or "1.3".
  TlsConfig(const std::string& ca_file, const std::string& server_name,
            const std::string& max_version);

  SSL_CTX* context() const { return ctx_.get(); }
  const std::string& server_name() const { return server_name_; }
  bool verifies() const { return verify_; }

 private:
  struct FreeContext {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
  };
  std::unique_ptr<SSL_CTX, FreeContext> ctx_;
  std::string server_name_;
  bool verify_ = false;
};

// The OpenSSL error queue as text (emptied), for messages.
std::string openssl_errors();

}  // namespace tsh
