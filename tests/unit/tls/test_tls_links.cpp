// What a TLS link of the engine does, seen over real sockets: the handshake comes before
// OnConnect (where GetLinkTlsInfo works), a connection in its handshake is not a link yet,
// OnReceive gets plaintext, sends and broadcasts are encrypted for each link, framing works on
// top of TLS, a graceful CloseLink says close_notify without waiting for the peer's, and the
// memory budget counts each link's TLS state.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "support/frames.h"
#include "tls_link_support.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

class TlsLinkTest : public TlsServerTest {};

const uint8_t* bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }
int32_t len(const std::string& s) { return static_cast<int32_t>(s.size()); }

// Ends a client the polite way: close_notify, then FIN. Its link closes as PEER_CLOSED.
void say_goodbye(TlsSocketClient& c) {
  EXPECT_TRUE(c.send_close_notify());
  c.socket().close();
}

TEST_F(TlsLinkTest, HandshakeCompletesBeforeOnConnectWhichReadsTheLinksTlsInfo) {
  ASSERT_NO_FATAL_FAILURE(create({{TS_OPT_TLS_CLIENT_CERT, TS_TLS_CLIENT_CERT_REQUEST}}));
  const PemPair exact = pem_pair(pki().exact);
  const std::string client_ca = pem(pki().client_ca.cert.get());
  ASSERT_EQ(TcpServerSetTlsAlpn(server_, "h2,http/1.1"), 1) << GetLastErrorText();
  ASSERT_EQ(TcpServerAddTlsServerName(server_, "exact.example.com", bytes(exact.cert),
                                      len(exact.cert), bytes(exact.key), len(exact.key), nullptr), 1)
      << GetLastErrorText();
  ASSERT_EQ(TcpServerSetTlsClientCA(server_, bytes(client_ca), len(client_ca)), 1)
      << GetLastErrorText();
  ASSERT_NO_FATAL_FAILURE(start());

  ClientOptions opt = trusting_ca("exact.example.com");
  opt.sni = "exact.example.com";
  opt.alpn = {"http/1.1"};
  opt.cert = &pki().client;
  TlsSocketClient c(opt);
  ASSERT_TRUE(connect(c));
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == 1; })) << "no OnConnect";
  EXPECT_EQ(c.peer_common_name(), "exact.example.com");

  const LinkSeen link = rec_.link(rec_.ids().at(0));
  EXPECT_EQ(link.info_errors, 0) << "GetLinkTlsInfo failed inside OnConnect: " << GetLastErrorText();
  EXPECT_EQ(link.info[TS_TLS_INFO_PROTOCOL], "TLSv1.3");
  EXPECT_EQ(link.info[TS_TLS_INFO_CIPHER].rfind("TLS_", 0), 0u) << link.info[TS_TLS_INFO_CIPHER];
  EXPECT_EQ(link.info[TS_TLS_INFO_SERVER_NAME], "exact.example.com");
  EXPECT_EQ(link.info[TS_TLS_INFO_ALPN], "http/1.1");
  EXPECT_NE(link.info[TS_TLS_INFO_CLIENT_SUBJECT].find("CN=client one"), std::string::npos)
      << link.info[TS_TLS_INFO_CLIENT_SUBJECT];
  EXPECT_NE(link.info[TS_TLS_INFO_CLIENT_ISSUER].find("tcpserver client CA"), std::string::npos)
      << link.info[TS_TLS_INFO_CLIENT_ISSUER];
  EXPECT_EQ(link.info[TS_TLS_INFO_VERIFY_RESULT], "ok");
  EXPECT_EQ(link.info[TS_TLS_INFO_RESUMED], "0");
  EXPECT_EQ(link.info[TS_TLS_INFO_CERTIFICATE_PATTERN], "exact.example.com");
  EXPECT_EQ(link.info[TS_TLS_INFO_CLIENT_FINGERPRINT].size(), 32u * 3 - 1);
  EXPECT_FALSE(link.receive_before_connect);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES), 1);
  EXPECT_EQ(counter(TS_COUNTER_TLS_RESUMED), 0);
  // An accept is counted after its OnConnect returns: waited for, not read at once.
  EXPECT_TRUE(wait_for([&] { return counter(TS_COUNTER_ACCEPTS) == 1; })) << counter(TS_COUNTER_ACCEPTS);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS), 0);

  // The same facts afterwards, by id, from another thread.
  char buf[64];
  ASSERT_GT(GetLinkTlsInfoById(link.id, TS_TLS_INFO_ALPN, buf, sizeof buf), 0) << GetLastErrorText();
  EXPECT_STREQ(buf, "http/1.1");

  std::string echo;
  ASSERT_TRUE(c.send("ping"));
  ASSERT_TRUE(c.read_plain(4, &echo));
  EXPECT_EQ(echo, "ping");
  say_goodbye(c);
  ASSERT_TRUE(wait_for([&] { return rec_.disconnects.load() == 1; }));
  EXPECT_EQ(rec_.link(link.id).close_reason, TS_CLOSE_PEER_CLOSED);
  expect_nothing_leaked();
}

