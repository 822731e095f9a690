// Certificate and key loading by content (PEM, DER, PKCS#12/PFX), see tls_credentials.h.
// Pure functions; any thread.
#include "tls/tls_credentials.h"

#include <climits>
#include <cstdio>
#include <cstring>

#include <openssl/pem.h>
#include <openssl/provider.h>

#include <cerrno>
#ifdef _WIN32
#include <windows.h>
#endif

namespace ts {
namespace tls {
namespace {

constexpr size_t kMaxFile = 16u << 20;

bool is_pem(const void* data, size_t len) {
  static const char kTag[] = "-----BEGIN ";
  const char* p = static_cast<const char*>(data);
  size_t n = sizeof kTag - 1;
  for (size_t i = 0; i + n <= len; ++i)
    if (p[i] == '-' && std::memcmp(p + i, kTag, n) == 0) return true;
  return false;
}

std::string subject_of(const X509* cert) { return name_text(X509_get_subject_name(cert)); }

int password_cb(char* buf, int size, int, void* u) {
  const char* pass = static_cast<const char*>(u);
  if (!pass) return -1;  // no password: the key stays locked
  size_t n = std::strlen(pass);
  if (n > static_cast<size_t>(size)) return -1;
  std::memcpy(buf, pass, n);
  return static_cast<int>(n);
}

bool no_memory(TlsError* err) { return fail(err, TlsErrorKind::kNoMemory, "out of memory"); }

// All certificates of a PEM text, in order (other blocks are skipped).
bool pem_certificates(const void* data, size_t len, std::vector<X509Ptr>* out, TlsError* err) {
  BioPtr bio = memory_bio(data, len);
  if (!bio) return no_memory(err);
  for (;;) {
    X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (!c) break;
    out->emplace_back(c);
  }
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  // The loop ends with "no start line" at the end of the text; anything else is a broken block.
  if (e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
    return fail(err, TlsErrorKind::kCertificate,
                "a PEM certificate block cannot be decoded (" +
                    std::string(ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "?") +
                    "): is the file damaged?");
  return true;
}

// The first private key of a PEM text; *found tells whether there was a key block at all.
bool pem_private_key(const void* data, size_t len, const char* password, PKeyPtr* key,
                     bool* found, TlsError* err) {
  *found = false;
  BioPtr bio = memory_bio(data, len);
  if (!bio) return no_memory(err);
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* body = nullptr;
    long body_len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &body, &body_len) != 1) break;
    std::string n(name);
    bool encrypted = n == "ENCRYPTED PRIVATE KEY" || std::strstr(header, "ENCRYPTED") != nullptr;
    bool is_key = n.size() >= 11 && n.compare(n.size() - 11, 11, "PRIVATE KEY") == 0;
    BioPtr one;
    if (is_key) {
      one.reset(BIO_new(BIO_s_mem()));
      if (one) PEM_write_bio(one.get(), name, header, body, body_len);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(body);
    if (!is_key) continue;
    *found = true;
    if (!one) return no_memory(err);
    EVP_PKEY* k = PEM_read_bio_PrivateKey(one.get(), nullptr, password_cb,
                                          const_cast<char*>(password));
    std::string why = drain_errors();
    if (k) {
      key->reset(k);
      return true;
    }
    if (encrypted && (!password || !*password))
      return fail(err, TlsErrorKind::kCertificate,
                  "the private key is encrypted: give its password");
    if (encrypted)
      return fail(err, TlsErrorKind::kCertificate,
                  "wrong password for the encrypted private key");
    return fail(err, TlsErrorKind::kCertificate,
                "the PEM private key cannot be decoded (" + why + ")");
  }
  ERR_clear_error();
  return true;
}

// A DER private key: plain PKCS#8 / traditional, or encrypted PKCS#8. *found false when the
// bytes are no key at all.
bool der_private_key(const void* data, size_t len, const char* password, PKeyPtr* key,
                     bool* found, TlsError* err) {
  *found = false;
  if (len > static_cast<size_t>(LONG_MAX)) return true;
  const unsigned char* p = static_cast<const unsigned char*>(data);
  EVP_PKEY* k = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(len));
  ERR_clear_error();
  if (k) {
    *found = true;
    key->reset(k);
    return true;
  }
  p = static_cast<const unsigned char*>(data);
  X509_SIG* p8 = d2i_X509_SIG(nullptr, &p, static_cast<long>(len));
  ERR_clear_error();
  if (!p8) return true;
  *found = true;
  if (!password || !*password) {
    X509_SIG_free(p8);
    return fail(err, TlsErrorKind::kCertificate, "the private key is encrypted: give its password");
  }
  PKCS8_PRIV_KEY_INFO* info = PKCS8_decrypt(p8, password, static_cast<int>(std::strlen(password)));
  X509_SIG_free(p8);
  if (!info) {
    ERR_clear_error();
    return fail(err, TlsErrorKind::kCertificate, "wrong password for the encrypted private key");
  }
  k = EVP_PKCS82PKEY(info);
  PKCS8_PRIV_KEY_INFO_free(info);
  std::string why = drain_errors();
  if (!k)
    return fail(err, TlsErrorKind::kCertificate,
                "the decrypted private key cannot be decoded (" + why + ")");
  key->reset(k);
  return true;
}

// PKCS12_parse into DER copies, run with `libctx` as the calling thread's default library
// context (so a PFX with legacy algorithms can be read without loading the legacy provider
// process-wide). Returns false if parsing failed.
bool parse_pkcs12_der(const void* data, size_t len, const char* pass, std::string* cert_der,
                      std::string* key_der, std::vector<std::string>* chain_der) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  Pkcs12Ptr p12(d2i_PKCS12(nullptr, &p, static_cast<long>(len)));
  if (!p12) return false;
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* ca = nullptr;
  if (!PKCS12_parse(p12.get(), pass, &key, &cert, &ca)) return false;
  auto der = [](int n, unsigned char* buf) {
    std::string s;
    if (n > 0) s.assign(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
    OPENSSL_clear_free(buf, n > 0 ? static_cast<size_t>(n) : 0);  // may be a private key
    return s;
  };
  unsigned char* buf = nullptr;
  int n = 0;
  if (cert) {
    n = i2d_X509(cert, &buf);
    *cert_der = der(n, buf);
  }
  if (key) {
    buf = nullptr;
    n = i2d_PrivateKey(key, &buf);
    *key_der = der(n, buf);
  }
  for (int i = 0; ca && i < sk_X509_num(ca); ++i) {
    buf = nullptr;
    n = i2d_X509(sk_X509_value(ca, i), &buf);
    chain_der->push_back(der(n, buf));
  }
  EVP_PKEY_free(key);
  X509_free(cert);
  sk_X509_pop_free(ca, X509_free);
  return true;
}

X509* x509_from_der(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  return d2i_X509(nullptr, &p, static_cast<long>(der.size()));
}

// Reads a PKCS#12/PFX. Returns false with *is_pfx false when the bytes are not PKCS#12.
bool load_pkcs12(const void* data, size_t len, const char* password, Credentials* c,
                 bool* is_pfx, TlsError* err) {
  *is_pfx = false;
  if (len > static_cast<size_t>(LONG_MAX)) return false;
  const unsigned char* p = static_cast<const unsigned char*>(data);
  Pkcs12Ptr p12(d2i_PKCS12(nullptr, &p, static_cast<long>(len)));
  ERR_clear_error();
  if (!p12) return false;
  *is_pfx = true;
  // Which password opens it: the one given, else none or the empty one (PKCS#12 tells them
  // apart; exporters use both for "no password").
  const char* pass = password ? password : "";
  if (PKCS12_mac_present(p12.get()) && !PKCS12_verify_mac(p12.get(), pass, -1)) {
    ERR_clear_error();
    if ((!password || !*password) && PKCS12_verify_mac(p12.get(), nullptr, 0)) {
      pass = nullptr;
    } else {
      ERR_clear_error();
      return fail(err, TlsErrorKind::kCertificate,
                  password && *password
                      ? "wrong password for the PKCS#12/PFX data"
                      : "the PKCS#12/PFX data is protected by a password: give it");
    }
  }
  p12.reset();

  std::string cert_der, key_der;
  std::vector<std::string> chain_der;
  bool parsed = parse_pkcs12_der(data, len, pass, &cert_der, &key_der, &chain_der);
  std::string why = drain_errors();
  if (!parsed) {
    // Legacy encryption (RC2-40 for the certificates is what .NET Framework and older Windows
    // write): retry in a private library context that has the legacy provider.
    LibCtxPtr lib(OSSL_LIB_CTX_new());
    OSSL_PROVIDER* def = lib ? OSSL_PROVIDER_load(lib.get(), "default") : nullptr;
    OSSL_PROVIDER* legacy = lib ? OSSL_PROVIDER_load(lib.get(), "legacy") : nullptr;
    if (def && legacy) {
      OSSL_LIB_CTX* prev = OSSL_LIB_CTX_set0_default(lib.get());
      cert_der.clear();
      key_der.clear();
      chain_der.clear();
      parsed = parse_pkcs12_der(data, len, pass, &cert_der, &key_der, &chain_der);
      OSSL_LIB_CTX_set0_default(prev);
    }
    if (legacy) OSSL_PROVIDER_unload(legacy);
    if (def) OSSL_PROVIDER_unload(def);
    ERR_clear_error();
    if (!parsed)
      return fail(err, TlsErrorKind::kCertificate,
                  "the PKCS#12/PFX data cannot be read (" + why +
                      "): if it uses legacy encryption, export it again with AES-256 "
                      "(openssl pkcs12 -export, or Windows Export-PfxCertificate "
                      "-CryptoAlgorithmOption AES256_SHA256)");
  }
  if (!cert_der.empty()) c->cert.reset(x509_from_der(cert_der));
  if (!key_der.empty()) {
    const unsigned char* kp = reinterpret_cast<const unsigned char*>(key_der.data());
    c->key.reset(d2i_AutoPrivateKey(nullptr, &kp, static_cast<long>(key_der.size())));
    OPENSSL_cleanse(&key_der[0], key_der.size());
  }
  for (const std::string& d : chain_der) {
    X509* x = x509_from_der(d);
    if (x && !sk_X509_push(c->chain.get(), x)) X509_free(x);
  }
  ERR_clear_error();
  if (!c->cert)
    return fail(err, TlsErrorKind::kCertificate, "the PKCS#12/PFX data holds no certificate");
  return true;
}

}  // namespace

