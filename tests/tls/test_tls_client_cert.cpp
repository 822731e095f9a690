// Client certificates in each mode: none (not asked for), request (optional, but one that is
// sent must verify), require (a verified certificate or no handshake); the session reports
// subject, issuer, fingerprint and verification result; asking without a client CA is refused
// when the context is built.
#include <gtest/gtest.h>

#include "tls_test_support.h"

using namespace tstest;
using ts::tls::TlsCause;
using ts::tls::TlsConfig;
using ts::tls::TlsError;
using ts::tls::TlsInfo;

namespace {

std::shared_ptr<const ts::tls::TlsContext> mode_context(int mode) {
  TlsConfig cfg = config_with(pki().server_ec);
  TlsError err;
  std::string ca = pem(pki().client_ca.cert.get());
  EXPECT_TRUE(cfg.set_client_ca(ca.data(), ca.size(), &err)) << err.text;
  EXPECT_TRUE(cfg.set_client_cert_mode(mode, &err)) << err.text;
  std::string why;
  auto ctx = build(cfg, &why);
  EXPECT_TRUE(ctx) << why;
  return ctx;
}

struct Outcome {
  bool ok;
  std::unique_ptr<ts::tls::TlsSession> s;
};

Outcome connect(std::shared_ptr<const ts::tls::TlsContext> ctx, const KeyPair* cert,
                int max_version = 0) {
  Outcome o{false, session(ctx)};
  ClientOptions opt;
  opt.cert = cert;
  opt.max_version = max_version;
  TestClient c(opt);
  ServerEvents ev;
  o.ok = handshake(c, *o.s, &ev);
  return o;
}

}  // namespace

TEST(TlsClientCertTest, ModeNoneAsksForNothing) {
  auto ctx = mode_context(0);
  Outcome o = connect(ctx, &pki().client);
  ASSERT_TRUE(o.ok) << o.s->failure_text();
  EXPECT_EQ(o.s->info(TlsInfo::kClientSubject), "");
  EXPECT_EQ(o.s->info(TlsInfo::kVerifyResult), "none");
}

TEST(TlsClientCertTest, ModeRequestServesWithoutACertificateAndVerifiesOneThatIsSent) {
  auto ctx = mode_context(1);
  for (int v : {0, TLS1_2_VERSION}) {
    SCOPED_TRACE(v);
    Outcome without = connect(ctx, nullptr, v);
    ASSERT_TRUE(without.ok) << without.s->failure_text();
    EXPECT_EQ(without.s->info(TlsInfo::kVerifyResult), "none");
    Outcome with = connect(ctx, &pki().client, v);
    ASSERT_TRUE(with.ok) << with.s->failure_text();
    EXPECT_EQ(with.s->info(TlsInfo::kClientSubject), "CN=client one,O=Example");
    EXPECT_EQ(with.s->info(TlsInfo::kClientIssuer), "CN=tcpserver client CA,O=tcpserver tests");
    EXPECT_EQ(with.s->info(TlsInfo::kVerifyResult), "ok");
    EXPECT_EQ(with.s->info(TlsInfo::kClientFingerprint).size(), 32u * 3 - 1);  // AB:CD:...
    Outcome rogue = connect(ctx, &pki().rogue_client, v);
    EXPECT_FALSE(rogue.ok);
    EXPECT_EQ(rogue.s->cause(), TlsCause::kClientCertificate) << rogue.s->failure_text();
    EXPECT_NE(rogue.s->failure_text().find("not verified"), std::string::npos)
        << rogue.s->failure_text();
  }
}

TEST(TlsClientCertTest, ModeRequireRefusesAClientWithoutAVerifiedCertificate) {
  auto ctx = mode_context(2);
  Outcome without = connect(ctx, nullptr);
  EXPECT_FALSE(without.ok);
  EXPECT_EQ(without.s->cause(), TlsCause::kClientCertificate) << without.s->failure_text();
  EXPECT_NE(without.s->failure_text().find("sent no certificate"), std::string::npos);
  Outcome rogue = connect(ctx, &pki().rogue_client);
  EXPECT_FALSE(rogue.ok);
  EXPECT_EQ(rogue.s->cause(), TlsCause::kClientCertificate);
  Outcome with = connect(ctx, &pki().client);
  ASSERT_TRUE(with.ok) << with.s->failure_text();
  EXPECT_EQ(with.s->info(TlsInfo::kVerifyResult), "ok");
}

TEST(TlsClientCertTest, AskingWithoutAClientCaFailsAtBuildAndBadModesAreRefused) {
  TlsConfig cfg = config_with(pki().server_ec);
  TlsError err;
  ASSERT_TRUE(cfg.set_client_cert_mode(2, &err));
  EXPECT_EQ(cfg.build(&err), nullptr);
  EXPECT_NE(err.text.find("SetTlsClientCA"), std::string::npos) << err.text;
  EXPECT_FALSE(cfg.set_client_cert_mode(3, &err));
  EXPECT_FALSE(cfg.set_client_cert_mode(-1, &err));
  EXPECT_EQ(static_cast<int>(cfg.client_cert_mode()), 2);
}