TEST_F(TlsLinkTest, ATls12HandshakeReportsItsProtocolAndCipher) {
  ASSERT_NO_FATAL_FAILURE(create());
  ASSERT_NO_FATAL_FAILURE(start());
  ClientOptions opt = trusting_ca("localhost");
  opt.max_version = TLS1_2_VERSION;
  TlsSocketClient c(opt);
  ASSERT_TRUE(connect(c));
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == 1; }));
  const LinkSeen link = rec_.link(rec_.ids().at(0));
  EXPECT_EQ(link.info[TS_TLS_INFO_PROTOCOL], "TLSv1.2");
  EXPECT_NE(link.info[TS_TLS_INFO_CIPHER].find("ECDHE-ECDSA-"), std::string::npos)
      << link.info[TS_TLS_INFO_CIPHER];
  EXPECT_EQ(link.info[TS_TLS_INFO_SERVER_NAME], "");
  EXPECT_EQ(link.info[TS_TLS_INFO_CLIENT_SUBJECT], "");
  EXPECT_EQ(link.info[TS_TLS_INFO_VERIFY_RESULT], "none");
  say_goodbye(c);
  expect_nothing_leaked();
}

TEST_F(TlsLinkTest, AConnectionInItsHandshakeIsNotALinkYet) {
  ASSERT_NO_FATAL_FAILURE(create());
  rec_.reply = TlsRecorder::Reply::kNone;
  ASSERT_NO_FATAL_FAILURE(start());
  TlsSocketClient a;
  ASSERT_TRUE(connect(a));
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == 1; }));
  const uint64_t a_id = rec_.ids().at(0);

  // b stops in the middle of its ClientHello.
  TlsSocketClient b;
  ASSERT_TRUE(b.connect(port_));
  const std::string hello = b.client_hello();
  ASSERT_GT(hello.size(), 100u);
  ASSERT_TRUE(b.send_raw(hello.substr(0, hello.size() / 2)));
  ASSERT_TRUE(wait_for([&] { return counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS) == 1; }));

  EXPECT_EQ(TcpServerGetLinkCount(server_), 1);
  uint64_t ids[8] = {};
  ASSERT_EQ(TcpServerGetLinkIds(server_, ids, 8), 1);
  EXPECT_EQ(ids[0], a_id);
  EXPECT_EQ(TcpServerPostBroadcast(server_, "news", 4, 0), 1) << "the broadcast reached " << GetLastErrorText();
  std::string got;
  ASSERT_TRUE(a.read_plain(4, &got));
  EXPECT_EQ(got, "news");
  EXPECT_EQ(rec_.connects.load(), 1) << "OnConnect before the handshake completed";

  // The rest of the ClientHello: now it is a link, and the broadcast never reached it.
  ASSERT_TRUE(b.send_raw(hello.substr(hello.size() / 2)));
  ASSERT_TRUE(b.handshake());
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == 2; }));
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS), 0);
  EXPECT_EQ(TcpServerGetLinkCount(server_), 2);
  EXPECT_EQ(TcpServerGetLinkIds(server_, ids, 8), 2);
  const uint64_t b_id = rec_.ids().at(1);
  ASSERT_EQ(SendBufferById(b_id, "first", 5), 1) << GetLastErrorText();
  std::string b_got;
  ASSERT_TRUE(b.read_plain(5, &b_got));
  EXPECT_EQ(b_got, "first") << "b received something before its first send";

  say_goodbye(a);
  say_goodbye(b);
  expect_nothing_leaked();
}

