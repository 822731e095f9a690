// OpenSSL initialisation, the error queue as text, small helpers (see tls_openssl.h).
// Any thread.
#include "tls/tls_openssl.h"

#include <climits>
#include <mutex>

namespace ts {
namespace tls {

bool init_openssl(std::string* error) {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] {
    // NO_LOAD_CONFIG: no openssl.cnf, ever (it could load engines or providers from a folder a
    // user controls). The Windows build is also configured with no-autoload-config.
    ok = OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_LOAD_SSL_STRINGS |
                              OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
                          nullptr) == 1;
    ERR_clear_error();
  });
  if (!ok && error) *error = "OpenSSL could not be initialised (out of memory?)";
  return ok;
}

std::string drain_errors() {
  unsigned long first = ERR_get_error();
  if (first == 0) return std::string();
  while (ERR_get_error() != 0) {
  }
  const char* reason = ERR_reason_error_string(first);
  if (reason) return reason;
  char buf[256];
  ERR_error_string_n(first, buf, sizeof buf);
  return buf;
}

BioPtr memory_bio(const void* data, size_t len) {
  if (len > static_cast<size_t>(INT_MAX)) return nullptr;
  return BioPtr(BIO_new_mem_buf(data, static_cast<int>(len)));
}

std::string name_text(const X509_NAME* name) {
  if (!name) return std::string();
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return std::string();
  // RFC 2253 order and escaping, but UTF-8 left as UTF-8 instead of \XX escapes.
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* p = nullptr;
  long n = BIO_get_mem_data(bio.get(), &p);
  return n > 0 ? std::string(p, static_cast<size_t>(n)) : std::string();
}

}  // namespace tls
}  // namespace ts
