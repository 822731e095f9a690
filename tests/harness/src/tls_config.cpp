#include "tls_config.h"

#include <openssl/err.h>

#include "net.h"

namespace tsh {

std::string openssl_errors() {
  std::string text;
  char line[256];
  while (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, line, sizeof line);
    if (!text.empty()) text += "; ";
    text += line;
  }
  return text.empty() ? "no OpenSSL error queued" : text;
}

TlsConfig::TlsConfig(const std::string& ca_file, const std::string& server_name,
                     const std::string& max_version)
    : ctx_(SSL_CTX_new(TLS_client_method())), server_name_(server_name),
      verify_(!ca_file.empty()) {
  if (!ctx_) throw HarnessError("TlsConfig: SSL_CTX_new: " + openssl_errors());
  SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
  if (max_version == "1.2")
    SSL_CTX_set_max_proto_version(ctx_.get(), TLS1_2_VERSION);
  else if (max_version == "1.3")
    SSL_CTX_set_max_proto_version(ctx_.get(), TLS1_3_VERSION);
  else if (!max_version.empty())
    throw HarnessError("TlsConfig: max_version must be \"\", \"1.2\" or \"1.3\", not '" +
                       max_version + "'");
  // Writes of any size go out in parts as the socket takes them, and a retry after
  // WANT_WRITE may come from a buffer that moved (a std::string that grew).
  SSL_CTX_set_mode(ctx_.get(),
                   SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (verify_) {
    if (SSL_CTX_load_verify_locations(ctx_.get(), ca_file.c_str(), nullptr) != 1)
      throw HarnessError("TlsConfig: cannot load the CA file '" + ca_file +
                         "': " + openssl_errors());
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
  }
}

}  // namespace tsh
