// TLS settings changed on a running server apply to new handshakes while links already open
// keep theirs: the certificate, SNI names, ALPN, the client CA and the session-ticket keys.
// And resumption: a resumed handshake is counted (TS_COUNTER_TLS_RESUMED) and reported
// (TS_TLS_INFO_RESUMED), also across servers that share their ticket keys.
#include <gtest/gtest.h>

#include <string>

#include "tls_link_support.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

class TlsReloadTest : public TlsServerTest {};

const uint8_t* bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }
int32_t len(const std::string& s) { return static_cast<int32_t>(s.size()); }

void say_goodbye(TlsSocketClient& c) {
  EXPECT_TRUE(c.send_close_notify());
  c.socket().close();
}

::testing::AssertionResult echoes(TlsSocketClient& c, const std::string& text) {
  auto r = c.send(text);
  if (!r) return r;
  std::string got;
  r = c.read_plain(text.size(), &got);
  if (!r) return r;
  if (got != text) return ::testing::AssertionFailure() << "echo '" << got << "' for '" << text << "'";
  return ::testing::AssertionSuccess();
}

// The session a client may resume, once a round trip brought its tickets in.
SSL_SESSION* session_after_echo(TlsSocketClient& c) {
  EXPECT_TRUE(echoes(c, "tickets"));
  return c.session();
}

TEST_F(TlsReloadTest, ACertificateSetWhileRunningServesNewHandshakesAndOpenLinksKeepTheirs) {
  ASSERT_NO_FATAL_FAILURE(create());
  ASSERT_NO_FATAL_FAILURE(start());
  TlsSocketClient old_link;
  ASSERT_TRUE(connect(old_link));
  EXPECT_EQ(old_link.peer_common_name(), "localhost");

  const PemPair rsa = pem_pair(pki().server_rsa);
  ASSERT_EQ(TcpServerSetTlsCertificate(server_, bytes(rsa.cert), len(rsa.cert), bytes(rsa.key),
                                       len(rsa.key), nullptr), 1)
      << GetLastErrorText();
  TlsSocketClient new_link(trusting_ca("rsa.test"));
  ASSERT_TRUE(connect(new_link));
  EXPECT_EQ(new_link.peer_common_name(), "rsa.test");
  EXPECT_TRUE(echoes(new_link, "new"));
  EXPECT_TRUE(echoes(old_link, "old")) << "the link opened before the change";

  // A refused change changes nothing: a certificate without its key.
  ASSERT_EQ(TcpServerSetTlsCertificate(server_, bytes(rsa.cert), len(rsa.cert), nullptr, 0, nullptr), 0);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_TLS_CERTIFICATE);
  TlsSocketClient after_refusal(trusting_ca("rsa.test"));
  ASSERT_TRUE(connect(after_refusal));
  EXPECT_EQ(after_refusal.peer_common_name(), "rsa.test");

  say_goodbye(old_link);
  say_goodbye(new_link);
  say_goodbye(after_refusal);
  expect_nothing_leaked();
}

TEST_F(TlsReloadTest, ServerNamesAddedAndRemovedWhileRunningApplyToNewHandshakes) {
  ASSERT_NO_FATAL_FAILURE(create());
  ASSERT_NO_FATAL_FAILURE(start());
  ClientOptions opt = trusting_ca();
  opt.sni = "a.example.com";
  TlsSocketClient before(opt);
  ASSERT_TRUE(connect(before));
  EXPECT_EQ(before.peer_common_name(), "localhost") << "no SNI name is set yet";

  const PemPair wildcard = pem_pair(pki().wildcard);
  ASSERT_EQ(TcpServerAddTlsServerName(server_, "*.example.com", bytes(wildcard.cert),
                                      len(wildcard.cert), bytes(wildcard.key), len(wildcard.key),
                                      nullptr), 1)
      << GetLastErrorText();
  TlsSocketClient named(opt);
  ASSERT_TRUE(connect(named));
  EXPECT_EQ(named.peer_common_name(), "*.example.com");
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == 2; }));
  const LinkSeen seen = rec_.link_of_port(named.local_port());
  EXPECT_EQ(seen.info[TS_TLS_INFO_CERTIFICATE_PATTERN], "*.example.com");
  EXPECT_EQ(seen.info[TS_TLS_INFO_SERVER_NAME], "a.example.com");

  ASSERT_EQ(TcpServerAddTlsServerName(server_, "*.example.com", nullptr, 0, nullptr, 0, nullptr), 1)
      << GetLastErrorText();
  TlsSocketClient removed(opt);
  ASSERT_TRUE(connect(removed));
  EXPECT_EQ(removed.peer_common_name(), "localhost") << "the name was removed";
  EXPECT_TRUE(echoes(named, "still")) << "the link that got the removed name's certificate";
  char pattern[64];
  ASSERT_GE(GetLinkTlsInfoById(seen.id, TS_TLS_INFO_CERTIFICATE_PATTERN, pattern, sizeof pattern), 0);
  EXPECT_STREQ(pattern, "*.example.com");

  say_goodbye(before);
  say_goodbye(named);
  say_goodbye(removed);
  expect_nothing_leaked();
}

