// Support for the TLS layer's socket-free tests (tests/tls) and its fuzz target: a test PKI
// generated in memory at run time (ECDSA P-256 and RSA certificates, CAs, client
// certificates), their encodings (PEM, DER, encrypted keys, PKCS#12 with modern and legacy
// encryption), an OpenSSL client that talks to a TlsSession through memory, and a driver that
// moves bytes between them, checking the session's contract on every call.
//
// No GoogleTest here (the fuzzer links it too): contract violations are collected in
// ServerEvents::violations for the caller to assert on. Single-threaded per client/session.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tls/tls_config.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"

namespace tstest {

using ts::tls::PKeyPtr;
using ts::tls::X509Ptr;

// ---- certificates ----

PKeyPtr make_ec_key();
PKeyPtr make_rsa_key(int bits);
// A certificate for `cn` (also its DNS subjectAltName unless dns is given), signed by issuer
// (self-signed when issuer is null). ca: basicConstraints CA:TRUE.
X509Ptr make_cert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                  bool ca, const std::vector<std::string>& dns = {});

struct KeyPair {
  X509Ptr cert;
  PKeyPtr key;
};

// The process-wide test PKI, made on first use (a few hundred ms of CPU: the RSA keys).
struct Pki {
  KeyPair ca;            // "tcpserver test CA" (EC): signs server certificates
  KeyPair intermediate;  // "tcpserver test intermediate" (EC), signed by ca
  KeyPair server_ec;     // CN=localhost (EC P-256), signed by ca
  KeyPair server_rsa;    // CN=rsa.test (RSA 2048), signed by ca
  KeyPair chained;       // CN=chained.test (EC), signed by intermediate
  KeyPair wildcard;      // *.example.com (EC), signed by ca
  KeyPair exact;         // exact.example.com (EC), signed by ca
  KeyPair other;         // other.test (RSA 2048, the key of server_rsa), signed by ca
  KeyPair weak_rsa;      // CN=weak.test, RSA 1024, signed by ca: refused at security level 2
  KeyPair client_ca;     // "tcpserver client CA" (EC): signs client certificates
  KeyPair client;        // CN=client one,O=Example (EC), signed by client_ca
  KeyPair rogue_ca;      // a CA the server does not trust
  KeyPair rogue_client;  // CN=rogue, signed by rogue_ca
};
const Pki& pki();

// ---- encodings ----

std::string pem(const X509* cert);
std::string der(const X509* cert);
// PKCS#8 PEM; encrypted with AES-256-CBC when password is not null.
std::string pem_key(EVP_PKEY* key, const char* password = nullptr);
// Traditional "RSA/EC PRIVATE KEY" PEM, DEK-Info encrypted (AES-128-CBC) when password given.
std::string pem_key_traditional(EVP_PKEY* key, const char* password);
// PKCS#8 DER; encrypted when password is not null.
std::string der_key(EVP_PKEY* key, const char* password = nullptr);
enum class PfxKind { kAes, kTripleDes, kLegacyRc2 };
// PKCS#12 of cert + key (+ chain); kLegacyRc2 = RC2-40 certificate bags, as .NET Framework
// writes them (made in a private library context with the legacy provider).
std::string pfx(const KeyPair& kp, const char* password, PfxKind kind,
                const std::vector<const X509*>& chain = {});

// ---- a client ----

struct ClientOptions {
  int min_version = 0;  // OpenSSL constants (TLS1_2_VERSION ...); 0 = library default
  int max_version = 0;
  std::string sni;
  std::vector<std::string> alpn;
  const KeyPair* cert = nullptr;  // client certificate
  SSL_SESSION* session = nullptr;  // to resume
  const X509* trust = nullptr;     // CA that must have signed the server's certificate
  std::string expect_host;         // checked against the server certificate when not empty
  const char* ciphers12 = nullptr;
  const char* suites13 = nullptr;
  int security_level = -1;  // -1 = leave
};

// Options of a client that trusts the test CA (and checks the host name when given).
ClientOptions trusting_ca(const std::string& host = "");

class TestClient {
 public:
  explicit TestClient(const ClientOptions& opt);
  ~TestClient();
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  SSL* ssl() const { return ssl_; }
  // One handshake step: 1 done, 0 waiting for the server, -1 failed.
  int handshake();
  // Queues plaintext for the server (after the handshake).
  bool write(const std::string& data);
  // Bytes the client produced, for the server.
  std::string take_output();
  // Bytes from the server.
  void give_input(const std::string& data);
  // Reads all plaintext available; sets closed()/failed() on close_notify/errors.
  std::string read();
  bool closed() const { return closed_; }
  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }
  // The common name of the certificate the server sent ("" if none).
  std::string peer_common_name() const;
  // The session for resumption (after reading the server's tickets); caller frees.
  SSL_SESSION* session() const { return SSL_get1_session(ssl_); }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // server -> client
  BIO* out_ = nullptr;  // client -> server
  bool closed_ = false;
  bool failed_ = false;
  std::string error_;
};

// ---- driving a TlsSession ----

struct ServerEvents {
  int handshakes = 0;  // kHandshakeDone seen
  std::string plain;   // plaintext received, in order
  bool peer_closed = false;
  bool failed = false;
  std::vector<std::string> violations;  // contract breaches seen by the driver
};

// Feeds ciphertext to the server in pieces of `piece` bytes, through receive() with an output
// buffer of out_cap bytes, collecting events and plaintext.
void to_server(ts::tls::TlsSession& s, const std::string& bytes, ServerEvents* ev,
               size_t piece = SIZE_MAX, size_t out_cap = 16384);
// Takes all of the server's pending output (through output_pieces/consume_output).
std::string from_server(ts::tls::TlsSession& s);
// Runs the handshake between client and server (bounded rounds); true when both are done.
bool handshake(TestClient& c, ts::tls::TlsSession& s, ServerEvents* ev, size_t piece = SIZE_MAX);
// After the handshake: lets the client read everything the server has sent (e.g. tickets).
void server_to_client(TestClient& c, ts::tls::TlsSession& s, std::string* plain = nullptr);

// A TlsConfig with the EC server certificate; err text goes to *why when it fails.
ts::tls::TlsConfig config_with(const KeyPair& kp, std::string* why = nullptr);
std::shared_ptr<const ts::tls::TlsContext> build(const ts::tls::TlsConfig& c, std::string* why = nullptr);
std::unique_ptr<ts::tls::TlsSession> session(std::shared_ptr<const ts::tls::TlsContext> ctx);

// Deterministic pseudo-random bytes.
std::string pattern_bytes(size_t n, uint32_t seed);

// ---- OpenSSL allocation accounting (set up by the test program's main) ----

// Installs counting allocators with CRYPTO_set_mem_functions; must run before OpenSSL
// allocates anything. False if it was too late.
bool install_allocation_counter();
bool allocation_counter_installed();
// Bytes OpenSSL (and the TLS layer's queues) hold right now.
long long live_openssl_bytes();

}  // namespace tstest
