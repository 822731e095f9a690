// Session resumption with stateless tickets: TLS 1.3 and 1.2, across a rebuild of the context
// (a certificate reload must not cost every client a full handshake), across two servers that
// share ticket keys (nodes behind a balancer), key rotation (an old key second still opens its
// tickets), and no resumption between servers with different keys or with tickets off.
#include <gtest/gtest.h>

#include "tls_test_support.h"

using namespace tstest;
using ts::tls::TlsConfig;
using ts::tls::TlsError;
using ts::tls::TlsInfo;

namespace {

// A full handshake against ctx, then returns the client's session (with the server's ticket).
SSL_SESSION* first_session(std::shared_ptr<const ts::tls::TlsContext> ctx, int max_version) {
  auto s = session(ctx);
  ClientOptions o;
  o.max_version = max_version;
  TestClient c(o);
  ServerEvents ev;
  if (!handshake(c, *s, &ev)) return nullptr;
  EXPECT_FALSE(s->resumed());
  // TLS 1.3 tickets come after the handshake: let the client read them.
  server_to_client(c, *s);
  SSL_SESSION* sess = c.session();
  EXPECT_TRUE(sess && SSL_SESSION_is_resumable(sess) && SSL_SESSION_has_ticket(sess));
  // A clean close: OpenSSL marks a client's session not resumable when its SSL is freed
  // without close_notify.
  SSL_shutdown(c.ssl());
  return sess;
}

// Whether a second connection with `sess` against ctx was resumed (and still works).
bool resumes(std::shared_ptr<const ts::tls::TlsContext> ctx, SSL_SESSION* sess, int max_version) {
  auto s = session(ctx);
  ClientOptions o;
  o.max_version = max_version;
  o.session = sess;
  TestClient c(o);
  ServerEvents ev;
  EXPECT_TRUE(handshake(c, *s, &ev)) << s->failure_text() << c.error();
  EXPECT_EQ(s->resumed(), SSL_session_reused(c.ssl()) == 1);
  EXPECT_EQ(s->info(TlsInfo::kResumed), s->resumed() ? "1" : "0");
  EXPECT_TRUE(c.write("after resumption"));
  ServerEvents data;
  to_server(*s, c.take_output(), &data);
  EXPECT_EQ(data.plain, "after resumption");
  SSL_shutdown(c.ssl());  // else OpenSSL marks `sess` itself not resumable when c is freed
  return s->resumed();
}

std::string key_bytes(uint8_t seed, int count = 1) {
  std::string k;
  for (int i = 0; i < count; ++i) k += pattern_bytes(80, seed + i);
  return k;
}

}  // namespace

TEST(TlsResumptionTest, Tls13And12ResumeFromTicketsAndAcrossARebuild) {
  TlsConfig cfg = config_with(pki().server_ec);
  for (int v : {0, TLS1_2_VERSION}) {
    SCOPED_TRACE(v);
    auto ctx = build(cfg);
    SSL_SESSION* sess = first_session(ctx, v);
    ASSERT_TRUE(sess);
    EXPECT_TRUE(resumes(ctx, sess, v));
    // A rebuild (what a certificate reload does) keeps the ticket keys.
    EXPECT_TRUE(resumes(build(cfg), sess, v));
    SSL_SESSION_free(sess);
  }
}

TEST(TlsResumptionTest, TwoServersWithTheSameTicketKeysResumeEachOthersSessions) {
  TlsConfig a = config_with(pki().server_ec), b = config_with(pki().server_ec);
  TlsError err;
  std::string keys = key_bytes(10);
  ASSERT_TRUE(a.set_ticket_keys(keys.data(), keys.size(), &err)) << err.text;
  ASSERT_TRUE(b.set_ticket_keys(keys.data(), keys.size(), &err)) << err.text;
  TlsConfig c = config_with(pki().server_ec);  // its own random key
  for (int v : {0, TLS1_2_VERSION}) {
    SCOPED_TRACE(v);
    SSL_SESSION* sess = first_session(build(a), v);
    ASSERT_TRUE(sess);
    EXPECT_TRUE(resumes(build(b), sess, v));
    EXPECT_FALSE(resumes(build(c), sess, v));  // a full handshake, not an error
    SSL_SESSION_free(sess);
  }
}

TEST(TlsResumptionTest, RotatedKeysStillOpenTicketsOfTheOldKeyWhileItIsListed) {
  TlsConfig cfg = config_with(pki().server_ec);
  TlsError err;
  std::string old_key = key_bytes(20), new_key = key_bytes(30);
  ASSERT_TRUE(cfg.set_ticket_keys(old_key.data(), old_key.size(), &err));
  SSL_SESSION* sess = first_session(build(cfg), 0);
  ASSERT_TRUE(sess);
  std::string both = new_key + old_key;
  ASSERT_TRUE(cfg.set_ticket_keys(both.data(), both.size(), &err)) << err.text;
  EXPECT_TRUE(resumes(build(cfg), sess, 0));
  ASSERT_TRUE(cfg.set_ticket_keys(new_key.data(), new_key.size(), &err));
  EXPECT_FALSE(resumes(build(cfg), sess, 0));
  SSL_SESSION_free(sess);
}

TEST(TlsResumptionTest, BadTicketKeysAreRefusedAndTicketsCanBeTurnedOff) {
  TlsConfig cfg = config_with(pki().server_ec);
  TlsError err;
  std::string short_key(79, 'k');
  EXPECT_FALSE(cfg.set_ticket_keys(short_key.data(), short_key.size(), &err));
  EXPECT_NE(err.text.find("80 bytes"), std::string::npos) << err.text;
  std::string twins = key_bytes(5) + key_bytes(5);
  EXPECT_FALSE(cfg.set_ticket_keys(twins.data(), twins.size(), &err));
  EXPECT_NE(err.text.find("same 16-byte name"), std::string::npos) << err.text;

  cfg.set_session_tickets(false);
  auto ctx = build(cfg);
  auto s = session(ctx);
  TestClient c(ClientOptions{});
  ServerEvents ev;
  ASSERT_TRUE(handshake(c, *s, &ev));
  server_to_client(c, *s);
  SSL_SESSION* sess = c.session();
  ASSERT_TRUE(sess);
  EXPECT_FALSE(SSL_SESSION_has_ticket(sess));  // no ticket was issued
  SSL_SESSION_free(sess);
}
