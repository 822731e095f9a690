// Reloading on a running server: a new context in the slot applies to new handshakes while a
// session opened before keeps its certificate and keeps working; and the slot swaps safely
// while other threads start handshakes from it (run under TSan by scripts/test.sh's sanitizer
// pass with the rest of the unit label).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tls_test_support.h"

using namespace tstest;
using ts::tls::TlsConfig;
using ts::tls::TlsContextSlot;
using ts::tls::TlsError;
using ts::tls::TlsInfo;

TEST(TlsReloadTest, NewHandshakesTakeTheNewCertificateOpenSessionsKeepTheirs) {
  TlsConfig cfg = config_with(pki().server_ec);
  TlsError err;
  ASSERT_TRUE(cfg.set_alpn("one", &err));
  TlsContextSlot slot;
  slot.set(build(cfg));

  auto old_session = session(slot.get());
  ClientOptions o;
  o.alpn = {"one", "two"};
  TestClient old_client(o);
  ServerEvents ev;
  ASSERT_TRUE(handshake(old_client, *old_session, &ev));

  // Reload: another certificate and ALPN list.
  std::string c = pem(pki().server_rsa.cert.get()), k = pem_key(pki().server_rsa.key.get());
  ASSERT_TRUE(cfg.set_certificate(c.data(), c.size(), k.data(), k.size(), nullptr, &err));
  ASSERT_TRUE(cfg.set_alpn("two", &err));
  slot.set(build(cfg));

  auto new_session = session(slot.get());
  TestClient new_client(o);
  ServerEvents ev2;
  ASSERT_TRUE(handshake(new_client, *new_session, &ev2));
  EXPECT_EQ(new_client.peer_common_name(), "rsa.test");
  EXPECT_EQ(new_session->info(TlsInfo::kAlpn), "two");

  // The old session: its certificate and ALPN unchanged, data still flows both ways, even
  // after the slot dropped the context it was built from.
  slot.set(build(cfg));
  EXPECT_EQ(old_client.peer_common_name(), "localhost");
  EXPECT_EQ(old_session->info(TlsInfo::kAlpn), "one");
  ASSERT_TRUE(old_client.write("still on the old context"));
  ServerEvents data;
  to_server(*old_session, old_client.take_output(), &data);
  EXPECT_EQ(data.plain, "still on the old context");
  ASSERT_TRUE(old_session->write("yes", 3));
  std::string back;
  server_to_client(old_client, *old_session, &back);
  EXPECT_EQ(back, "yes");
}

TEST(TlsReloadTest, HandshakesOnTwoThreadsWhileAThirdReloadsAllComplete) {
  TlsConfig cfg = config_with(pki().server_ec);
  TlsContextSlot slot;
  slot.set(build(cfg));
  std::atomic<bool> stop{false};
  std::atomic<int> completed{0}, failed{0};
  auto worker = [&] {
    for (int i = 0; i < 30; ++i) {
      auto s = session(slot.get());
      TestClient c(ClientOptions{});
      ServerEvents ev;
      if (handshake(c, *s, &ev) && ev.violations.empty())
        ++completed;
      else
        ++failed;
    }
  };
  std::thread a(worker), b(worker);
  std::thread reloader([&] {
    std::string ec = pem(pki().server_ec.cert.get()), eck = pem_key(pki().server_ec.key.get());
    for (int i = 0; i < 20 && !stop; ++i) {
      TlsConfig next = cfg;
      TlsError err;
      next.set_certificate(ec.data(), ec.size(), eck.data(), eck.size(), nullptr, &err);
      slot.set(build(next));
    }
  });
  a.join();
  b.join();
  stop = true;
  reloader.join();
  EXPECT_EQ(completed.load(), 60);
  EXPECT_EQ(failed.load(), 0);
}