TEST_F(TlsLinkTest, OnReceiveGetsThePlaintextInOrderAndRepliesComeBackEncrypted) {
  ASSERT_NO_FATAL_FAILURE(create({{TS_OPT_IO_BUFFER_SIZE, 4096}}));
  ASSERT_NO_FATAL_FAILURE(start());
  TlsSocketClient c;
  ASSERT_TRUE(connect(c));
  const std::string data = pattern_bytes(1 << 20, 7);
  std::string echo;
  // In steps, so the echo never waits on a client that is still sending.
  size_t off = 0, step = 1;
  while (off < data.size()) {
    const size_t n = std::min<size_t>(data.size() - off, 1 + (step * 7919) % 65536);
    ASSERT_TRUE(c.send(data.substr(off, n)));
    ASSERT_TRUE(c.read_plain(n, &echo)) << "at " << off;
    off += n;
    ++step;
  }
  ASSERT_TRUE(echo == data) << "the echo differs from what was sent";
  const uint64_t id = rec_.ids().at(0);
  const LinkSeen link = rec_.link(id);
  EXPECT_TRUE(link.received == data) << "OnReceive got other bytes than were sent ("
                                     << link.received.size() << " of " << data.size() << ")";
  EXPECT_LE(link.largest_receive, 4096) << "OnReceive got more than one IO buffer";
  EXPECT_EQ(counter(TS_COUNTER_BYTES_IN), static_cast<int64_t>(data.size()))
      << "BYTES_IN counts the application's bytes";
  // Nothing of the plaintext is on the wire.
  EXPECT_EQ(c.wire_in().find(data.substr(1000, 32)), std::string::npos);
  say_goodbye(c);
  expect_nothing_leaked();
}

TEST_F(TlsLinkTest, SendsAndBroadcastsAreEncryptedForEachLink) {
  ASSERT_NO_FATAL_FAILURE(create());
  rec_.reply = TlsRecorder::Reply::kNone;
  ASSERT_NO_FATAL_FAILURE(start());
  TlsSocketClient c[3];
  uint64_t id[3];
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(connect(c[i]));
    ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == i + 1; }));
    id[i] = rec_.link_of_port(c[i].local_port()).id;
    ASSERT_NE(id[i], 0u);
  }
  void* mem = TcpServerGetIOMem(server_);
  ASSERT_NE(mem, nullptr);
  std::memcpy(mem, "to-one,", 7);
  ASSERT_EQ(PostSendById(id[0], mem, 7), 1) << GetLastErrorText();
  ASSERT_EQ(SendBufferById(id[1], "to-two,", 7), 1) << GetLastErrorText();
  ASSERT_EQ(TcpServerPostBroadcast(server_, "to-all,", 7, 0), 3) << GetLastErrorText();
  ASSERT_EQ(TcpServerPostBroadcast(server_, "all-but-three,", 14, id[2]), 2) << GetLastErrorText();
  ASSERT_EQ(SendBufferById(id[2], "end", 3), 1) << GetLastErrorText();
  const std::string expected[3] = {"to-one,to-all,all-but-three,", "to-two,to-all,all-but-three,",
                                   "to-all,end"};
  for (int i = 0; i < 3; ++i) {
    std::string got;
    ASSERT_TRUE(c[i].read_plain(expected[i].size(), &got)) << "client " << i;
    EXPECT_EQ(got, expected[i]) << "client " << i;
    EXPECT_EQ(c[i].wire_in().find("to-all"), std::string::npos) << "plaintext on the wire";
  }
  // Each link sealed its own copy: the same broadcast is different ciphertext on each link.
  EXPECT_NE(c[0].wire_in(), c[1].wire_in());
  for (auto& client : c) say_goodbye(client);
  expect_nothing_leaked();
}

TEST_F(TlsLinkTest, FramingWorksOnTopOfTls) {
  ASSERT_NO_FATAL_FAILURE(create({{TS_OPT_FRAMING, TS_FRAMING_LENGTH_PREFIXED}}));
  ASSERT_NO_FATAL_FAILURE(start());
  TlsSocketClient c;
  ASSERT_TRUE(connect(c));
  // 40 messages of 1 byte to 20 000 (more than an IO buffer), a heartbeat among them, in one
  // stream cut at arbitrary places: headers and payloads split across TLS records.
  std::string stream, payloads;
  std::vector<size_t> sizes;
  for (int i = 0; i < 40; ++i) {
    const size_t n = 1 + (static_cast<size_t>(i) * 7717) % 20000;
    const std::string body = pattern_bytes(n, 100 + i);
    std::vector<uint8_t> frame = framed(std::vector<uint8_t>(body.begin(), body.end()));
    stream.append(frame.begin(), frame.end());
    payloads += body;
    sizes.push_back(n);
    if (i == 20) stream.append(4, '\0');  // a heartbeat: activity, not a message
  }
  for (size_t off = 0, k = 0; off < stream.size(); ++k) {
    const size_t n = std::min(stream.size() - off, 1 + (k * 3331) % 9000);
    ASSERT_TRUE(c.send(stream.substr(off, n)));
    off += n;
  }
  // The echo comes back framed by the engine (SendBuffer adds the header).
  std::string plain;
  size_t echoed = 0;
  std::string echoed_payloads;
  FrameParser parser;
  const auto deadline = Clock::now() + kPatience;
  while (echoed < sizes.size() && Clock::now() < deadline) {
    plain.clear();
    ASSERT_TRUE(c.read_plain(1, &plain));
    ASSERT_TRUE(parser.feed(reinterpret_cast<const uint8_t*>(plain.data()), plain.size(),
                            [&](const std::vector<uint8_t>& m) {
                              EXPECT_EQ(m.size(), sizes.at(echoed)) << "message " << echoed;
                              echoed_payloads.append(m.begin(), m.end());
                              ++echoed;
                            }));
  }
  ASSERT_EQ(echoed, sizes.size());
  EXPECT_TRUE(echoed_payloads == payloads);
  const LinkSeen link = rec_.link(rec_.ids().at(0));
  EXPECT_EQ(link.receives, 40) << "OnReceive is called once per whole message";
  EXPECT_TRUE(link.received == payloads);
  EXPECT_EQ(static_cast<size_t>(link.largest_receive), *std::max_element(sizes.begin(), sizes.end()))
      << "the largest message, whole";
  say_goodbye(c);
  expect_nothing_leaked();
}