TEST_F(TlsReloadTest, AlpnSetWhileRunningAppliesToNewHandshakes) {
  ASSERT_NO_FATAL_FAILURE(create());
  ASSERT_EQ(TcpServerSetTlsAlpn(server_, "h2"), 1) << GetLastErrorText();
  ASSERT_NO_FATAL_FAILURE(start());
  ClientOptions both = trusting_ca("localhost");
  both.alpn = {"h2", "http/1.1"};
  TlsSocketClient first(both);
  ASSERT_TRUE(connect(first));
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == 1; }));
  const uint64_t first_id = rec_.ids().at(0);
  EXPECT_EQ(rec_.link(first_id).info[TS_TLS_INFO_ALPN], "h2");

  ASSERT_EQ(TcpServerSetTlsAlpn(server_, "http/1.1"), 1) << GetLastErrorText();
  TlsSocketClient second(both);
  ASSERT_TRUE(connect(second));
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == 2; }));
  EXPECT_EQ(rec_.link(rec_.ids().at(1)).info[TS_TLS_INFO_ALPN], "http/1.1");
  char alpn[32];
  ASSERT_GE(GetLinkTlsInfoById(first_id, TS_TLS_INFO_ALPN, alpn, sizeof alpn), 0);
  EXPECT_STREQ(alpn, "h2") << "the open link keeps what it agreed";
  EXPECT_TRUE(echoes(first, "h2 still"));

  // Only "h2" offered now: nothing in common, refused and counted, no callback.
  ClientOptions h2 = trusting_ca("localhost");
  h2.alpn = {"h2"};
  TlsSocketClient refused(h2);
  ASSERT_TRUE(refused.connect(port_));
  EXPECT_FALSE(refused.handshake());
  ASSERT_TRUE(wait_for([&] { return failures(TS_TLS_CAUSE_ALPN) == 1; }));
  EXPECT_EQ(rec_.connects.load(), 2);

  say_goodbye(first);
  say_goodbye(second);
  expect_nothing_leaked();
}

TEST_F(TlsReloadTest, AClientCaSetWhileRunningVerifiesNewHandshakes) {
  ASSERT_NO_FATAL_FAILURE(create({{TS_OPT_TLS_CLIENT_CERT, TS_TLS_CLIENT_CERT_REQUIRE}}));
  const std::string rogue_ca = pem(pki().rogue_ca.cert.get());
  ASSERT_EQ(TcpServerSetTlsClientCA(server_, bytes(rogue_ca), len(rogue_ca)), 1) << GetLastErrorText();
  ASSERT_NO_FATAL_FAILURE(start());
  ClientOptions opt = trusting_ca("localhost");
  opt.cert = &pki().client;

  // Signed by a CA the server does not trust yet: refused (TLS 1.3 tells the client after its
  // side of the handshake is done), counted, no callback.
  TlsSocketClient untrusted(opt);
  ASSERT_TRUE(untrusted.connect(port_));
  (void)untrusted.handshake();
  ASSERT_TRUE(untrusted.read_until_eof());
  ASSERT_TRUE(wait_for([&] { return failures(TS_TLS_CAUSE_CLIENT_CERTIFICATE) == 1; }));
  EXPECT_EQ(rec_.connects.load(), 0);

  const std::string client_ca = pem(pki().client_ca.cert.get());
  ASSERT_EQ(TcpServerSetTlsClientCA(server_, bytes(client_ca), len(client_ca)), 1) << GetLastErrorText();
  TlsSocketClient trusted(opt);
  ASSERT_TRUE(connect(trusted));
  EXPECT_TRUE(echoes(trusted, "verified"));
  ASSERT_EQ(rec_.connects.load(), 1);
  const LinkSeen seen = rec_.link(rec_.ids().at(0));
  EXPECT_EQ(seen.info[TS_TLS_INFO_VERIFY_RESULT], "ok");
  EXPECT_NE(seen.info[TS_TLS_INFO_CLIENT_SUBJECT].find("CN=client one"), std::string::npos);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKE_FAILURES), 1);

  say_goodbye(trusted);
  expect_nothing_leaked();
}

class TlsResumptionTest : public TlsServerTest, public ::testing::WithParamInterface<int> {};