bool load_credentials(const void* cert, size_t cert_len, const void* key, size_t key_len,
                      const char* password, CredentialsPtr* out, TlsError* err) {
  std::string init_error;
  if (!init_openssl(&init_error)) return fail(err, TlsErrorKind::kUnavailable, init_error);
  ERR_clear_error();
  if (!cert || cert_len == 0)
    return fail(err, TlsErrorKind::kCertificate, "the certificate data is empty");
  if (cert_len > static_cast<size_t>(INT_MAX) || key_len > static_cast<size_t>(INT_MAX))
    return fail(err, TlsErrorKind::kCertificate, "the certificate or key data is too large");
  auto c = std::make_shared<Credentials>();
  c->chain.reset(sk_X509_new_null());
  if (!c->chain) return no_memory(err);

  bool key_found = false;
  if (is_pem(cert, cert_len)) {
    std::vector<X509Ptr> certs;
    if (!pem_certificates(cert, cert_len, &certs, err)) return false;
    if (certs.empty())
      return fail(err, TlsErrorKind::kCertificate,
                  "the PEM data holds no certificate (-----BEGIN CERTIFICATE-----)");
    c->cert = std::move(certs[0]);
    for (size_t i = 1; i < certs.size(); ++i)
      if (sk_X509_push(c->chain.get(), certs[i].get())) certs[i].release();
    if (!key || key_len == 0) {
      if (!pem_private_key(cert, cert_len, password, &c->key, &key_found, err)) return false;
    }
  } else {
    bool is_pfx = false;
    if (!load_pkcs12(cert, cert_len, password, c.get(), &is_pfx, err) && is_pfx) return false;
    if (!is_pfx) {
      const unsigned char* p = static_cast<const unsigned char*>(cert);
      c->cert.reset(d2i_X509(nullptr, &p, static_cast<long>(cert_len)));
      ERR_clear_error();
      if (!c->cert)
        return fail(err, TlsErrorKind::kCertificate,
                    "the certificate data is not a certificate: neither PEM "
                    "(-----BEGIN CERTIFICATE-----), DER nor PKCS#12/PFX");
    }
    key_found = c->key != nullptr;
  }

  if (key && key_len > 0) {
    c->key.reset();
    if (is_pem(key, key_len)) {
      if (!pem_private_key(key, key_len, password, &c->key, &key_found, err)) return false;
    } else if (!der_private_key(key, key_len, password, &c->key, &key_found, err)) {
      return false;
    }
    if (!key_found)
      return fail(err, TlsErrorKind::kCertificate,
                  "the key data is not a private key: neither PEM (-----BEGIN PRIVATE "
                  "KEY-----) nor DER PKCS#8");
  }
  if (!c->key)
    return fail(err, TlsErrorKind::kCertificate,
                "no private key: pass the key data, or a PEM or PKCS#12/PFX that holds the "
                "key with the certificate");
  if (X509_check_private_key(c->cert.get(), c->key.get()) != 1) {
    ERR_clear_error();
    return fail(err, TlsErrorKind::kCertificate,
                "the private key does not match the certificate (" + subject_of(c->cert.get()) +
                    "): pass the key that belongs to it");
  }
  ERR_clear_error();
  *out = std::move(c);
  return true;
}

