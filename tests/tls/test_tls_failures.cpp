// How a TlsSession fails and ends, cause by cause: garbage or plain HTTP instead of a
// ClientHello, no shared cipher, a client that rejects our certificate (peer alert), garbage
// records after a good handshake (an alert goes out), close_notify in the middle of a stream
// (the data before it is delivered, nothing after), our own close_notify, a client trying to
// renegotiate, and a failed session staying failed.
#include <gtest/gtest.h>

#include "tls_test_support.h"

using namespace tstest;
using ts::tls::TlsCause;
using ts::tls::TlsSession;

namespace {

std::shared_ptr<const ts::tls::TlsContext> ctx() {
  static auto c = build(config_with(pki().server_ec));
  return c;
}

std::unique_ptr<TlsSession> established(TestClient& c) {
  auto s = session(ctx());
  ServerEvents ev;
  EXPECT_TRUE(handshake(c, *s, &ev)) << s->failure_text();
  return s;
}

}  // namespace

TEST(TlsFailureTest, GarbageInsteadOfAClientHelloIsNotTls) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    auto s = session(ctx());
    ServerEvents ev;
    to_server(*s, pattern_bytes(600, seed), &ev, 1 + seed * 7);
    ASSERT_TRUE(ev.failed) << "seed " << seed;
    EXPECT_EQ(s->cause(), TlsCause::kNotTls) << seed << ": " << s->failure_text();
    EXPECT_EQ(ev.handshakes, 0);
    EXPECT_TRUE(ev.violations.empty());
    // Failed stays failed: nothing more is consumed.
    TlsSession::Result r = s->receive("x", 1, nullptr, 0);
    EXPECT_EQ(r.status, TlsSession::Status::kFailed);
    EXPECT_EQ(r.consumed, 0u);
  }
}

TEST(TlsFailureTest, PlainHttpOnTheTlsPortSaysSo) {
  auto s = session(ctx());
  ServerEvents ev;
  to_server(*s, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &ev);
  ASSERT_TRUE(ev.failed);
  EXPECT_EQ(s->cause(), TlsCause::kNotTls);
  EXPECT_NE(s->failure_text().find("plain HTTP"), std::string::npos) << s->failure_text();
  EXPECT_STREQ(ts::tls::cause_name(s->cause()), "not_tls");
}

TEST(TlsFailureTest, NoSharedCipherIsItsOwnCause) {
  auto s = session(ctx());
  ClientOptions o;
  o.max_version = TLS1_2_VERSION;
  o.ciphers12 = "AES128-SHA";  // RSA key exchange only: never enabled here
  TestClient c(o);
  ServerEvents ev;
  EXPECT_FALSE(handshake(c, *s, &ev));
  EXPECT_EQ(s->cause(), TlsCause::kNoSharedCipher) << s->failure_text();
}

TEST(TlsFailureTest, AClientThatRejectsOurCertificateIsAPeerAlert) {
  auto s = session(ctx());
  ClientOptions o;
  o.trust = pki().rogue_ca.cert.get();  // does not trust our CA
  TestClient c(o);
  ServerEvents ev;
  EXPECT_FALSE(handshake(c, *s, &ev));
  // The client's alert reaches the server with its next bytes.
  to_server(*s, c.take_output(), &ev);
  EXPECT_EQ(s->cause(), TlsCause::kPeerAlert) << s->failure_text();
  EXPECT_NE(s->failure_text().find("does not accept the server's certificate"), std::string::npos)
      << s->failure_text();
}

TEST(TlsFailureTest, GarbageRecordsAfterTheHandshakeAreABadRecordAndAnAlertGoesOut) {
  for (uint32_t seed = 1; seed <= 10; ++seed) {
    TestClient c(ClientOptions{});
    auto s = established(c);
    // A well-formed application-data header with a body that does not decrypt, then noise.
    std::string rec = std::string("\x17\x03\x03\x00\x40", 5) + pattern_bytes(64, seed);
    ServerEvents ev;
    to_server(*s, rec + pattern_bytes(100, seed + 50), &ev, seed);
    ASSERT_TRUE(ev.failed);
    EXPECT_EQ(s->cause(), TlsCause::kBadRecord) << s->failure_text();
    EXPECT_GT(s->pending_output(), 0u);  // the bad_record_mac alert
    c.give_input(from_server(*s));
    c.read();
    EXPECT_TRUE(c.failed());
    EXPECT_NE(c.error().find("bad record mac"), std::string::npos) << c.error();
    EXPECT_FALSE(s->write("x", 1));  // a failed session sends nothing more
  }
}

TEST(TlsFailureTest, CloseNotifyMidStreamDeliversWhatCameBeforeAndNothingAfter) {
  TestClient c(ClientOptions{});
  auto s = established(c);
  ASSERT_TRUE(c.write("last words"));
  SSL_shutdown(c.ssl());
  std::string bytes = c.take_output() + std::string("\x17\x03\x03\x00\x05zzzzz", 10);
  ServerEvents ev;
  to_server(*s, bytes, &ev, 3);
  EXPECT_EQ(ev.plain, "last words");
  EXPECT_TRUE(ev.peer_closed);
  EXPECT_FALSE(ev.failed);
  EXPECT_TRUE(s->peer_closed());
  EXPECT_EQ(s->cause(), TlsCause::kNone);
  TlsSession::Result r = s->receive("x", 1, nullptr, 0);
  EXPECT_EQ(r.status, TlsSession::Status::kPeerClosed);
  // Our answer: close_notify queued, never waited for.
  s->shutdown();
  EXPECT_GT(s->pending_output(), 0u);
}

TEST(TlsFailureTest, OurShutdownQueuesCloseNotifyOnceAndStopsWrites) {
  TestClient c(ClientOptions{});
  auto s = established(c);
  ASSERT_TRUE(s->write("bye", 3));
  s->shutdown();
  size_t queued = s->pending_output();
  s->shutdown();
  EXPECT_EQ(s->pending_output(), queued);
  EXPECT_FALSE(s->write("more", 4));
  std::string plain;
  server_to_client(c, *s, &plain);
  EXPECT_EQ(plain, "bye");
  EXPECT_TRUE(c.closed());  // the client saw close_notify
}

TEST(TlsFailureTest, ClientInitiatedRenegotiationIsRefused) {
  ClientOptions o;
  o.max_version = TLS1_2_VERSION;
  TestClient c(o);
  auto s = established(c);
  ASSERT_EQ(SSL_renegotiate(c.ssl()), 1);
  SSL_do_handshake(c.ssl());  // sends a new ClientHello
  ServerEvents ev;
  to_server(*s, c.take_output(), &ev);
  EXPECT_EQ(SSL_num_renegotiations(c.ssl()), 1);
  EXPECT_FALSE(ev.failed);      // the server declines (no_renegotiation warning) ...
  EXPECT_TRUE(s->write("still here", 10));  // ... and stays usable
  c.give_input(from_server(*s));
  EXPECT_NE(SSL_do_handshake(c.ssl()), 1);  // the client's renegotiation did not complete
  ERR_clear_error();
}
