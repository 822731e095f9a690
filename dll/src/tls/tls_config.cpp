// TlsConfig: validated TLS settings of one server (see tls_config.h). Called under the engine's
// settings lock; build() produces the immutable TlsContext.
#include "tls/tls_config.h"

#include <cctype>

#include "tls/tls_context.h"

namespace ts {
namespace tls {

const char* const kDefaultTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
const char* const kDefaultTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

namespace {

// Appended to every TLS 1.2 list, the user's too: what is never enabled.
const char kNeverTls12[] =
    ":!aNULL:!eNULL:!NULL:!EXPORT:!LOW:!RC4:!3DES:!DES:!MD5:!kRSA:!PSK:!SRP:!aDSS:!SEED:!IDEA:"
    "!RC2";

bool valid_label_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

// Lower-cases and checks a host name or "*.domain" pattern; "" if it is not one.
std::string normalize_pattern(const char* in) {
  if (!in) return std::string();
  std::string p(in);
  if (!p.empty() && p.back() == '.') p.pop_back();
  if (p.empty() || p.size() > 253) return std::string();
  for (char& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t start = 0;
  if (p.compare(0, 2, "*.") == 0) start = 2;
  if (start == p.size()) return std::string();
  size_t label = 0;
  for (size_t i = start; i < p.size(); ++i) {
    char c = p[i];
    if (c == '.') {
      if (label == 0) return std::string();
      label = 0;
    } else if (valid_label_char(c) && ++label <= 63) {
    } else {
      return std::string();
    }
  }
  return label == 0 ? std::string() : p;
}

}  // namespace

TlsConfig::TlsConfig() { ticket_keys_ = TicketKeys::random(&ticket_error_); }

bool TlsConfig::set_certificate(const void* cert, size_t cert_len, const void* key,
                                size_t key_len, const char* password, TlsError* err) {
  CredentialsPtr c;
  if (!load_credentials(cert, cert_len, key, key_len, password, &c, err) ||
      !TlsContext::check_credentials(*c, err))
    return false;
  default_ = std::move(c);
  return true;
}

bool TlsConfig::set_certificate_file(const char* cert_file, const char* key_file,
                                     const char* password, TlsError* err) {
  CredentialsPtr c;
  if (!load_credentials_files(cert_file, key_file, password, &c, err) ||
      !TlsContext::check_credentials(*c, err))
    return false;
  default_ = std::move(c);
  return true;
}

bool TlsConfig::add_server_name(const char* pattern, const void* cert, size_t cert_len,
                                const void* key, size_t key_len, const char* password,
                                TlsError* err) {
  std::string p = normalize_pattern(pattern);
  if (p.empty())
    return fail(err, TlsErrorKind::kConfig,
                std::string("'") + (pattern ? pattern : "(null)") +
                    "' is not a host name or a wildcard pattern like *.example.com");
  size_t at = names_.size();
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i].pattern == p) at = i;
  if (!cert) {  // removal
    if (at == names_.size())
      return fail(err, TlsErrorKind::kConfig, "no certificate is set for the server name '" + p + "'");
    names_.erase(names_.begin() + static_cast<std::ptrdiff_t>(at));
    return true;
  }
  CredentialsPtr c;
  if (!load_credentials(cert, cert_len, key, key_len, password, &c, err) ||
      !TlsContext::check_credentials(*c, err))
    return false;
  if (at == names_.size())
    names_.push_back(Named{p, std::move(c)});
  else
    names_[at].creds = std::move(c);
  return true;
}

bool TlsConfig::set_alpn(const char* list, TlsError* err) {
  std::vector<std::string> protos;
  size_t wire = 0;
  if (list) {
    std::string s(list);
    size_t pos = 0;
    while (pos <= s.size()) {
      size_t comma = s.find(',', pos);
      if (comma == std::string::npos) comma = s.size();
      std::string one = s.substr(pos, comma - pos);
      while (!one.empty() && one.front() == ' ') one.erase(0, 1);
      while (!one.empty() && one.back() == ' ') one.pop_back();
      if (one.empty() && !s.empty())
        return fail(err, TlsErrorKind::kConfig,
                    "the ALPN list '" + s + "' has an empty entry: give names separated by commas, "
                    "like h2,http/1.1");
      if (one.size() > 255)
        return fail(err, TlsErrorKind::kConfig, "an ALPN protocol name is longer than 255 bytes");
      if (!one.empty()) {
        protos.push_back(one);
        wire += 1 + one.size();
      }
      pos = comma + 1;
    }
  }
  if (wire > 65535)
    return fail(err, TlsErrorKind::kConfig, "the ALPN list is longer than 65535 bytes");
  alpn_ = std::move(protos);
  return true;
}

bool TlsConfig::set_client_ca(const void* data, size_t len, TlsError* err) {
  if (!data || len == 0) {
    client_ca_.reset();
    return true;
  }
  std::vector<X509Ptr> certs;
  if (!load_certificates(data, len, &certs, err)) return false;
  auto list = std::make_shared<CaList>();
  for (X509Ptr& c : certs) list->emplace_back(c.release(), X509_free);
  client_ca_ = std::move(list);
  return true;
}

bool TlsConfig::set_client_cert_mode(int mode, TlsError* err) {
  if (mode < 0 || mode > 2)
    return fail(err, TlsErrorKind::kConfig,
                "client-certificate mode " + std::to_string(mode) +
                    " is unknown: 0 = none, 1 = request, 2 = require");
  client_cert_ = static_cast<ClientCertMode>(mode);
  return true;
}

bool TlsConfig::set_ciphers(const char* tls12, const char* tls13, TlsError* err) {
  std::string init_error;
  if (!init_openssl(&init_error)) return fail(err, TlsErrorKind::kUnavailable, init_error);
  std::string l12 = tls12 && *tls12 ? tls12 : "";
  std::string l13 = tls13 && *tls13 ? tls13 : "";
  // Try them on a scratch context: what OpenSSL refuses here would fail every build.
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return fail(err, TlsErrorKind::kNoMemory, "out of memory");
  if (SSL_CTX_set_cipher_list(ctx.get(), tls12_cipher_list(l12).c_str()) != 1) {
    drain_errors();
    return fail(err, TlsErrorKind::kConfig,
                "no TLS 1.2 cipher of '" + l12 +
                    "' is allowed: only forward-secret suites without NULL, export, RC4, 3DES "
                    "or anonymous key exchange are (e.g. ECDHE-RSA-AES128-GCM-SHA256)");
  }
  if (!l13.empty() && SSL_CTX_set_ciphersuites(ctx.get(), l13.c_str()) != 1) {
    drain_errors();
    return fail(err, TlsErrorKind::kConfig,
                "the TLS 1.3 suites '" + l13 +
                    "' are not valid: use names like TLS_AES_128_GCM_SHA256, "
                    "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256");
  }
  tls12_ciphers_ = l12;
  tls13_suites_ = l13;
  return true;
}

bool TlsConfig::set_ticket_keys(const void* keys, size_t len, TlsError* err) {
  std::shared_ptr<const TicketKeys> k =
      keys && len ? TicketKeys::parse(keys, len, err) : TicketKeys::random(err);
  if (!k) return false;
  ticket_keys_ = std::move(k);
  return true;
}

bool TlsConfig::set_min_version(int version, TlsError* err) {
  if (version != kTls12 && version != kTls13)
    return fail(err, TlsErrorKind::kConfig,
                "TLS minimum version " + std::to_string(version) +
                    " is not allowed: 12 (TLS 1.2) or 13 (TLS 1.3); TLS 1.0 and 1.1 are never "
                    "enabled");
  min_version_ = version;
  return true;
}

std::shared_ptr<const TlsContext> TlsConfig::build(TlsError* err) const {
  return TlsContext::build(*this, err);
}

std::string tls12_cipher_list(const std::string& user) {
  return (user.empty() ? std::string(kDefaultTls12Ciphers) : user) + kNeverTls12;
}

}  // namespace tls
}  // namespace ts