bool read_file(const char* path, const char* what, std::string* data, TlsError* err) {
  if (!path || !*path) return fail(err, TlsErrorKind::kCertificate, std::string("no ") + what + " name given");
  std::FILE* f = nullptr;
#ifdef _WIN32
  int wlen = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, nullptr, 0);
  if (wlen <= 0)
    return fail(err, TlsErrorKind::kCertificate,
                std::string("the ") + what + " name is not valid UTF-8: '" + path + "'");
  std::wstring wpath(static_cast<size_t>(wlen), L'\0');
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, &wpath[0], wlen);
  f = _wfopen(wpath.c_str(), L"rb");
#else
  f = std::fopen(path, "rb");
#endif
  const char* why = f ? "" : std::strerror(errno);
  if (!f)
    return fail(err, TlsErrorKind::kCertificate,
                std::string("cannot open the ") + what + " '" + path + "': " + why);
  data->clear();
  char buf[16384];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (data->size() + n > kMaxFile) {
      std::fclose(f);
      return fail(err, TlsErrorKind::kCertificate,
                  std::string("the ") + what + " '" + path + "' is larger than 16 MiB: not a certificate or key");
    }
    data->append(buf, n);
  }
  bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad)
    return fail(err, TlsErrorKind::kCertificate,
                std::string("error reading the ") + what + " '" + path + "'");
  if (data->empty())
    return fail(err, TlsErrorKind::kCertificate, std::string("the ") + what + " '" + path + "' is empty");
  return true;
}

