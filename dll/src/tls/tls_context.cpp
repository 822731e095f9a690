// TlsContext: SSL_CTXs built from a TlsConfig, plus the OpenSSL callbacks (SNI, ALPN, tickets,
// ClientHello) that read them. Built under the engine's settings lock; read by every thread.
#include "tls/tls_context.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace ts {
namespace tls {

namespace {

const unsigned char kSessionIdContext[] = "tcpserver";

std::string lower(const char* s) {
  std::string r(s ? s : "");
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!r.empty() && r.back() == '.') r.pop_back();
  return r;
}

// What a certificate that OpenSSL refused means for the user.
std::string certificate_refused(unsigned long e, const std::string& why) {
  switch (ERR_GET_REASON(e)) {
    case SSL_R_EE_KEY_TOO_SMALL:
      return "the certificate's key is too weak: RSA keys need at least 2048 bits, EC keys "
             "224 (use a P-256 or RSA-2048 key)";
    case SSL_R_CA_KEY_TOO_SMALL:
      return "a certificate of the chain has a key that is too weak (RSA under 2048 bits)";
    case SSL_R_CA_MD_TOO_WEAK:
      return "a certificate of the chain is signed with a weak digest (MD5 or SHA-1): "
             "reissue it with SHA-256";
    default:
      return "OpenSSL refused the certificate (" + why + ")";
  }
}

// Puts certificate, chain and key into x (whose security level is already set).
bool use_credentials(SSL_CTX* x, const Credentials& creds, TlsError* err) {
  if (SSL_CTX_use_certificate(x, creds.cert.get()) != 1) {
    unsigned long e = peek_error();
    std::string why = drain_errors();
    return fail(err, TlsErrorKind::kCertificate, certificate_refused(e, why));
  }
  for (int i = 0; i < sk_X509_num(creds.chain.get()); ++i) {
    if (SSL_CTX_add1_chain_cert(x, sk_X509_value(creds.chain.get(), i)) != 1) {
      unsigned long e = peek_error();
      std::string why = drain_errors();
      return fail(err, TlsErrorKind::kCertificate, certificate_refused(e, why));
    }
  }
  if (SSL_CTX_use_PrivateKey(x, creds.key.get()) != 1 || SSL_CTX_check_private_key(x) != 1) {
    std::string why = drain_errors();
    return fail(err, TlsErrorKind::kCertificate,
                "the private key cannot be used with the certificate (" + why + ")");
  }
  return true;
}

constexpr int kSecurityLevel = 2;

}  // namespace

TlsContext::~TlsContext() = default;

bool TlsContext::check_credentials(const Credentials& creds, TlsError* err) {
  ERR_clear_error();
  SslCtxPtr x(SSL_CTX_new(TLS_server_method()));
  if (!x) {
    ERR_clear_error();
    return fail(err, TlsErrorKind::kNoMemory, "out of memory");
  }
  SSL_CTX_set_security_level(x.get(), kSecurityLevel);
  bool ok = use_credentials(x.get(), creds, err);
  ERR_clear_error();
  return ok;
}

