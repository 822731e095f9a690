// OpenSSL plumbing shared by the TLS layer (dll/src/tls): the one-time library initialisation
// (which never reads an OpenSSL config file), owning pointers for OpenSSL objects, and the
// per-thread OpenSSL error queue turned into text.
//
// Owns no state of its own beyond OpenSSL's. Any thread may call it. OpenSSL keeps its error
// queue per thread: every function of this layer that calls OpenSSL starts from an empty queue
// and leaves it empty, so one link's failure never shows up in another link's error text.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace ts {
namespace tls {

// Initialises libssl once per process (OPENSSL_INIT_NO_LOAD_CONFIG: no openssl.cnf is read,
// whatever OPENSSL_CONF says). Returns false, with the reason in *error, if OpenSSL cannot start
// (out of memory). Thread-safe; cheap after the first call.
bool init_openssl(std::string* error);

// Deleters, so OpenSSL objects are owned by std::unique_ptr.
struct OsslFree {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
  void operator()(SSL* p) const { SSL_free(p); }
  void operator()(PKCS12* p) const { PKCS12_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(EVP_CIPHER* p) const { EVP_CIPHER_free(p); }
  void operator()(OSSL_LIB_CTX* p) const { OSSL_LIB_CTX_free(p); }
  void operator()(STACK_OF(X509)* p) const { sk_X509_pop_free(p, X509_free); }
  void operator()(STACK_OF(X509_NAME)* p) const { sk_X509_NAME_pop_free(p, X509_NAME_free); }
};
using BioPtr = std::unique_ptr<BIO, OsslFree>;
using X509Ptr = std::unique_ptr<X509, OsslFree>;
using PKeyPtr = std::unique_ptr<EVP_PKEY, OsslFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OsslFree>;
using SslPtr = std::unique_ptr<SSL, OsslFree>;
using Pkcs12Ptr = std::unique_ptr<PKCS12, OsslFree>;
using X509StorePtr = std::unique_ptr<X509_STORE, OsslFree>;
using CipherPtr = std::unique_ptr<EVP_CIPHER, OsslFree>;
using LibCtxPtr = std::unique_ptr<OSSL_LIB_CTX, OsslFree>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), OsslFree>;
using X509NameStackPtr = std::unique_ptr<STACK_OF(X509_NAME), OsslFree>;

// Empties the calling thread's OpenSSL error queue and returns the earliest error as
// "reason text" (e.g. "no shared cipher"), or "" when the queue was empty.
std::string drain_errors();

// The earliest queued error code without removing it (0 when none).
inline unsigned long peek_error() { return ERR_peek_error(); }

// A read-only memory BIO over [data, data + len) (no copy); nullptr if out of memory.
BioPtr memory_bio(const void* data, size_t len);

// The text of an X509 name, RFC 2253 style, UTF-8 ("CN=client,O=Example").
std::string name_text(const X509_NAME* name);

}  // namespace tls
}  // namespace ts
