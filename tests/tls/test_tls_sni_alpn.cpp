// SNI: the certificate for the name the client asks for — exact names, one-label wildcards,
// an exact name beating a wildcard, the default certificate for unknown names and for clients
// that send none; patterns checked when set. ALPN: the server's preference decides, nothing in
// common is refused with its own cause, a client without ALPN is served.
#include <gtest/gtest.h>

#include "tls_test_support.h"

using namespace tstest;
using ts::tls::TlsCause;
using ts::tls::TlsConfig;
using ts::tls::TlsError;
using ts::tls::TlsInfo;

namespace {

bool add_name(TlsConfig& cfg, const char* pattern, const KeyPair& kp, TlsError* err) {
  std::string c = pem(kp.cert.get()), k = pem_key(kp.key.get());
  return cfg.add_server_name(pattern, c.data(), c.size(), k.data(), k.size(), nullptr, err);
}

TlsConfig sni_config() {
  TlsConfig cfg = config_with(pki().server_ec);
  TlsError err;
  EXPECT_TRUE(add_name(cfg, "*.example.com", pki().wildcard, &err)) << err.text;
  EXPECT_TRUE(add_name(cfg, "Exact.Example.COM.", pki().exact, &err)) << err.text;
  EXPECT_TRUE(add_name(cfg, "other.test", pki().other, &err)) << err.text;
  return cfg;
}

struct Served {
  std::string cn;          // what the client received
  std::string server_name; // what the session reports
  std::string pattern;
};

Served connect(std::shared_ptr<const ts::tls::TlsContext> ctx, const std::string& sni) {
  auto s = session(ctx);
  ClientOptions o = trusting_ca();
  o.sni = sni;
  TestClient c(o);
  ServerEvents ev;
  Served r;
  if (!handshake(c, *s, &ev)) {
    r.cn = "failed: " + s->failure_text() + " " + c.error();
    return r;
  }
  r.cn = c.peer_common_name();
  r.server_name = s->info(TlsInfo::kServerName);
  r.pattern = s->info(TlsInfo::kCertificatePattern);
  return r;
}

}  // namespace

TEST(TlsSniTest, EachNameGetsItsCertificateAndUnknownNamesTheDefault) {
  auto ctx = build(sni_config());
  ASSERT_TRUE(ctx);
  Served a = connect(ctx, "a.example.com");
  EXPECT_EQ(a.cn, "*.example.com");
  EXPECT_EQ(a.server_name, "a.example.com");
  EXPECT_EQ(a.pattern, "*.example.com");
  Served exact = connect(ctx, "EXACT.example.com");  // exact beats wildcard, any case
  EXPECT_EQ(exact.cn, "exact.example.com");
  EXPECT_EQ(exact.pattern, "exact.example.com");
  EXPECT_EQ(connect(ctx, "other.test").cn, "other.test");  // an RSA certificate among EC ones
  // A wildcard covers one label only.
  EXPECT_EQ(connect(ctx, "a.b.example.com").cn, "localhost");
  EXPECT_EQ(connect(ctx, "example.com").cn, "localhost");
  Served unknown = connect(ctx, "unknown.test");
  EXPECT_EQ(unknown.cn, "localhost");
  EXPECT_EQ(unknown.server_name, "unknown.test");
  EXPECT_EQ(unknown.pattern, "");
  Served none = connect(ctx, "");
  EXPECT_EQ(none.cn, "localhost");
  EXPECT_EQ(none.server_name, "");
  EXPECT_EQ(ctx->pattern_for("x.example.com"), "*.example.com");
}

TEST(TlsSniTest, NamesCanBeReplacedAndRemovedAndBadPatternsAreRefused) {
  TlsConfig cfg = sni_config();
  TlsError err;
  ASSERT_TRUE(add_name(cfg, "other.test", pki().exact, &err));  // replace
  EXPECT_EQ(cfg.server_name_count(), 3u);
  EXPECT_EQ(connect(build(cfg), "other.test").cn, "exact.example.com");
  ASSERT_TRUE(cfg.add_server_name("*.EXAMPLE.com", nullptr, 0, nullptr, 0, nullptr, &err)) << err.text;
  EXPECT_EQ(connect(build(cfg), "a.example.com").cn, "localhost");
  EXPECT_FALSE(cfg.add_server_name("nothing.test", nullptr, 0, nullptr, 0, nullptr, &err));
  for (const char* bad : {"", "*", "*.", "a..b", "a.*.b", "bad name.test", "x*.example.com"}) {
    EXPECT_FALSE(add_name(cfg, bad, pki().exact, &err)) << bad;
    EXPECT_NE(err.text.find("not a host name"), std::string::npos) << err.text;
  }
  EXPECT_FALSE(add_name(cfg, nullptr, pki().exact, &err));
  EXPECT_EQ(cfg.server_name_count(), 2u);
}

namespace {
// A handshake offering `offers` (none: no ALPN extension); the server session afterwards.
std::unique_ptr<ts::tls::TlsSession> offer(std::shared_ptr<const ts::tls::TlsContext> ctx,
                                           std::vector<std::string> offers, bool* ok,
                                           std::string* client_error = nullptr) {
  auto s = session(ctx);
  ClientOptions o;
  o.alpn = std::move(offers);
  TestClient c(o);
  ServerEvents ev;
  *ok = handshake(c, *s, &ev);
  if (!*ok && client_error) {
    c.handshake();  // reads the server's alert
    *client_error = c.error();
  }
  return s;
}
}  // namespace

TEST(TlsAlpnTest, TheServersPreferenceWinsAndNoOverlapFailsWithItsCause) {
  TlsConfig cfg = config_with(pki().server_ec);
  TlsError err;
  ASSERT_TRUE(cfg.set_alpn("h2, http/1.1", &err)) << err.text;
  auto ctx = build(cfg);
  bool ok = false;
  auto both = offer(ctx, {"http/1.1", "h2"}, &ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(both->info(TlsInfo::kAlpn), "h2");
  auto one = offer(ctx, {"http/1.1"}, &ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(one->info(TlsInfo::kAlpn), "http/1.1");
  auto none = offer(ctx, {}, &ok);  // no ALPN at all: served
  ASSERT_TRUE(ok);
  EXPECT_EQ(none->info(TlsInfo::kAlpn), "");
  std::string client_error;
  auto other = offer(ctx, {"spdy/3", "imap"}, &ok, &client_error);
  EXPECT_FALSE(ok);
  EXPECT_EQ(other->cause(), TlsCause::kAlpn) << other->failure_text();
  EXPECT_NE(client_error.find("no application protocol"), std::string::npos) << client_error;
}

TEST(TlsAlpnTest, BadListsAreRefusedAndAnEmptyListTurnsAlpnOff) {
  TlsConfig cfg = config_with(pki().server_ec);
  TlsError err;
  EXPECT_FALSE(cfg.set_alpn("h2,,http/1.1", &err));
  EXPECT_NE(err.text.find("empty entry"), std::string::npos) << err.text;
  EXPECT_FALSE(cfg.set_alpn(std::string(256, 'a').c_str(), &err));
  ASSERT_TRUE(cfg.set_alpn("h2", &err));
  ASSERT_TRUE(cfg.set_alpn("", &err));
  bool ok = false;
  auto s = offer(build(cfg), {"imap"}, &ok);
  ASSERT_TRUE(ok);  // ALPN off: the offer is ignored
  EXPECT_EQ(s->info(TlsInfo::kAlpn), "");
}