std::shared_ptr<const TlsContext> TlsContext::build(const TlsConfig& config, TlsError* err) {
  std::string init_error;
  if (!init_openssl(&init_error)) {
    fail(err, TlsErrorKind::kUnavailable, init_error);
    return nullptr;
  }
  if (!config.default_) {
    fail(err, TlsErrorKind::kConfig,
         "TLS is on but no certificate is set: call SetTlsCertificateFile or SetTlsCertificate");
    return nullptr;
  }
  if (config.client_cert_ != ClientCertMode::kNone && !config.client_ca_) {
    fail(err, TlsErrorKind::kConfig,
         "client certificates are asked for (TS_OPT_TLS_CLIENT_CERT) but no client CA is set: "
         "call SetTlsClientCA with the CA that issues them");
    return nullptr;
  }
  if (!config.ticket_keys_) {
    fail(err, config.ticket_error_.kind, config.ticket_error_.text);
    return nullptr;
  }
  ERR_clear_error();
  std::shared_ptr<TlsContext> ctx(new TlsContext());
  ctx->alpn_ = config.alpn_;
  ctx->ticket_keys_ = config.ticket_keys_;
  ctx->min_version_ = config.min_version_;
  ctx->client_cert_ = config.client_cert_;

  // One CA store and one CA name list, shared by every SSL_CTX of this snapshot.
  X509StorePtr store;
  X509NameStackPtr names;
  if (config.client_ca_) {
    store.reset(X509_STORE_new());
    names.reset(sk_X509_NAME_new_null());
    if (!store || !names) {
      fail(err, TlsErrorKind::kNoMemory, "out of memory");
      return nullptr;
    }
    for (const auto& ca : *config.client_ca_) {
      X509_STORE_add_cert(store.get(), ca.get());  // a duplicate is harmless
      X509_NAME* n = X509_NAME_dup(X509_get_subject_name(ca.get()));
      if (!n || !sk_X509_NAME_push(names.get(), n)) {
        X509_NAME_free(n);
        fail(err, TlsErrorKind::kNoMemory, "out of memory");
        return nullptr;
      }
    }
    ERR_clear_error();
  }

  ctx->default_ctx_ = ctx->make_ctx(config, *config.default_, store.get(), names.get(), err);
  if (!ctx->default_ctx_) return nullptr;
  for (const TlsConfig::Named& n : config.names_) {
    SslCtxPtr c = ctx->make_ctx(config, *n.creds, store.get(), names.get(), err);
    if (!c) {
      if (err) err->text = "server name " + n.pattern + ": " + err->text;
      return nullptr;
    }
    size_t index = ctx->entries_.size();
    ctx->entries_.push_back(Entry{n.pattern, std::move(c)});
    if (n.pattern.compare(0, 2, "*.") == 0)
      ctx->wildcard_[n.pattern.substr(2)] = index;
    else
      ctx->exact_[n.pattern] = index;
  }
  return ctx;
}