TEST_F(TlsLinkTest, AGracefulCloseLinkSendsCloseNotifyAndDoesNotWaitForThePeers) {
  ASSERT_NO_FATAL_FAILURE(create());
  rec_.reply = TlsRecorder::Reply::kNone;
  ASSERT_NO_FATAL_FAILURE(start());
  TlsSocketClient c;
  ASSERT_TRUE(connect(c));
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == 1; }));
  const uint64_t id = rec_.ids().at(0);
  // What is queued before the close goes out first, then close_notify, then FIN; the client
  // never answers, yet the link closes.
  const std::string tail = pattern_bytes(100000, 3);
  ASSERT_EQ(SendBufferById(id, tail.data(), len(tail)), 1) << GetLastErrorText();
  ASSERT_EQ(CloseLinkById(id), 1) << GetLastErrorText();
  ASSERT_TRUE(wait_for([&] { return rec_.disconnects.load() == 1; }))
      << "the link waited for the peer's close_notify";
  EXPECT_EQ(rec_.link(id).close_reason, TS_CLOSE_BY_APP);
  std::string plain;
  ASSERT_TRUE(c.read_until_close_notify(&plain));
  EXPECT_TRUE(plain == tail) << "got " << plain.size() << " of " << tail.size() << " bytes";
  ASSERT_TRUE(c.read_until_eof());

  // An abortive close sends no close_notify.
  TlsSocketClient d;
  ASSERT_TRUE(connect(d));
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == 2; }));
  const uint64_t d_id = rec_.ids().at(1);
  ASSERT_EQ(CloseLinkByIdEx(d_id, TS_CLOSE_FLAG_ABORT), 1) << GetLastErrorText();
  ASSERT_TRUE(d.read_until_eof());
  EXPECT_FALSE(d.close_notify_seen());
  ASSERT_TRUE(wait_for([&] { return rec_.disconnects.load() == 2; }));
  EXPECT_EQ(close_count(TS_CLOSE_BY_APP), 2);
  expect_nothing_leaked();
}

TEST_F(TlsLinkTest, OnReceiveReturningZeroClosesWithCloseNotify) {
  ASSERT_NO_FATAL_FAILURE(create());
  rec_.close_on = "bye";
  rec_.reply = TlsRecorder::Reply::kNone;
  ASSERT_NO_FATAL_FAILURE(start());
  TlsSocketClient c;
  ASSERT_TRUE(connect(c));
  ASSERT_TRUE(c.send("bye"));
  ASSERT_TRUE(c.read_until_close_notify());
  ASSERT_TRUE(wait_for([&] { return rec_.disconnects.load() == 1; }));
  EXPECT_EQ(rec_.link(rec_.ids().at(0)).close_reason, TS_CLOSE_BY_APP);
  expect_nothing_leaked();
}

TEST_F(TlsLinkTest, CloseLinkFromOnConnectDeliversNothingThatCameWithTheHandshake) {
  ASSERT_NO_FATAL_FAILURE(create());
  rec_.close_in_connect = true;
  ASSERT_NO_FATAL_FAILURE(start());
  TlsSocketClient c;
  ASSERT_TRUE(c.connect(port_));
  // The application's first bytes in the same segment as the client's Finished: the server
  // reads them in the same pass as the end of the handshake.
  ASSERT_TRUE(c.handshake_then_send("early"));
  ASSERT_TRUE(c.read_until_close_notify());
  ASSERT_TRUE(wait_for([&] { return rec_.disconnects.load() == 1; }));
  EXPECT_EQ(rec_.receives.load(), 0) << "OnReceive after CloseLink";
  EXPECT_EQ(rec_.link(rec_.ids().at(0)).close_reason, TS_CLOSE_BY_APP);
  expect_nothing_leaked();
}

