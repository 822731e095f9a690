// Test PKI, encodings, an in-memory OpenSSL client and the TlsSession driver (see
// tls_test_support.h). Single-threaded per client; pki() is made once, thread-safely.
#include "tls_test_support.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

namespace tstest {

using ts::tls::TlsSession;

// ---- allocation accounting ----

namespace {

std::atomic<long long> g_live{0};
bool g_counting = false;

struct alignas(16) Header {
  size_t size;
};

void* count_malloc(size_t n, const char*, int) {
  Header* h = static_cast<Header*>(std::malloc(sizeof(Header) + n));
  if (!h) return nullptr;
  h->size = n;
  g_live += static_cast<long long>(n);
  return h + 1;
}

void count_free(void* p, const char*, int) {
  if (!p) return;
  Header* h = static_cast<Header*>(p) - 1;
  g_live -= static_cast<long long>(h->size);
  std::free(h);
}

void* count_realloc(void* p, size_t n, const char* file, int line) {
  if (!p) return count_malloc(n, file, line);
  if (n == 0) {
    count_free(p, file, line);
    return nullptr;
  }
  Header* h = static_cast<Header*>(p) - 1;
  size_t old = h->size;
  Header* nh = static_cast<Header*>(std::realloc(h, sizeof(Header) + n));
  if (!nh) return nullptr;
  nh->size = n;
  g_live += static_cast<long long>(n) - static_cast<long long>(old);
  return nh + 1;
}

}  // namespace

bool install_allocation_counter() {
  g_counting = CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) == 1;
  return g_counting;
}
bool allocation_counter_installed() { return g_counting; }
long long live_openssl_bytes() { return g_live.load(); }

// ---- certificates ----

PKeyPtr make_ec_key() { return PKeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }
PKeyPtr make_rsa_key(int bits) {
  return PKeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
}

namespace {
void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext) {
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
}
}  // namespace

X509Ptr make_cert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                  bool ca, const std::vector<std::string>& dns) {
  static std::atomic<long> serial{1000};
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 30L * 24 * 3600);
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(ca ? "tcpserver tests" : "Example"),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name);
  add_ext(x.get(), issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(x.get(), issuer, NID_key_usage,
          ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyEncipherment");
  add_ext(x.get(), issuer, NID_subject_key_identifier, "hash");
  if (issuer) add_ext(x.get(), issuer, NID_authority_key_identifier, "keyid");
  if (!ca) {
    std::string san;
    for (const std::string& d : dns.empty() ? std::vector<std::string>{cn} : dns)
      san += (san.empty() ? "DNS:" : ",DNS:") + d;
    add_ext(x.get(), issuer, NID_subject_alt_name, san);
  }
  X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256());
  return x;
}

namespace {
KeyPair signed_by(const std::string& cn, PKeyPtr key, const KeyPair* issuer, bool ca = false,
                  const std::vector<std::string>& dns = {}) {
  KeyPair kp;
  kp.key = std::move(key);
  kp.cert = make_cert(cn, kp.key.get(), issuer ? issuer->cert.get() : nullptr,
                      issuer ? issuer->key.get() : nullptr, ca, dns);
  return kp;
}
}  // namespace

const Pki& pki() {
  static std::once_flag once;
  static Pki* p = nullptr;
  std::call_once(once, [] {
    p = new Pki();
    p->ca = signed_by("tcpserver test CA", make_ec_key(), nullptr, true);
    p->intermediate = signed_by("tcpserver test intermediate", make_ec_key(), &p->ca, true);
    p->server_ec = signed_by("localhost", make_ec_key(), &p->ca);
    // One RSA-2048 key for both RSA certificates: generating one is most of the PKI's time.
    PKeyPtr rsa = make_rsa_key(2048);
    EVP_PKEY_up_ref(rsa.get());
    PKeyPtr rsa2(rsa.get());
    p->server_rsa = signed_by("rsa.test", std::move(rsa), &p->ca);
    p->chained = signed_by("chained.test", make_ec_key(), &p->intermediate);
    p->wildcard = signed_by("*.example.com", make_ec_key(), &p->ca);
    p->exact = signed_by("exact.example.com", make_ec_key(), &p->ca);
    p->other = signed_by("other.test", std::move(rsa2), &p->ca);
    p->weak_rsa = signed_by("weak.test", make_rsa_key(1024), &p->ca);
    p->client_ca = signed_by("tcpserver client CA", make_ec_key(), nullptr, true);
    p->client = signed_by("client one", make_ec_key(), &p->client_ca);
    p->rogue_ca = signed_by("rogue CA", make_ec_key(), nullptr, true);
    p->rogue_client = signed_by("rogue", make_ec_key(), &p->rogue_ca);
  });
  return *p;
}

// ---- encodings ----

namespace {
std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}
ts::tls::BioPtr mem() { return ts::tls::BioPtr(BIO_new(BIO_s_mem())); }
}  // namespace

std::string pem(const X509* cert) {
  auto b = mem();
  PEM_write_bio_X509(b.get(), cert);
  return bio_text(b.get());
}

