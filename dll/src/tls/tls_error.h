// ts::tls::TlsError: what a failing TLS configuration call reports — a kind the engine maps to
// one of its error codes (proposed: TS_ERR_TLS_CERTIFICATE, TS_ERR_TLS_CONFIG, ...; see
// docs/tls-api-proposal.md) and a sentence for the user saying what failed and what to do.
// A plain value; no thread concerns.
#pragma once
#include <string>

namespace ts {
namespace tls {

enum class TlsErrorKind {
  kNone = 0,
  kCertificate,  // certificate/key/CA data or file: unreadable, wrong password, mismatch ...
  kConfig,       // a setting: cipher list, ALPN list, host pattern, ticket keys, version ...
  kNoMemory,     // out of memory
  kUnavailable,  // OpenSSL could not start
};

struct TlsError {
  TlsErrorKind kind = TlsErrorKind::kNone;
  std::string text;

  // Records the error; returns false so a failing path can `return err->fail(...)`.
  bool fail(TlsErrorKind k, std::string t) {
    kind = k;
    text = std::move(t);
    return false;
  }
};

// Sets *err (when err is not null) and returns false.
inline bool fail(TlsError* err, TlsErrorKind kind, std::string text) {
  if (err) err->fail(kind, std::move(text));
  return false;
}

}  // namespace tls
}  // namespace ts