TEST_P(TlsResumptionTest, AResumedHandshakeIsCountedAndReported) {
  ASSERT_NO_FATAL_FAILURE(create());
  ASSERT_NO_FATAL_FAILURE(start());
  ClientOptions opt = trusting_ca("localhost");
  opt.max_version = GetParam();
  TlsSocketClient full(opt);
  ASSERT_TRUE(connect(full));
  SSL_SESSION* session = session_after_echo(full);
  ASSERT_NE(session, nullptr);
  say_goodbye(full);

  opt.session = session;
  TlsSocketClient resumed(opt);
  ASSERT_TRUE(connect(resumed));
  SSL_SESSION_free(session);
  EXPECT_EQ(SSL_session_reused(resumed.tls().ssl()), 1);
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == 2; }));
  EXPECT_EQ(rec_.link(rec_.ids().at(0)).info[TS_TLS_INFO_RESUMED], "0");
  EXPECT_EQ(rec_.link(rec_.ids().at(1)).info[TS_TLS_INFO_RESUMED], "1");
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES), 2);
  EXPECT_EQ(counter(TS_COUNTER_TLS_RESUMED), 1);
  EXPECT_TRUE(echoes(resumed, "resumed"));
  say_goodbye(resumed);
  expect_nothing_leaked();
}

INSTANTIATE_TEST_SUITE_P(Versions, TlsResumptionTest, ::testing::Values(TLS1_3_VERSION, TLS1_2_VERSION),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == TLS1_3_VERSION ? std::string("Tls13")
                                                               : std::string("Tls12");
                         });

TEST_F(TlsReloadTest, TicketKeysSharedByTwoServersResumeAcrossThemUntilOneChangesItsKeys) {
  std::string k1(80, '\0'), k2(80, '\0');
  for (size_t i = 0; i < 80; ++i) {
    k1[i] = static_cast<char>(i * 7 + 1);
    k2[i] = static_cast<char>(i * 11 + 3);
  }
  ASSERT_NO_FATAL_FAILURE(create());
  TlsRecorder rec2;
  TcpServerHandle* second = nullptr;
  ASSERT_NO_FATAL_FAILURE(create_another(rec2, {}, &second));
  ASSERT_EQ(TcpServerSetTlsTicketKeys(server_, bytes(k1), len(k1)), 1) << GetLastErrorText();
  ASSERT_EQ(TcpServerSetTlsTicketKeys(second, bytes(k1), len(k1)), 1) << GetLastErrorText();
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_EQ(TcpServerStart(second, "127.0.0.1", 0), 1) << GetLastErrorText();
  const auto second_port = static_cast<uint16_t>(TcpServerGetPort(second));

  TlsSocketClient first(trusting_ca("localhost"));
  ASSERT_TRUE(connect(first));
  SSL_SESSION* session = session_after_echo(first);
  ASSERT_NE(session, nullptr);
  say_goodbye(first);

  ClientOptions opt = trusting_ca("localhost");
  opt.session = session;
  TlsSocketClient across(opt);
  ASSERT_TRUE(across.connect(second_port));
  ASSERT_TRUE(across.handshake());
  EXPECT_EQ(SSL_session_reused(across.tls().ssl()), 1) << "a ticket of the first server";
  ASSERT_TRUE(wait_for([&] { return rec2.connects.load() == 1; }));
  EXPECT_EQ(rec2.link(rec2.ids().at(0)).info[TS_TLS_INFO_RESUMED], "1");
  EXPECT_EQ(TcpServerGetCounter(second, TS_COUNTER_TLS_RESUMED), 1);

  // New keys on the second server: the old ticket no longer resumes there (a full handshake),
  // and the link resumed before the change goes on.
  ASSERT_EQ(TcpServerSetTlsTicketKeys(second, bytes(k2), len(k2)), 1) << GetLastErrorText();
  TlsSocketClient after(opt);
  ASSERT_TRUE(after.connect(second_port));
  ASSERT_TRUE(after.handshake());
  SSL_SESSION_free(session);
  EXPECT_EQ(SSL_session_reused(after.tls().ssl()), 0);
  ASSERT_TRUE(wait_for([&] { return rec2.connects.load() == 2; }));
  EXPECT_EQ(rec2.link(rec2.ids().at(1)).info[TS_TLS_INFO_RESUMED], "0");
  EXPECT_EQ(TcpServerGetCounter(second, TS_COUNTER_TLS_RESUMED), 1);
  EXPECT_TRUE(echoes(across, "old keys' link"));
  EXPECT_TRUE(echoes(after, "new keys' link"));

  say_goodbye(across);
  say_goodbye(after);
  ASSERT_TRUE(wait_for([&] { return rec2.disconnects.load() == 2; }));
  // A link's TLS state is given back as its slot is released, after its OnDisconnect.
  EXPECT_TRUE(wait_for([&] { return TcpServerGetCounter(second, TS_COUNTER_MEMORY_IN_USE) == 0; }))
      << TcpServerGetCounter(second, TS_COUNTER_MEMORY_IN_USE);
  expect_nothing_leaked();
}

}  // namespace