TEST_F(TlsLinkTest, TheMemoryBudgetCountsEachLinksTlsState) {
  ASSERT_NO_FATAL_FAILURE(create());
  ASSERT_NO_FATAL_FAILURE(start());
  EXPECT_EQ(counter(TS_COUNTER_MEMORY_IN_USE), 0);
  constexpr int kLinks = 8;
  TlsSocketClient c[kLinks];
  int64_t before = 0;
  for (int i = 0; i < kLinks; ++i) {
    ASSERT_TRUE(connect(c[i]));
    std::string echo;
    ASSERT_TRUE(c[i].send("x"));
    ASSERT_TRUE(c[i].read_plain(1, &echo));  // the link is idle again after its echo
    const int64_t now = counter(TS_COUNTER_MEMORY_IN_USE);
    EXPECT_GT(now, before) << "link " << i + 1 << " added nothing to MEMORY_IN_USE";
    before = now;
  }
  EXPECT_GE(before, kLinks * 1024) << "each idle TLS link holds at least 1 KiB of TLS state";
  // A handshake in progress counts too.
  TlsSocketClient half;
  ASSERT_TRUE(half.connect(port_));
  const std::string hello = half.client_hello();
  ASSERT_TRUE(half.send_raw(hello.substr(0, 40)));
  ASSERT_TRUE(wait_for([&] { return counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS) == 1; }));
  EXPECT_GT(counter(TS_COUNTER_MEMORY_IN_USE), before);
  half.socket().close();
  for (auto& client : c) say_goodbye(client);
  expect_nothing_leaked();
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKE_FAILURES), 1) << "the half handshake";
  EXPECT_EQ(failures(TS_TLS_CAUSE_PEER_CLOSED), 1);
}

}  // namespace

// Behind a balancer that speaks PROXY: the header comes first, in the clear, then the TLS
// handshake. Neither is a link yet; only the TLS phase counts as a handshake in progress; a
// connection that stops inside its header is closed at the deadline and leaves no count
// behind; one that stops after it is a TLS handshake that times out.
TEST_F(TlsLinkTest, APROXYHeaderThenTheHandshakeMakesALinkAndStallsInEitherAreClosedAtTheirDeadline) {
  ASSERT_NO_FATAL_FAILURE(create({{TS_OPT_PROXY_PROTOCOL, 1}, {TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS, 1500}}));
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string header = "PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n";

  TlsSocketClient a;
  ASSERT_TRUE(a.connect(port_));
  ASSERT_TRUE(a.send_raw(header));
  ASSERT_TRUE(a.handshake());
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == 1; }));
  EXPECT_EQ(TcpServerGetLinkCount(server_), 1);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES), 1);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS), 0);
  std::string echo;
  ASSERT_TRUE(a.send("ping"));
  ASSERT_TRUE(a.read_plain(4, &echo));
  EXPECT_EQ(echo, "ping");

  // b sends half its header and stops: not a link, not a TLS handshake; closed at the deadline
  // without a callback and without a TLS failure or timeout counted.
  TlsSocketClient b;
  ASSERT_TRUE(b.connect(port_));
  ASSERT_TRUE(b.send_raw(header.substr(0, 20)));
  std::string ignored;
  ASSERT_TRUE(b.read_until_eof(&ignored)) << "the stalled connection was not closed";
  EXPECT_EQ(rec_.connects.load(), 1);
  EXPECT_EQ(TcpServerGetLinkCount(server_), 1);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS), 0);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKE_TIMEOUTS), 0);
  EXPECT_EQ(failures(TS_TLS_CAUSE_PEER_CLOSED), 0);

  // c sends its whole header, then nothing: its TLS handshake has begun (counted in progress),
  // and it is closed at its own deadline, counted as a handshake timeout.
  TlsSocketClient c;
  ASSERT_TRUE(c.connect(port_));
  ASSERT_TRUE(c.send_raw(header));
  ASSERT_TRUE(wait_for([&] { return counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS) == 1; }));
  EXPECT_EQ(TcpServerGetLinkCount(server_), 1);
  ASSERT_TRUE(wait_for([&] { return counter(TS_COUNTER_TLS_HANDSHAKE_TIMEOUTS) == 1; }));
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS), 0);
  EXPECT_EQ(rec_.connects.load(), 1);

  say_goodbye(a);
  expect_nothing_leaked();
}
