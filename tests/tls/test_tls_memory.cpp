// Memory of TLS sessions, measured with OpenSSL's own allocation hooks (installed by this
// program's main before OpenSSL starts): what an idle session holds after echoing 4 KiB (the
// issue's target is <= 16 KiB RSS per idle TLS link at 10 000 links; a plain OpenSSL server
// keeps ~26 KiB), that memory_estimate() never undercounts it, that buffers are given back
// when they empty, and that sessions and contexts leave nothing behind.
#include <gtest/gtest.h>

#include <cstdio>

#include "tls_test_support.h"

using namespace tstest;
using ts::tls::TlsSession;

namespace {

std::shared_ptr<const ts::tls::TlsContext> ctx() {
  static auto c = build(config_with(pki().server_ec));
  return c;
}

// Handshake + 4 KiB echo; the session is idle afterwards (nothing queued either way).
void echo_4k(TestClient& c, TlsSession& s) {
  ServerEvents ev;
  ASSERT_TRUE(handshake(c, s, &ev));
  server_to_client(c, s);  // tickets
  std::string data = pattern_bytes(4096, 77);
  ASSERT_TRUE(c.write(data));
  ServerEvents in;
  to_server(s, c.take_output(), &in);
  ASSERT_EQ(in.plain, data);
  ASSERT_TRUE(s.write(in.plain.data(), in.plain.size()));
  std::string back;
  server_to_client(c, s, &back);
  ASSERT_EQ(back, data);
  ASSERT_EQ(s.pending_output(), 0u);
  ASSERT_EQ(s.buffered_input(), 0u);
}

struct Kind {
  const char* name;
  const KeyPair* server;
  int max_version;
  bool client_cert;
};

// Per session: what OpenSSL and the queues hold (the drop when the server sessions, and only
// they, are freed) and memory_estimate(), after a 4 KiB echo (idle) or mid-handshake (the
// server's flight sent, the client's Finished not yet in: what a stalled handshake holds).
struct Figures {
  double held, estimate;
};
Figures measure(const Kind& k, bool mid_handshake) {
  ts::tls::TlsConfig cfg = config_with(*k.server);
  ts::tls::TlsError err;
  if (k.client_cert) {
    std::string ca = pem(pki().client_ca.cert.get());
    EXPECT_TRUE(cfg.set_client_ca(ca.data(), ca.size(), &err));
    EXPECT_TRUE(cfg.set_client_cert_mode(2, &err));
  }
  auto context = build(cfg);
  constexpr int kSessions = 100;
  std::vector<std::unique_ptr<TestClient>> clients;
  std::vector<std::unique_ptr<TlsSession>> sessions;
  size_t estimate = 0;
  for (int i = 0; i < kSessions; ++i) {
    ClientOptions o;
    o.max_version = k.max_version;
    if (k.client_cert) o.cert = &pki().client;
    clients.push_back(std::make_unique<TestClient>(o));
    sessions.push_back(session(context));
    if (mid_handshake) {
      clients.back()->handshake();
      ServerEvents ev;
      to_server(*sessions.back(), clients.back()->take_output(), &ev);
      EXPECT_FALSE(sessions.back()->handshake_done());
      from_server(*sessions.back());  // sent
    } else {
      echo_4k(*clients.back(), *sessions.back());
    }
    estimate += sessions.back()->memory_estimate();
  }
  long long with = live_openssl_bytes();
  sessions.clear();
  long long without = live_openssl_bytes();
  return Figures{double(with - without) / kSessions + sizeof(TlsSession),
                 double(estimate) / kSessions};
}

}  // namespace

