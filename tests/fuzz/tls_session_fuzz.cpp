// libFuzzer target for ts::tls::TlsSession (dll/src/tls/tls_session.h): random bytes, cut into
// random pieces, fed to a server-side session as the client's ciphertext — from the first byte
// (garbage instead of a ClientHello), after a real ClientHello (a broken second flight), or
// after a real TLS 1.3 / TLS 1.2 handshake (random records on an established link). Between
// pieces it drains the output, sometimes writes plaintext and sometimes shuts down, as the
// engine would.
//
// Checked on every call (abort on a breach): never more consumed than given nor more produced
// than room; kNeedInput only when every byte was taken; kHandshakeDone at most once and never
// with plaintext; a failed session stays failed (consumes nothing, says why, has a cause); a
// peer close stays closed; memory_estimate() covers what is queued; and, under ASan, nothing
// leaks once the session is gone.
//
// Input layout: byte 0 picks the mode (% 4), bytes 1..4 seed the cuts and actions; the rest is
// the stream.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "tls_test_support.h"

namespace {

using ts::tls::TlsCause;
using ts::tls::TlsSession;

constexpr const char* kFuzzTarget = "tls_session_fuzz";
using fuzzcheck::Rng;
using fuzzcheck::violated;

std::shared_ptr<const ts::tls::TlsContext> context() {
  static auto ctx = [] {
    ts::tls::TlsConfig cfg = tstest::config_with(tstest::pki().server_ec);
    ts::tls::TlsError err;
    cfg.set_alpn("h2,http/1.1", &err);
    return tstest::build(cfg);
  }();
  return ctx;
}

// Drains the output as a backend would: pieces, partial consumes.
void drain(TlsSession& s, Rng& rng) {
  ts::tls::ByteSpan pieces[4];
  while (s.pending_output() > 0) {
    size_t n = s.output_pieces(pieces, 4);
    CHECK(n > 0);
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) total += pieces[i].size;
    CHECK(total <= s.pending_output());
    CHECK(s.memory_estimate() >= s.pending_output());
    s.consume_output(1 + rng.next() % total);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  int mode = data[0] % 4;
  Rng rng{(uint32_t(data[1]) << 24 | uint32_t(data[2]) << 16 | uint32_t(data[3]) << 8 | data[4]) | 1};
  const uint8_t* stream = data + 5;
  size_t len = size - 5;

  std::unique_ptr<TlsSession> s = tstest::session(context());
  CHECK(s);
  int handshakes = 0;
  std::unique_ptr<tstest::TestClient> client;
  if (mode >= 1) {
    tstest::ClientOptions o;
    if (mode == 3) o.max_version = TLS1_2_VERSION;
    client.reset(new tstest::TestClient(o));
    tstest::ServerEvents ev;
    if (mode == 1) {
      // Only the real ClientHello; the fuzz bytes are the client's second flight.
      client->handshake();
      tstest::to_server(*s, client->take_output(), &ev);
      CHECK(!ev.failed);
    } else {
      CHECK(tstest::handshake(*client, *s, &ev));
      handshakes = 1;
    }
    CHECK(ev.violations.empty());
    tstest::from_server(*s);
  }

  std::vector<uint8_t> out(1 + rng.next() % 20000);
  size_t pos = 0;
  bool shut = false;
  bool last = false;  // one more round with no new input: what feed() stored gets read
  while (pos < len || !last) {
    if (pos == len) last = true;
    size_t piece = 1 + rng.next() % (rng.next() % 4 == 0 ? 4096 : 64);
    if (piece > len - pos) piece = len - pos;
    size_t off = 0;
    for (int guard = 0;; ++guard) {
      CHECK(guard < 100000);
      bool was_failed = s->failed(), was_closed = s->peer_closed();
      TlsSession::Result r = s->receive(stream + pos + off, piece - off, out.data(), out.size());
      CHECK(r.consumed <= piece - off);
      CHECK(r.produced <= out.size());
      off += r.consumed;
      if (was_failed) CHECK(r.status == TlsSession::Status::kFailed && r.consumed == 0);
      if (was_closed) CHECK(r.status == TlsSession::Status::kPeerClosed && r.consumed == 0);
      if (r.status == TlsSession::Status::kHandshakeDone) {
        CHECK(++handshakes == 1);
        CHECK(r.produced == 0);
        CHECK(s->handshake_done());
        continue;
      }
      if (r.status == TlsSession::Status::kMore) continue;
      if (r.status == TlsSession::Status::kNeedInput) CHECK(off == piece);
      if (r.status == TlsSession::Status::kFailed) {
        CHECK(s->failed());
        CHECK(s->cause() != TlsCause::kNone);
        CHECK(!s->failure_text().empty());
      }
      break;
    }
    pos += piece;
    uint32_t action = rng.next() % 16;
    if (action == 0 && s->handshake_done()) {
      std::string reply = tstest::pattern_bytes(1 + rng.next() % 3000, rng.next());
      size_t queued_before = s->pending_output();
      bool ok = s->write(reply.data(), reply.size());
      if (ok) CHECK(s->pending_output() > queued_before);
      else CHECK(s->failed() || shut);  // refused only after a failure or our close_notify
    } else if (action == 1) {
      s->shutdown();
      shut = s->handshake_done() || shut;
    } else if (action == 2 && pos < len && !last) {
      // The copying path: the rest of this piece's neighbour goes through feed().
      size_t n = std::min<size_t>(len - pos, 1 + rng.next() % 100);
      CHECK(s->feed(stream + pos, n));
      CHECK(s->buffered_input() >= n);
      pos += n;
    }
    drain(*s, rng);
    for (int i = 0; i < ts::tls::kTlsInfoCount; ++i) s->info(static_cast<ts::tls::TlsInfo>(i));
  }
  CHECK(handshakes <= 1);
  if (!s->failed() && !s->peer_closed()) CHECK(s->buffered_input() == 0);
  return 0;
}