bool load_credentials_files(const char* cert_file, const char* key_file, const char* password,
                            CredentialsPtr* out, TlsError* err) {
  std::string cert, key;
  if (!read_file(cert_file, "certificate file", &cert, err)) return false;
  bool has_key = key_file && *key_file;
  if (has_key && !read_file(key_file, "key file", &key, err)) return false;
  bool ok = load_credentials(cert.data(), cert.size(), has_key ? key.data() : nullptr, key.size(),
                             password, out, err);
  if (!key.empty()) OPENSSL_cleanse(&key[0], key.size());
  if (!cert.empty()) OPENSSL_cleanse(&cert[0], cert.size());  // a PEM may hold the key too
  if (!ok && err) {
    err->text += std::string(" (certificate file '") + cert_file + "'";
    if (has_key) err->text += std::string(", key file '") + key_file + "'";
    err->text += ")";
  }
  return ok;
}

bool load_certificates(const void* data, size_t len, std::vector<X509Ptr>* out, TlsError* err) {
  std::string init_error;
  if (!init_openssl(&init_error)) return fail(err, TlsErrorKind::kUnavailable, init_error);
  ERR_clear_error();
  out->clear();
  if (!data || len == 0) return fail(err, TlsErrorKind::kCertificate, "the CA certificate data is empty");
  if (len > static_cast<size_t>(INT_MAX))
    return fail(err, TlsErrorKind::kCertificate, "the CA certificate data is too large");
  if (is_pem(data, len)) {
    if (!pem_certificates(data, len, out, err)) return false;
  } else {
    Credentials c;
    c.chain.reset(sk_X509_new_null());
    if (!c.chain) return no_memory(err);
    bool is_pfx = false;
    bool ok = load_pkcs12(data, len, nullptr, &c, &is_pfx, err);
    if (is_pfx && !ok) return false;
    if (is_pfx) {
      out->push_back(std::move(c.cert));
      while (sk_X509_num(c.chain.get()) > 0) out->emplace_back(sk_X509_shift(c.chain.get()));
    } else {
      const unsigned char* p = static_cast<const unsigned char*>(data);
      X509* x = d2i_X509(nullptr, &p, static_cast<long>(len));
      ERR_clear_error();
      if (x) out->emplace_back(x);
    }
  }
  if (out->empty())
    return fail(err, TlsErrorKind::kCertificate,
                "the CA data holds no certificate: give PEM (-----BEGIN CERTIFICATE-----), "
                "DER or PKCS#12");
  return true;
}

}  // namespace tls
}  // namespace ts