TEST(TlsMemoryTest, AnIdleSessionHoldsLittleAndTheEstimateNeverUndercounts) {
  ASSERT_TRUE(allocation_counter_installed());
  const Kind kinds[] = {{"TLS 1.3, ECDSA P-256", &pki().server_ec, 0, false},
                        {"TLS 1.2, RSA 2048", &pki().server_rsa, TLS1_2_VERSION, false},
                        {"TLS 1.3, ECDSA, client certificate", &pki().server_ec, 0, true}};
  for (const Kind& k : kinds) {
    SCOPED_TRACE(k.name);
    Figures idle = measure(k, false);
    Figures hs = measure(k, true);
    std::printf("[ figures  ] %s: idle after a 4 KiB echo %.0f bytes (estimate %.0f); "
                "mid-handshake %.0f (estimate %.0f)\n",
                k.name, idle.held, idle.estimate, hs.held, hs.estimate);
    EXPECT_GT(idle.held, 1000.0);  // the measurement sees the sessions at all
    // The OpenSSL floor: the SSL object alone is ~7.6 KiB in 3.0. The budget is 16 KiB
    // of RSS per idle link, engine included.
    EXPECT_LE(idle.held, (k.client_cert ? 18 : 14.5) * 1024.0);
    EXPECT_GE(idle.estimate, idle.held);
    EXPECT_LE(idle.estimate, 1.5 * idle.held);
    EXPECT_GE(hs.estimate, hs.held);
    EXPECT_LE(hs.estimate, 2.0 * hs.held);
  }
}

TEST(TlsMemoryTest, BuffersAreGivenBackWhenTheyEmpty) {
  ASSERT_TRUE(allocation_counter_installed());
  TestClient c(ClientOptions{});
  auto s = session(ctx());
  size_t before_handshake = s->memory_estimate();
  echo_4k(c, *s);
  size_t idle = s->memory_estimate();
  EXPECT_LT(idle, before_handshake);  // the handshake's allowance is gone
  // Half a record held inside OpenSSL: its read buffer is counted, and freed once complete.
  ASSERT_TRUE(c.write(pattern_bytes(8000, 5)));
  std::string cipher = c.take_output();
  long long live_idle = live_openssl_bytes();
  ServerEvents ev;
  to_server(*s, cipher.substr(0, cipher.size() / 2), &ev);
  EXPECT_GT(s->memory_estimate(), idle);
  EXPECT_GT(live_openssl_bytes(), live_idle);
  to_server(*s, cipher.substr(cipher.size() / 2), &ev);
  EXPECT_EQ(ev.plain.size(), 8000u);
  EXPECT_EQ(s->memory_estimate(), idle);
  // Queued output counts until it is consumed, then is freed.
  ASSERT_TRUE(s->write(ev.plain.data(), ev.plain.size()));
  EXPECT_GT(s->memory_estimate(), idle + 8000);
  from_server(*s);
  EXPECT_EQ(s->memory_estimate(), idle);
  // So does ciphertext stored by feed().
  ASSERT_TRUE(c.write("abc"));
  std::string small = c.take_output();
  ASSERT_TRUE(s->feed(small.data(), small.size()));
  EXPECT_GT(s->memory_estimate(), idle);
  ServerEvents ev2;
  to_server(*s, std::string(), &ev2);
  EXPECT_EQ(ev2.plain, "abc");
  EXPECT_EQ(s->memory_estimate(), idle);
  EXPECT_EQ(live_openssl_bytes(), live_idle);
}

TEST(TlsMemoryTest, SessionsAndContextsLeaveNothingBehind) {
  ASSERT_TRUE(allocation_counter_installed());
  auto cycle = [] {
    auto context = build(config_with(pki().server_ec));
    {
      TestClient c(ClientOptions{});
      auto s = session(context);
      echo_4k(c, *s);
      s->shutdown();
      from_server(*s);
    }
    {
      auto s = session(context);  // a failed one
      ServerEvents ev;
      to_server(*s, pattern_bytes(300, 1), &ev);
    }
    {
      TestClient c(ClientOptions{});  // one dropped in the middle of its handshake
      auto s = session(context);
      c.handshake();
      ServerEvents ev;
      to_server(*s, c.take_output(), &ev);
    }
  };
  cycle();  // warms OpenSSL's caches (fetched algorithms, error strings)
  long long baseline = live_openssl_bytes();
  for (int i = 0; i < 10; ++i) cycle();
  EXPECT_EQ(live_openssl_bytes(), baseline);
}
