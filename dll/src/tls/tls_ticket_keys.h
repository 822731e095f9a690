// Session-ticket keys (RFC 5077 / TLS 1.3 stateless tickets) and the OpenSSL 3 callback that
// encrypts and decrypts tickets with them.
//
// Why our own keys rather than OpenSSL's: OpenSSL keeps per-SSL_CTX random keys, so every
// certificate reload (a new SSL_CTX) and every node behind a balancer would reject the others'
// tickets. A TicketKeys set belongs to a server's TLS settings: random at creation (kept across
// reloads), or set by the user (SetTlsTicketKeys) so several nodes resume each other's sessions.
//
// Format of user keys: one or more 80-byte keys back to back (nginx's 80-byte
// ssl_session_ticket_key format): 16-byte key name, 32-byte HMAC-SHA256 secret, 32-byte
// AES-256-CBC key. The first key encrypts new tickets; every key decrypts (so keys can be
// rotated: put the new key first, keep the old one second until its tickets expire; a ticket
// opened with a second key is renewed with the first).
//
// Immutable once built; the callback runs on whatever thread drives the handshake, reading only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tls/tls_error.h"
#include "tls/tls_openssl.h"

namespace ts {
namespace tls {

class TicketKeys {
 public:
  static constexpr size_t kKeyBytes = 80;
  static constexpr size_t kMaxKeys = 16;

  // One random key; nullptr if the random generator fails.
  static std::shared_ptr<const TicketKeys> random(TlsError* err);
  // Parses user keys (len a multiple of 80, 1..16 keys).
  static std::shared_ptr<const TicketKeys> parse(const void* data, size_t len, TlsError* err);

  ~TicketKeys();
  size_t count() const { return keys_.size(); }

  // The work of SSL_CTX_set_tlsext_ticket_key_evp_cb's callback (TlsContext::on_ticket finds
  // the keys of the handshake's context and forwards here). Returns what OpenSSL expects:
  // 1 ok, 2 ok but renew the ticket (a second key opened it), 0 unknown key, -1 error.
  int on_ticket(unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cctx,
                EVP_MAC_CTX* hctx, int enc) const;

 private:
  struct Key {
    uint8_t name[16];
    uint8_t hmac[32];
    uint8_t aes[32];
  };
  TicketKeys() = default;
  bool fetch(TlsError* err);

  std::vector<Key> keys_;
  CipherPtr cipher_;  // AES-256-CBC, fetched once
};

}  // namespace tls
}  // namespace ts
