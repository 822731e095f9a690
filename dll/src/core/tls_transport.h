// TlsTransport: the TLS transport stage of one link (core/transport.h) over the TLS layer's
// session (tls/tls_session.h). Owned by its Link (Link::transport); every call under link.mu.
#pragma once
#include <memory>
#include <string>

#include "core/transport.h"
#include "tls/tls_session.h"

namespace ts {

class TlsTransport final : public Transport {
 public:
  explicit TlsTransport(std::unique_ptr<tls::TlsSession> session) : session_(std::move(session)) {}

  Result receive(const uint8_t* in, size_t n, uint8_t* out, size_t cap) override;
  bool seal(const uint8_t* data, size_t len) override;
  void shutdown() override { session_->shutdown(); }
  SendItem* take_output() override;
  bool has_output() const override { return session_->pending_output() != 0; }
  bool established() const override { return session_->handshake_done(); }
  int32_t failure_cause() const override { return static_cast<int32_t>(session_->cause()); }
  const char* failure_text() const override { return session_->failure_text().c_str(); }
  size_t memory_estimate() const override { return session_->memory_estimate(); }

  std::string info(int32_t what) const { return session_->info(static_cast<tls::TlsInfo>(what)); }
  bool resumed() const { return session_->resumed(); }

 private:
  std::unique_ptr<tls::TlsSession> session_;
};

}  // namespace ts
