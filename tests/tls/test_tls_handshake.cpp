// TlsSession handshakes and data, no sockets: TLS 1.3 (ECDSA) and TLS 1.2 (RSA) with an
// OpenSSL client in memory, the handshake fed one byte at a time, large transfers through a
// small output buffer, the version floor (TLS 1.0/1.1 never; 1.2 refused when the minimum is
// 1.3), and what the session reports before and after the handshake.
#include <gtest/gtest.h>

#include "tls_test_support.h"

using namespace tstest;
using ts::tls::TlsInfo;
using ts::tls::TlsSession;
using ts::tls::TlsCause;

namespace {

std::shared_ptr<const ts::tls::TlsContext> ec_context() {
  std::string why;
  auto ctx = build(config_with(pki().server_ec, &why), &why);
  EXPECT_TRUE(ctx) << why;
  return ctx;
}

// Echo check: client -> server plaintext, then server -> client.
void expect_both_ways(TestClient& c, TlsSession& s, const std::string& data) {
  ASSERT_TRUE(c.write(data));
  ServerEvents ev;
  to_server(s, c.take_output(), &ev);
  EXPECT_TRUE(ev.violations.empty()) << ev.violations.front();
  EXPECT_EQ(ev.plain, data);
  ASSERT_TRUE(s.write(ev.plain.data(), ev.plain.size()));
  std::string back;
  server_to_client(c, s, &back);
  EXPECT_EQ(back, data);
}

}  // namespace

TEST(TlsHandshakeTest, Tls13WithEcdsaCompletesAndCarriesDataBothWays) {
  auto s = session(ec_context());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->info(TlsInfo::kProtocol), "");  // nothing before the handshake
  TestClient c(trusting_ca("localhost"));
  ServerEvents ev;
  ASSERT_TRUE(handshake(c, *s, &ev)) << c.error() << " / " << s->failure_text();
  EXPECT_TRUE(ev.violations.empty());
  EXPECT_TRUE(s->handshake_done());
  EXPECT_FALSE(s->resumed());
  EXPECT_EQ(s->info(TlsInfo::kProtocol), "TLSv1.3");
  EXPECT_EQ(s->info(TlsInfo::kCipher), "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(s->info(TlsInfo::kResumed), "0");
  EXPECT_EQ(s->info(TlsInfo::kVerifyResult), "none");
  EXPECT_EQ(SSL_get_verify_result(c.ssl()), X509_V_OK);  // the client checked our certificate
  expect_both_ways(c, *s, "hello over TLS 1.3");
}

TEST(TlsHandshakeTest, Tls12WithRsaCompletesWithAForwardSecretAeadSuite) {
  std::string why;
  auto ctx = build(config_with(pki().server_rsa, &why), &why);
  ASSERT_TRUE(ctx) << why;
  auto s = session(ctx);
  ClientOptions o = trusting_ca("rsa.test");
  o.max_version = TLS1_2_VERSION;
  TestClient c(o);
  ServerEvents ev;
  ASSERT_TRUE(handshake(c, *s, &ev)) << c.error() << " / " << s->failure_text();
  EXPECT_EQ(s->info(TlsInfo::kProtocol), "TLSv1.2");
  EXPECT_EQ(s->info(TlsInfo::kCipher), "ECDHE-RSA-AES128-GCM-SHA256");
  expect_both_ways(c, *s, std::string(5000, 'x'));
}

TEST(TlsHandshakeTest, HandshakeFedOneByteAtATimeCompletes) {
  auto s = session(ec_context());
  TestClient c(trusting_ca());
  ServerEvents ev;
  ASSERT_TRUE(handshake(c, *s, &ev, 1)) << c.error() << " / " << s->failure_text();
  EXPECT_TRUE(ev.violations.empty()) << ev.violations.front();
  // Records split into single bytes after the handshake too.
  ASSERT_TRUE(c.write("split into single bytes"));
  ServerEvents data;
  to_server(*s, c.take_output(), &data, 1);
  EXPECT_EQ(data.plain, "split into single bytes");
  EXPECT_TRUE(data.violations.empty());
}

TEST(TlsHandshakeTest, TheFirstRecordInTheSameReadAsTheFinishedComesAfterHandshakeDone) {
  auto s = session(ec_context());
  TestClient c(trusting_ca());
  ASSERT_EQ(c.handshake(), 0);
  ServerEvents ev;
  to_server(*s, c.take_output(), &ev);
  c.give_input(from_server(*s));
  ASSERT_EQ(c.handshake(), 1);
  ASSERT_TRUE(c.write("early"));
  std::string finished_and_data = c.take_output();  // client Finished + a data record, one read
  std::vector<uint8_t> out(100);
  const uint8_t* p = reinterpret_cast<const uint8_t*>(finished_and_data.data());
  TlsSession::Result r = s->receive(p, finished_and_data.size(), out.data(), out.size());
  ASSERT_EQ(r.status, TlsSession::Status::kHandshakeDone);
  EXPECT_EQ(r.produced, 0u);  // OnConnect must run before the first OnReceive
  EXPECT_LT(r.consumed, finished_and_data.size());
  TlsSession::Result r2 =
      s->receive(p + r.consumed, finished_and_data.size() - r.consumed, out.data(), out.size());
  EXPECT_EQ(r2.status, TlsSession::Status::kNeedInput);
  EXPECT_EQ(r.consumed + r2.consumed, finished_and_data.size());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(out.data()), r2.produced), "early");
}

