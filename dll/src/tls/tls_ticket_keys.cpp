// Session-ticket keys and OpenSSL's ticket callback (see tls_ticket_keys.h). Immutable after
// construction; the callback reads only, from any handshaking thread.
#include "tls/tls_ticket_keys.h"

#include <cstring>

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

namespace ts {
namespace tls {

TicketKeys::~TicketKeys() {
  if (!keys_.empty()) OPENSSL_cleanse(keys_.data(), keys_.size() * sizeof(Key));
}

bool TicketKeys::fetch(TlsError* err) {
  cipher_.reset(EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr));
  if (!cipher_) {
    std::string why = drain_errors();
    return fail(err, TlsErrorKind::kUnavailable, "AES-256-CBC is not available (" + why + ")");
  }
  return true;
}

std::shared_ptr<const TicketKeys> TicketKeys::random(TlsError* err) {
  std::string init_error;
  if (!init_openssl(&init_error)) {
    fail(err, TlsErrorKind::kUnavailable, init_error);
    return nullptr;
  }
  std::shared_ptr<TicketKeys> k(new TicketKeys());
  k->keys_.resize(1);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(k->keys_.data()), sizeof(Key)) != 1) {
    std::string why = drain_errors();
    fail(err, TlsErrorKind::kUnavailable, "no random bytes for the session-ticket key (" + why + ")");
    return nullptr;
  }
  if (!k->fetch(err)) return nullptr;
  return k;
}

std::shared_ptr<const TicketKeys> TicketKeys::parse(const void* data, size_t len, TlsError* err) {
  std::string init_error;
  if (!init_openssl(&init_error)) {
    fail(err, TlsErrorKind::kUnavailable, init_error);
    return nullptr;
  }
  if (!data || len == 0 || len % kKeyBytes != 0 || len / kKeyBytes > kMaxKeys) {
    fail(err, TlsErrorKind::kConfig,
         "session-ticket keys must be 1 to 16 keys of 80 bytes each (16-byte name, 32-byte "
         "HMAC secret, 32-byte AES key), got " + std::to_string(len) + " bytes");
    return nullptr;
  }
  static_assert(sizeof(Key) == kKeyBytes, "Key is the 80-byte wire format");
  std::shared_ptr<TicketKeys> k(new TicketKeys());
  k->keys_.resize(len / kKeyBytes);
  std::memcpy(k->keys_.data(), data, len);
  for (size_t i = 0; i < k->keys_.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (std::memcmp(k->keys_[i].name, k->keys_[j].name, 16) == 0) {
        fail(err, TlsErrorKind::kConfig,
             "two session-ticket keys have the same 16-byte name (keys " + std::to_string(j + 1) +
                 " and " + std::to_string(i + 1) + "): each key needs its own name");
        return nullptr;
      }
  if (!k->fetch(err)) return nullptr;
  return k;
}

int TicketKeys::on_ticket(unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cctx,
                          EVP_MAC_CTX* hctx, int enc) const {
  const Key* key = nullptr;
  int found = 1;
  if (enc) {
    key = &keys_[0];
    std::memcpy(key_name, key->name, 16);
    if (RAND_bytes(iv, 16) != 1) return -1;
  } else {
    for (size_t i = 0; i < keys_.size(); ++i)
      if (std::memcmp(key_name, keys_[i].name, 16) == 0) {
        key = &keys_[i];
        found = i == 0 ? 1 : 2;  // 2: decrypts, but issue a new ticket under the first key
        break;
      }
    if (!key) return 0;  // unknown key: full handshake, no error
  }
  OSSL_PARAM params[3];
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                                const_cast<uint8_t*>(key->hmac), 32);
  params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                               const_cast<char*>("SHA256"), 0);
  params[2] = OSSL_PARAM_construct_end();
  if (!EVP_MAC_CTX_set_params(hctx, params)) return -1;
  int ok = enc ? EVP_EncryptInit_ex(cctx, cipher_.get(), nullptr, key->aes, iv)
               : EVP_DecryptInit_ex(cctx, cipher_.get(), nullptr, key->aes, iv);
  return ok == 1 ? found : -1;
}

}  // namespace tls
}  // namespace ts