std::string der(const X509* cert) {
  auto b = mem();
  i2d_X509_bio(b.get(), cert);
  return bio_text(b.get());
}

std::string pem_key(EVP_PKEY* key, const char* password) {
  auto b = mem();
  PEM_write_bio_PKCS8PrivateKey(b.get(), key, password ? EVP_aes_256_cbc() : nullptr, nullptr, 0,
                                nullptr, const_cast<char*>(password));
  return bio_text(b.get());
}

std::string pem_key_traditional(EVP_PKEY* key, const char* password) {
  auto b = mem();
  PEM_write_bio_PrivateKey_traditional(
      b.get(), key, password ? EVP_aes_128_cbc() : nullptr,
      reinterpret_cast<unsigned char*>(const_cast<char*>(password)),
      password ? static_cast<int>(std::strlen(password)) : 0, nullptr, nullptr);
  return bio_text(b.get());
}

std::string der_key(EVP_PKEY* key, const char* password) {
  auto b = mem();
  i2d_PKCS8PrivateKey_bio(b.get(), key, password ? EVP_aes_256_cbc() : nullptr, nullptr, 0,
                          nullptr, const_cast<char*>(password));
  return bio_text(b.get());
}

std::string pfx(const KeyPair& kp, const char* password, PfxKind kind,
                const std::vector<const X509*>& chain) {
  STACK_OF(X509)* ca = sk_X509_new_null();
  for (const X509* c : chain) sk_X509_push(ca, const_cast<X509*>(c));
  ts::tls::LibCtxPtr lib;
  OSSL_PROVIDER* prov[2] = {nullptr, nullptr};
  int key_nid = NID_aes_256_cbc, cert_nid = NID_aes_256_cbc, mac_iter = 0;
  OSSL_LIB_CTX* libctx = nullptr;
  if (kind == PfxKind::kTripleDes) {
    key_nid = cert_nid = NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
  } else if (kind == PfxKind::kLegacyRc2) {
    key_nid = NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
    cert_nid = NID_pbe_WithSHA1And40BitRC2_CBC;
    lib.reset(OSSL_LIB_CTX_new());
    prov[0] = OSSL_PROVIDER_load(lib.get(), "default");
    prov[1] = OSSL_PROVIDER_load(lib.get(), "legacy");
    libctx = lib.get();
  }
  PKCS12* p12 = PKCS12_create_ex(const_cast<char*>(password), "test", kp.key.get(), kp.cert.get(),
                                 ca, key_nid, cert_nid, 0, mac_iter, 0, libctx, nullptr);
  std::string out;
  if (p12) {
    auto b = mem();
    i2d_PKCS12_bio(b.get(), p12);
    out = bio_text(b.get());
    PKCS12_free(p12);
  }
  sk_X509_free(ca);
  for (OSSL_PROVIDER* p : prov)
    if (p) OSSL_PROVIDER_unload(p);
  ERR_clear_error();
  return out;
}

// ---- client ----

ClientOptions trusting_ca(const std::string& host) {
  ClientOptions o;
  o.trust = pki().ca.cert.get();
  o.expect_host = host;
  return o;
}

TestClient::TestClient(const ClientOptions& opt) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (opt.security_level >= 0) SSL_CTX_set_security_level(ctx_, opt.security_level);
  if (opt.min_version) SSL_CTX_set_min_proto_version(ctx_, opt.min_version);
  if (opt.max_version) SSL_CTX_set_max_proto_version(ctx_, opt.max_version);
  if (opt.ciphers12) SSL_CTX_set_cipher_list(ctx_, opt.ciphers12);
  if (opt.suites13) SSL_CTX_set_ciphersuites(ctx_, opt.suites13);
  if (opt.trust) {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), const_cast<X509*>(opt.trust));
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (opt.cert) {
    SSL_CTX_use_certificate(ctx_, opt.cert->cert.get());
    SSL_CTX_use_PrivateKey(ctx_, opt.cert->key.get());
  }
  ssl_ = SSL_new(ctx_);
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in_, -1);  // empty = "retry", not EOF
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_connect_state(ssl_);
  if (!opt.sni.empty()) SSL_set_tlsext_host_name(ssl_, opt.sni.c_str());
  if (!opt.expect_host.empty()) SSL_set1_host(ssl_, opt.expect_host.c_str());
  if (!opt.alpn.empty()) {
    std::string wire;
    for (const std::string& a : opt.alpn) wire += static_cast<char>(a.size()) + a;
    SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned int>(wire.size()));
  }
  if (opt.session) SSL_set_session(ssl_, opt.session);
  ERR_clear_error();
}

TestClient::~TestClient() {
  SSL_free(ssl_);
  SSL_CTX_free(ctx_);
  ERR_clear_error();
}

int TestClient::handshake() {
  if (failed_) return -1;
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) return 1;
  int e = SSL_get_error(ssl_, rc);
  if (e == SSL_ERROR_WANT_READ) return 0;
  failed_ = true;
  error_ = ts::tls::drain_errors();
  return -1;
}

std::string TestClient::peer_common_name() const {
  X509* peer = SSL_get1_peer_certificate(ssl_);
  char cn[256] = "";
  if (peer) X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
  X509_free(peer);
  return cn;
}

