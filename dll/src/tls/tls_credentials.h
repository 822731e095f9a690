// Loading certificates and private keys, recognised by their content: what SetTlsCertificate,
// SetTlsCertificateFile, AddTlsServerName and SetTlsClientCA are given.
//
//   certificate data          key data            what is used
//   PEM (one or more certs)   PEM or DER key      first cert = leaf, the others = chain
//   PEM with certs + key      none                both from the one PEM
//   DER certificate           PEM or DER key      (a DER certificate never holds a key)
//   PKCS#12 / PFX             none (or a key)     leaf, chain and key from the PFX
// Keys: PKCS#8 (plain or encrypted), traditional RSA/EC PEM (plain or with DEK-Info
// encryption), DER PKCS#8 (plain or encrypted), DER traditional. The password (UTF-8, may be
// NULL) opens an encrypted key or the PFX. PFX files with legacy encryption (RC2-40, as .NET
// Framework and older Windows export them) are read through a private OpenSSL library context
// with the legacy provider, so the process-wide OpenSSL is never switched to legacy algorithms.
//
// Errors say what failed: empty data, not a certificate, no key, a password needed, a wrong
// password, a key that does not match the certificate, a file that cannot be read.
//
// Pure functions; any thread (the engine calls them under its server-settings lock).
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "tls/tls_error.h"
#include "tls/tls_openssl.h"

namespace ts {
namespace tls {

// A certificate with its chain and private key, immutable once loaded, shared by the
// configurations and contexts built from it.
struct Credentials {
  X509Ptr cert;        // the leaf
  X509StackPtr chain;  // intermediates, leaf's issuer first (never null; may be empty)
  PKeyPtr key;         // matches cert
};
using CredentialsPtr = std::shared_ptr<const Credentials>;

// From memory. key may be null/0 when the key is inside the certificate data.
bool load_credentials(const void* cert, size_t cert_len, const void* key, size_t key_len,
                      const char* password, CredentialsPtr* out, TlsError* err);

// From files (UTF-8 paths). key_file may be null or "" when the key is in cert_file.
bool load_credentials_files(const char* cert_file, const char* key_file, const char* password,
                            CredentialsPtr* out, TlsError* err);

// Certificates only (client CAs): PEM with any number of certificates, one DER certificate, or
// a PKCS#12 without password. At least one certificate, else an error.
bool load_certificates(const void* data, size_t len, std::vector<X509Ptr>* out, TlsError* err);

// Reads a whole file (UTF-8 path; at most 16 MiB) into *data. `what` names it in errors
// ("certificate file").
bool read_file(const char* path, const char* what, std::string* data, TlsError* err);

}  // namespace tls
}  // namespace ts