TEST(TlsHandshakeTest, LargeTransfersPassThroughASmallOutputBufferAndFeed) {
  auto s = session(ec_context());
  TestClient c(trusting_ca());
  ServerEvents ev;
  ASSERT_TRUE(handshake(c, *s, &ev));
  std::string big = pattern_bytes(1 << 20, 42);
  ASSERT_TRUE(c.write(big));
  // Through feed() (copied into the session) and a 1000-byte plaintext buffer: kMore repeats.
  std::string cipher = c.take_output();
  ASSERT_TRUE(s->feed(cipher.data(), cipher.size()));
  EXPECT_EQ(s->buffered_input(), cipher.size());
  ServerEvents data;
  to_server(*s, std::string(), &data, SIZE_MAX, 1000);
  EXPECT_TRUE(data.violations.empty()) << data.violations.front();
  EXPECT_EQ(data.plain.size(), big.size());
  EXPECT_TRUE(data.plain == big);
  EXPECT_EQ(s->buffered_input(), 0u);
  // And back: 1 MiB encrypted into the session's output queue.
  ASSERT_TRUE(s->write(big.data(), big.size()));
  EXPECT_GT(s->pending_output(), big.size());
  std::string back;
  server_to_client(c, *s, &back);
  EXPECT_TRUE(back == big);
  EXPECT_EQ(s->pending_output(), 0u);
}

TEST(TlsHandshakeTest, AKeyUpdateFromTheClientIsAnsweredWithTheNextWrite) {
  auto s = session(ec_context());
  TestClient c(trusting_ca());
  ServerEvents ev;
  ASSERT_TRUE(handshake(c, *s, &ev));
  server_to_client(c, *s);  // tickets
  ASSERT_EQ(SSL_key_update(c.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
  ASSERT_TRUE(c.write("with new keys"));  // sends the KeyUpdate first
  ServerEvents data;
  to_server(*s, c.take_output(), &data);
  EXPECT_EQ(data.plain, "with new keys");
  // OpenSSL sends its own KeyUpdate before its next application data (RFC 8446 4.6.3), so a
  // write of 8 bytes yields two records: KeyUpdate (27 bytes) + data (30 bytes).
  EXPECT_EQ(s->pending_output(), 0u);
  ASSERT_TRUE(s->write("and back", 8));
  EXPECT_EQ(s->pending_output(), 27u + 30u);
  std::string back;
  server_to_client(c, *s, &back);
  EXPECT_EQ(back, "and back");
  EXPECT_FALSE(c.failed()) << c.error();
}

TEST(TlsHandshakeTest, Tls11AndTls10ClientsAreRefusedAsVersionFailures) {
  for (int v : {TLS1_1_VERSION, TLS1_VERSION}) {
    auto s = session(ec_context());
    ClientOptions o;
    o.min_version = v;
    o.max_version = v;
    o.security_level = 0;  // let the client offer what OpenSSL 3 otherwise forbids
    o.ciphers12 = "DEFAULT:@SECLEVEL=0";
    TestClient c(o);
    ServerEvents ev;
    EXPECT_FALSE(handshake(c, *s, &ev));
    EXPECT_TRUE(ev.failed);
    EXPECT_EQ(s->cause(), TlsCause::kVersion) << s->failure_text();
    EXPECT_NE(s->failure_text().find("TLS 1.2"), std::string::npos) << s->failure_text();
    EXPECT_EQ(c.handshake(), -1);  // the client got the server's alert
    EXPECT_NE(c.error().find("protocol version"), std::string::npos) << c.error();
  }
}

TEST(TlsHandshakeTest, MinimumVersion13RefusesATls12Client) {
  std::string why;
  ts::tls::TlsConfig cfg = config_with(pki().server_ec, &why);
  ts::tls::TlsError err;
  ASSERT_TRUE(cfg.set_min_version(ts::tls::kTls13, &err));
  EXPECT_FALSE(cfg.set_min_version(11, &err));
  EXPECT_NE(err.text.find("never"), std::string::npos) << err.text;
  EXPECT_EQ(cfg.min_version(), ts::tls::kTls13);  // the refused call changed nothing
  auto s = session(build(cfg));
  ClientOptions o;
  o.max_version = TLS1_2_VERSION;
  TestClient c(o);
  ServerEvents ev;
  EXPECT_FALSE(handshake(c, *s, &ev));
  EXPECT_EQ(s->cause(), TlsCause::kVersion);
  EXPECT_NE(s->failure_text().find("TLS 1.3"), std::string::npos) << s->failure_text();
}

TEST(TlsHandshakeTest, WriteBeforeTheHandshakeIsRefusedAndQueuesNothing) {
  auto s = session(ec_context());
  EXPECT_FALSE(s->write("x", 1));
  EXPECT_EQ(s->pending_output(), 0u);
  s->shutdown();  // no close_notify before the handshake
  EXPECT_EQ(s->pending_output(), 0u);
}