SslCtxPtr TlsContext::make_ctx(const TlsConfig& config, const Credentials& creds,
                               X509_STORE* store, STACK_OF(X509_NAME)* ca_names,
                               TlsError* err) const {
  SslCtxPtr c(SSL_CTX_new(TLS_server_method()));
  if (!c) {
    fail(err, TlsErrorKind::kNoMemory, "out of memory");
    return nullptr;
  }
  SSL_CTX* x = c.get();
  SSL_CTX_set_min_proto_version(x, config.min_version_ == kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(x, TLS1_3_VERSION);
  // Level 2: RSA/DH >= 2048 bits, ECC >= 224, no SHA-1 signatures in the handshake. Set here
  // because no openssl.cnf (Debian sets 2 there) is ever read.
  SSL_CTX_set_security_level(x, kSecurityLevel);
  uint64_t options = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                     SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF |
                     SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
  SSL_CTX_set_options(x, options);
  if (!config.session_tickets_) {
    // TLS 1.2: no ticket extension. TLS 1.3 would still send (stateful) tickets with only
    // SSL_OP_NO_TICKET; with no session cache they could never resume, so send none.
    SSL_CTX_set_options(x, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(x, 0);
  }
  SSL_CTX_clear_options(x, SSL_OP_ALLOW_CLIENT_RENEGOTIATION | SSL_OP_LEGACY_SERVER_CONNECT);
  // Give OpenSSL's record buffers back whenever they are empty (an idle link keeps none).
  SSL_CTX_set_mode(x, SSL_MODE_RELEASE_BUFFERS);
  // Stateless tickets only: no server-side session cache to grow with the clients.
  SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_session_id_context(x, kSessionIdContext, sizeof kSessionIdContext - 1);

  std::string list12 = tls12_cipher_list(config.tls12_ciphers_);
  const char* list13 = config.tls13_suites_.empty() ? kDefaultTls13Suites
                                                     : config.tls13_suites_.c_str();
  if (SSL_CTX_set_cipher_list(x, list12.c_str()) != 1 || SSL_CTX_set_ciphersuites(x, list13) != 1) {
    std::string why = drain_errors();
    fail(err, TlsErrorKind::kConfig, "the cipher lists are not usable (" + why + ")");
    return nullptr;
  }

  if (!use_credentials(x, creds, err)) return nullptr;

  if (config.client_cert_ != ClientCertMode::kNone) {
    int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
    if (config.client_cert_ == ClientCertMode::kRequire) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(x, mode, nullptr);
    SSL_CTX_set_verify_depth(x, 10);
    X509NameStackPtr names(sk_X509_NAME_deep_copy(ca_names, X509_NAME_dup, X509_NAME_free));
    if (!names) {
      fail(err, TlsErrorKind::kNoMemory, "out of memory");
      return nullptr;
    }
    SSL_CTX_set1_cert_store(x, store);
    SSL_CTX_set_client_CA_list(x, names.release());
  }

  SSL_CTX_set_app_data(x, const_cast<TlsContext*>(this));
  SSL_CTX_set_client_hello_cb(x, &TlsContext::on_client_hello, nullptr);
  SSL_CTX_set_tlsext_servername_callback(x, &TlsContext::on_server_name);
  SSL_CTX_set_tlsext_servername_arg(x, const_cast<TlsContext*>(this));
  if (!alpn_.empty())
    SSL_CTX_set_alpn_select_cb(x, &TlsContext::on_alpn, const_cast<TlsContext*>(this));
  SSL_CTX_set_tlsext_ticket_key_evp_cb(x, &TlsContext::on_ticket);
  ERR_clear_error();
  return c;
}

SSL* TlsContext::new_ssl(HandshakeNotes* notes) const {
  SSL* ssl = SSL_new(default_ctx_.get());
  if (!ssl) {
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_app_data(ssl, notes);
  SSL_set_accept_state(ssl);
  return ssl;
}

const SSL_CTX* TlsContext::find(const std::string& host, const std::string** pattern) const {
  auto it = exact_.find(host);
  if (it == exact_.end()) {
    size_t dot = host.find('.');
    if (dot != std::string::npos && dot > 0) it = wildcard_.find(host.substr(dot + 1));
    if (it == wildcard_.end()) return nullptr;
  }
  *pattern = &entries_[it->second].pattern;
  return entries_[it->second].ctx.get();
}

std::string TlsContext::pattern_for(const char* host) const {
  const std::string* pattern = nullptr;
  return find(lower(host), &pattern) ? *pattern : std::string();
}

int TlsContext::on_client_hello(SSL* ssl, int*, void*) {
  if (auto* notes = static_cast<HandshakeNotes*>(SSL_get_app_data(ssl))) notes->hello_seen = true;
  return SSL_CLIENT_HELLO_SUCCESS;
}

int TlsContext::on_server_name(SSL* ssl, int*, void* arg) {
  const TlsContext* self = static_cast<const TlsContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name || !*name) return SSL_TLSEXT_ERR_NOACK;
  std::string host = lower(name);
  auto* notes = static_cast<HandshakeNotes*>(SSL_get_app_data(ssl));
  if (notes) notes->server_name = name;
  const std::string* pattern = nullptr;
  const SSL_CTX* c = self->find(host, &pattern);
  if (c) {
    if (!SSL_set_SSL_CTX(ssl, const_cast<SSL_CTX*>(c))) return SSL_TLSEXT_ERR_ALERT_FATAL;
    if (notes) notes->matched_pattern = *pattern;
  }
  return SSL_TLSEXT_ERR_OK;
}

int TlsContext::on_alpn(SSL*, const unsigned char** out, unsigned char* outlen,
                        const unsigned char* in, unsigned int inlen, void* arg) {
  const TlsContext* self = static_cast<const TlsContext*>(arg);
  // The server's order of preference: the first of ours the client offers.
  for (const std::string& mine : self->alpn_) {
    unsigned int i = 0;
    while (i < inlen) {
      unsigned int n = in[i];
      if (n == 0 || i + 1 + n > inlen) break;  // malformed: OpenSSL checks first, be safe
      if (n == mine.size() && std::memcmp(in + i + 1, mine.data(), n) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(n);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + n;
    }
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol (RFC 7301)
}

int TlsContext::on_ticket(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                          EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int enc) {
  const TlsContext* self = static_cast<const TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (!self || !self->ticket_keys_) return enc ? -1 : 0;
  return self->ticket_keys_->on_ticket(key_name, iv, cctx, hctx, enc);
}

}  // namespace tls
}  // namespace ts
