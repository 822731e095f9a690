// TlsTransport (core/tls_transport.h): maps the TLS session's calls onto the transport stage.
// The link's owner (receive) or any sending thread (seal, take_output), always under link.mu.
#include "core/tls_transport.h"

#include <cstring>

namespace ts {

Transport::Result TlsTransport::receive(const uint8_t* in, size_t n, uint8_t* out, size_t cap) {
  tls::TlsSession::Result r = session_->receive(in, n, out, cap);
  Status status = Status::kFailed;
  switch (r.status) {
    case tls::TlsSession::Status::kNeedInput: status = Status::kNeedInput; break;
    case tls::TlsSession::Status::kMore: status = Status::kMore; break;
    case tls::TlsSession::Status::kHandshakeDone: status = Status::kEstablished; break;
    case tls::TlsSession::Status::kPeerClosed: status = Status::kPeerClosed; break;
    case tls::TlsSession::Status::kFailed: status = Status::kFailed; break;
  }
  return Result{status, r.consumed, r.produced};
}

bool TlsTransport::seal(const uint8_t* data, size_t len) { return session_->write(data, len); }

// The session's ciphertext, copied once into a block the send queue owns: the session's own
// output queue is then empty again (an idle link holds nothing there).
SendItem* TlsTransport::take_output() {
  const size_t total = session_->pending_output();
  if (total == 0) return nullptr;
  SharedBlock* block = SharedBlock::create(nullptr, static_cast<uint32_t>(total));
  if (!block) return nullptr;  // the output stays pending: the core closes the link
  SendItem* item = SendItem::for_block(block, block->data(), static_cast<uint32_t>(total));
  block->unref();  // the item holds the only reference now
  if (!item) return nullptr;
  tls::ByteSpan pieces[16];
  size_t copied = 0;
  while (copied < total) {
    size_t count = session_->output_pieces(pieces, 16);
    size_t taken = 0;
    for (size_t i = 0; i < count; ++i) {
      std::memcpy(block->data() + copied + taken, pieces[i].data, pieces[i].size);
      taken += pieces[i].size;
    }
    session_->consume_output(taken);
    copied += taken;
  }
  return item;
}

}  // namespace ts