bool TestClient::write(const std::string& data) {
  size_t done = 0;
  bool ok = SSL_write_ex(ssl_, data.data(), data.size(), &done) == 1 && done == data.size();
  ERR_clear_error();
  return ok;
}

std::string TestClient::take_output() {
  std::string s = bio_text(out_);
  (void)BIO_reset(out_);
  return s;
}

void TestClient::give_input(const std::string& data) {
  if (!data.empty()) BIO_write(in_, data.data(), static_cast<int>(data.size()));
}

std::string TestClient::read() {
  std::string plain;
  char buf[16384];
  for (;;) {
    size_t n = 0;
    if (SSL_read_ex(ssl_, buf, sizeof buf, &n) == 1) {
      plain.append(buf, n);
      continue;
    }
    int e = SSL_get_error(ssl_, 0);
    if (e == SSL_ERROR_ZERO_RETURN) {
      closed_ = true;
    } else if (e != SSL_ERROR_WANT_READ) {
      failed_ = true;
      error_ = ts::tls::drain_errors();
    }
    break;
  }
  ERR_clear_error();
  return plain;
}

// ---- driver ----

void to_server(TlsSession& s, const std::string& bytes, ServerEvents* ev, size_t piece,
               size_t out_cap) {
  std::vector<uint8_t> out(out_cap);
  size_t pos = 0;
  do {
    size_t len = std::min(piece, bytes.size() - pos);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(bytes.data()) + pos;
    size_t off = 0;
    for (int guard = 0;; ++guard) {
      if (guard > 1000000) {
        ev->violations.push_back("receive() made no progress");
        return;
      }
      TlsSession::Result r = s.receive(p + off, len - off, out.data(), out.size());
      if (r.consumed > len - off) ev->violations.push_back("consumed more than given");
      if (r.produced > out.size()) ev->violations.push_back("produced more than room");
      off += r.consumed;
      ev->plain.append(reinterpret_cast<char*>(out.data()), r.produced);
      if (r.status == TlsSession::Status::kHandshakeDone) {
        if (++ev->handshakes > 1) ev->violations.push_back("handshake reported twice");
        if (r.produced) ev->violations.push_back("plaintext with kHandshakeDone");
        continue;
      }
      if (r.status == TlsSession::Status::kMore) continue;
      if (r.status == TlsSession::Status::kNeedInput && off != len)
        ev->violations.push_back("kNeedInput with input left over");
      if (r.status == TlsSession::Status::kPeerClosed) ev->peer_closed = true;
      if (r.status == TlsSession::Status::kFailed) {
        ev->failed = true;
        if (!s.failed()) ev->violations.push_back("kFailed but failed() is false");
      }
      break;
    }
    pos += len;
  } while (pos < bytes.size() && !ev->failed && !ev->peer_closed);
}

std::string from_server(TlsSession& s) {
  std::string out;
  ts::tls::ByteSpan pieces[8];
  while (s.pending_output() > 0) {
    size_t n = s.output_pieces(pieces, 8);
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      out.append(reinterpret_cast<const char*>(pieces[i].data), pieces[i].size);
      total += pieces[i].size;
    }
    s.consume_output(total);
  }
  return out;
}

bool handshake(TestClient& c, TlsSession& s, ServerEvents* ev, size_t piece) {
  int client = 0;
  for (int round = 0; round < 20; ++round) {
    if (client != 1) client = c.handshake();
    std::string to = c.take_output();
    if (!to.empty()) to_server(s, to, ev, piece);
    c.give_input(from_server(s));
    if (client == -1 || ev->failed) return false;
    if (client == 1 && ev->handshakes == 1) return true;
  }
  return false;
}

void server_to_client(TestClient& c, TlsSession& s, std::string* plain) {
  c.give_input(from_server(s));
  std::string p = c.read();
  if (plain) *plain += p;
  // The client may answer (e.g. a KeyUpdate); hand that back too.
  std::string back = c.take_output();
  if (!back.empty()) {
    ServerEvents ev;
    to_server(s, back, &ev);
  }
}

ts::tls::TlsConfig config_with(const KeyPair& kp, std::string* why) {
  ts::tls::TlsConfig c;
  ts::tls::TlsError err;
  std::string cert = pem(kp.cert.get()), key = pem_key(kp.key.get());
  if (!c.set_certificate(cert.data(), cert.size(), key.data(), key.size(), nullptr, &err) && why)
    *why = err.text;
  return c;
}

std::shared_ptr<const ts::tls::TlsContext> build(const ts::tls::TlsConfig& c, std::string* why) {
  ts::tls::TlsError err;
  auto ctx = c.build(&err);
  if (!ctx && why) *why = err.text;
  return ctx;
}

std::unique_ptr<TlsSession> session(std::shared_ptr<const ts::tls::TlsContext> ctx) {
  ts::tls::TlsError err;
  return TlsSession::create(std::move(ctx), &err);
}

std::string pattern_bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s[i] = static_cast<char>(x);
  }
  return s;
}

}  // namespace tstest
