// Issue 15's security acceptance, over real sockets against a started TLS server:
//  - handshake slowloris: connections that send half a ClientHello and stall are all closed at
//    TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS while other clients are served meanwhile;
//  - the cap on concurrent handshakes (TS_OPT_TLS_MAX_HANDSHAKES) holds: never more in progress,
//    the oldest dropped (and counted) to admit the new;
//  - garbage instead of a ClientHello, garbage records after a good handshake, a handshake in
//    1-byte writes, a peer that vanishes without close_notify, close_notify mid-stream.
// Each ends with the right close reason (or cause) and nothing leaked: links, handshakes,
// memory counted against the budget, IO buffers and link slots all back. The slowloris sizes
// are full (2 000 connections) in a release build and short under a sanitizer.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#ifndef _WIN32
#include <sys/resource.h>
#endif

#include "support/multi_client.h"
#include "tls_link_support.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

class TlsSecurityTest : public TlsServerTest {};

constexpr size_t kStalled = kSanitized ? 300 : 2000;
constexpr size_t kBatch = kSanitized ? 100 : 250;

// Descriptors for n client sockets and their n server ends, beside the rest of the process.
::testing::AssertionResult enough_descriptors(size_t n) {
#ifndef _WIN32
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return ::testing::AssertionFailure() << "getrlimit";
  const rlim_t wanted = static_cast<rlim_t>(2 * n + 256);
  if (rl.rlim_cur >= wanted) return ::testing::AssertionSuccess();
  if (rl.rlim_max < wanted)
    return ::testing::AssertionFailure() << "this test needs " << wanted << " descriptors and the "
           "hard limit is " << rl.rlim_max << " (raise it: ulimit -Hn)";
  rl.rlim_cur = wanted;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return ::testing::AssertionFailure() << "setrlimit";
#else
  (void)n;
#endif
  return ::testing::AssertionSuccess();
}

// The first half of a real ClientHello: what a slowloris client sends before it stalls.
std::string half_a_client_hello() {
  TlsSocketClient maker;
  const std::string hello = maker.client_hello();
  EXPECT_GT(hello.size(), 100u);
  return hello.substr(0, hello.size() / 2);
}

// Stalled connections: opened in batches, each sends half a ClientHello and then nothing.
struct Stalled {
  explicit Stalled(uint16_t port) : clients(port), hello(half_a_client_hello()) {}
  ::testing::AssertionResult open(size_t n) {
    const size_t first = clients.size();
    opened_at.resize(first + n, Clock::now());
    ended_at.resize(first + n);
    auto r = clients.open(n, kPatience);
    if (!r) return r;
    for (size_t i = first; i < clients.size(); ++i) clients.send(i, hello.data(), hello.size());
    if (!clients.run_until([&] { return all_sent(); }, kPatience))
      return ::testing::AssertionFailure() << "the half ClientHellos were not all sent";
    note_ends();
    return ::testing::AssertionSuccess();
  }
  bool all_sent() {
    for (size_t i = 0; i < clients.size(); ++i)
      if (!clients.at(i).ended() && clients.at(i).pending_out() != 0) return false;
    return true;
  }
  void note_ends() {
    for (size_t i = 0; i < clients.size(); ++i)
      if (clients.at(i).ended() && ended_at[i] == Clock::time_point{}) ended_at[i] = Clock::now();
  }
  void pump() {
    clients.pump(5);
    note_ends();
  }
  size_t ended() const { return clients.count_ended(); }

  MultiClient clients;
  std::string hello;
  std::vector<Clock::time_point> opened_at;  // just before its connect
  std::vector<Clock::time_point> ended_at;   // when its end was seen
};

// One well-behaved client: handshake, a round trip, close_notify.
::testing::AssertionResult served(uint16_t port, const std::string& text) {
  TlsSocketClient c;
  auto r = c.connect(port);
  if (r) r = c.handshake();
  if (r) r = c.send(text);
  std::string echo;
  if (r) r = c.read_plain(text.size(), &echo);
  if (r && echo != text) r = ::testing::AssertionFailure() << "echo '" << echo << "'";
  if (r) r = c.send_close_notify();
  return r;
}

// Samples a value from its own thread until stopped; the highest value seen.
class Sampler {
 public:
  explicit Sampler(std::function<int64_t()> read)
      : thread_([this, read] {
          while (running_.load()) {
            const int64_t now = read();
            if (now > highest_.load()) highest_.store(now);
            std::this_thread::sleep_for(std::chrono::microseconds(50));
          }
        }) {}
  ~Sampler() { stop(); }
  int64_t stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
    return highest_.load();
  }

 private:
  std::atomic<bool> running_{true};
  std::atomic<int64_t> highest_{0};
  std::thread thread_;
};

TEST_F(TlsSecurityTest, HandshakeSlowlorisIsClosedAtTheTimeoutWhileOthersAreServed) {
  ASSERT_TRUE(enough_descriptors(kStalled + 16));
  const int64_t timeout_ms = kSanitized ? 8000 : 4000;
  ASSERT_NO_FATAL_FAILURE(create({{TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS, timeout_ms},
                                  {TS_OPT_TLS_MAX_HANDSHAKES, 100000},
                                  {TS_OPT_MAX_LINKS, 10000}}));
  ASSERT_NO_FATAL_FAILURE(start());
  Stalled stalled(port_);
  int good = 0;
  std::vector<int64_t> in_progress_when_served;
  while (stalled.clients.size() < kStalled) {
    ASSERT_TRUE(stalled.open(std::min(kBatch, kStalled - stalled.clients.size())));
    // A real client meanwhile: served while the stalled ones hold their handshakes.
    ASSERT_TRUE(served(port_, "served " + std::to_string(good)));
    ++good;
    in_progress_when_served.push_back(counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS));
  }
  for (size_t k = 0; k < in_progress_when_served.size(); ++k)
    EXPECT_GT(in_progress_when_served[k], 0) << "good client " << k << " came after the stall ended";
  EXPECT_GT(counter(TS_COUNTER_MEMORY_IN_USE), 0) << "handshakes in progress hold memory";
  ASSERT_TRUE(wait_for([&] { return rec_.disconnects.load() == good; }));
  // One link stays while the stalled handshakes time out: the only one GetLinkCount and
  // GetLinkIds ever show, however many handshakes end around it.
  TlsSocketClient resident;
  ASSERT_TRUE(connect(resident));
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == good + 1; }));
  Sampler links([&] { return TcpServerGetLinkCount(server_); });
  Sampler listed([&] { return TcpServerGetLinkIds(server_, nullptr, 0); });

  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms) + kPatience;
  while (stalled.ended() < kStalled && Clock::now() < deadline) stalled.pump();
  ASSERT_EQ(stalled.ended(), kStalled) << "stalled handshakes still open";
  EXPECT_EQ(links.stop(), 1) << "GetLinkCount counted handshakes as links";
  EXPECT_EQ(listed.stop(), 1) << "GetLinkIds listed handshakes";
  long long earliest = LLONG_MAX, latest = 0;
  for (size_t i = 0; i < kStalled; ++i) {
    const long long lived = std::chrono::duration_cast<std::chrono::milliseconds>(
                                stalled.ended_at[i] - stalled.opened_at[i]).count();
    earliest = std::min(earliest, lived);
    latest = std::max(latest, lived);
    EXPECT_EQ(stalled.clients.at(i).bytes_in, 0u) << "connection " << i << " got an answer";
  }
  // Not before the timeout (the clocks of the server and of the test tick apart by a few ms).
  EXPECT_GE(earliest, timeout_ms - 20) << "a stalled handshake was closed before its timeout";
  std::printf("[ slowloris ] %zu stalled handshakes closed %lld..%lld ms after connecting "
              "(timeout %lld ms); %d clients served meanwhile; peak memory %lld bytes\n",
              kStalled, earliest, latest, static_cast<long long>(timeout_ms), good,
              static_cast<long long>(counter(TS_COUNTER_MEMORY_PEAK)));

  ASSERT_TRUE(wait_for([&] { return counter(TS_COUNTER_TLS_HANDSHAKE_TIMEOUTS) ==
                                    static_cast<int64_t>(kStalled); }))
      << counter(TS_COUNTER_TLS_HANDSHAKE_TIMEOUTS) << " timeouts counted";
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES_DROPPED), 0);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKE_FAILURES), 0);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES), good + 1);
  EXPECT_EQ(rec_.connects.load(), good + 1) << "a stalled handshake reached OnConnect";
  EXPECT_TRUE(resident.send_close_notify());
  resident.socket().close();
  ASSERT_TRUE(wait_for([&] { return rec_.disconnects.load() == good + 1; }));
  EXPECT_EQ(close_count(TS_CLOSE_PEER_CLOSED), good + 1);
  expect_nothing_leaked();
}

TEST_F(TlsSecurityTest, TheHandshakeCapHoldsAndDropsTheOldestToAdmitTheNew) {
  ASSERT_TRUE(enough_descriptors(kStalled + 16));
  constexpr int64_t kCap = kSanitized ? 50 : 100;
  ASSERT_NO_FATAL_FAILURE(create({{TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS, 600000},
                                  {TS_OPT_TLS_MAX_HANDSHAKES, kCap},
                                  {TS_OPT_MAX_LINKS, 10000}}));
  ASSERT_NO_FATAL_FAILURE(start());
  // The level, sampled all along: it must never go over the cap, not even for a moment.
  Sampler sampler([&] { return counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS); });
  // Stalled connections in rounds of `cap`, each round begun at the server before the next
  // comes: then each round drops exactly the round before it, the oldest handshakes.
  Stalled stalled(port_);
  while (stalled.clients.size() < kStalled) {
    const size_t round = stalled.clients.size() / kCap;
    ASSERT_TRUE(stalled.open(std::min<size_t>(kCap, kStalled - stalled.clients.size())));
    const auto opened = static_cast<int64_t>(stalled.clients.size());
    ASSERT_TRUE(wait_for([&] {
      stalled.pump();
      return counter(TS_COUNTER_TLS_HANDSHAKES_DROPPED) +
                 counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS) == opened &&
             stalled.ended() == round * kCap;
    })) << "round " << round << ": " << counter(TS_COUNTER_TLS_HANDSHAKES_DROPPED) << " dropped, "
        << counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS) << " in progress, " << stalled.ended()
        << " seen closed, of " << opened;
    for (size_t i = 0; i < stalled.clients.size(); ++i)
      ASSERT_EQ(stalled.clients.at(i).ended(), i < round * kCap)
          << "round " << round << ", connection " << i << ": not the oldest dropped";
  }
  const auto dropped = static_cast<int64_t>(kStalled) - kCap;
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES_DROPPED), dropped);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS), kCap);

  // A real client at the cap is admitted (one more stalled one dropped) and served.
  ASSERT_TRUE(served(port_, "admitted"));
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES_DROPPED), dropped + 1);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS), kCap - 1);
  const int64_t highest = sampler.stop();
  EXPECT_LE(highest, kCap) << "more handshakes in progress than TS_OPT_TLS_MAX_HANDSHAKES";
  EXPECT_EQ(highest, kCap);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKE_TIMEOUTS), 0);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKE_FAILURES), 0) << "a drop is not a failure";
  EXPECT_EQ(rec_.connects.load(), 1);

  // The rest leave mid-handshake: failures of cause PEER_CLOSED, no callback.
  stalled.clients.close_all();
  ASSERT_TRUE(wait_for([&] { return counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS) == 0; }));
  // A closing handshake leaves the count in progress first, then is counted by how it ended.
  EXPECT_TRUE(wait_for([&] { return failures(TS_TLS_CAUSE_PEER_CLOSED) == kCap - 1; }))
      << failures(TS_TLS_CAUSE_PEER_CLOSED);
  EXPECT_TRUE(wait_for([&] { return counter(TS_COUNTER_TLS_HANDSHAKE_FAILURES) == kCap - 1; }))
      << counter(TS_COUNTER_TLS_HANDSHAKE_FAILURES);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES_DROPPED), dropped + 1);
  expect_nothing_leaked();
}

TEST_F(TlsSecurityTest, AStalledHandshakeIsClosedByItsHandshakeTimeoutNotTheIdleTimeout) {
  // The idle timeout is for links; until its handshake completes a connection has only its
  // handshake deadline.
  ASSERT_NO_FATAL_FAILURE(create({{TS_OPT_IDLE_TIMEOUT_MS, 200},
                                  {TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS, 1500}}));
  ASSERT_NO_FATAL_FAILURE(start());
  TlsSocketClient c;
  ASSERT_TRUE(c.connect(port_));
  const auto t0 = Clock::now();
  ASSERT_TRUE(c.send_raw(half_a_client_hello()));
  ASSERT_TRUE(c.read_until_eof());
  EXPECT_GE(ms_since(t0), 1500 - 20) << "closed before its handshake timeout";
  ASSERT_TRUE(wait_for([&] { return counter(TS_COUNTER_TLS_HANDSHAKES_IN_PROGRESS) == 0; }));
  // A closing handshake leaves the count in progress first, then is counted by how it ended.
  EXPECT_TRUE(wait_for([&] { return counter(TS_COUNTER_TLS_HANDSHAKE_TIMEOUTS) == 1; }))
      << counter(TS_COUNTER_TLS_HANDSHAKE_TIMEOUTS);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKE_FAILURES), 0) << "a timeout is not a peer's close";
  EXPECT_EQ(counter(TS_COUNTER_IDLE_CLOSED), 0);
  expect_nothing_leaked();
}

TEST_F(TlsSecurityTest, ALinksIdleClockStartsWhenItsHandshakeCompletes) {
  constexpr int kIdleMs = 1000;
  ASSERT_NO_FATAL_FAILURE(create({{TS_OPT_IDLE_TIMEOUT_MS, kIdleMs}}));
  rec_.reply = TlsRecorder::Reply::kNone;
  ASSERT_NO_FATAL_FAILURE(start());
  // A slow client: most of the idle timeout passes inside its handshake.
  TlsSocketClient c;
  ASSERT_TRUE(c.connect(port_));
  const std::string hello = c.client_hello();
  ASSERT_TRUE(c.send_raw(hello.substr(0, hello.size() / 2)));
  const auto t0 = Clock::now();
  wait_until([&] { return ms_since(t0) >= kIdleMs * 8 / 10; }, std::chrono::milliseconds(kIdleMs));
  ASSERT_TRUE(c.send_raw(hello.substr(hello.size() / 2)));
  ASSERT_TRUE(c.handshake());
  ASSERT_TRUE(wait_for([&] { return rec_.disconnects.load() == 1; }));
  const LinkSeen link = rec_.link(rec_.ids().at(0));
  EXPECT_EQ(link.close_reason, TS_CLOSE_IDLE);
  const auto lived = std::chrono::duration_cast<std::chrono::milliseconds>(link.closed_at -
                                                                           link.connected_at);
  EXPECT_GE(lived.count(), kIdleMs - 20) << "the handshake's time was counted as the link's silence";
  c.drain();
  expect_nothing_leaked();
}

TEST_F(TlsSecurityTest, GarbageInsteadOfAClientHelloIsCountedAsNotTlsWithoutACallback) {
  ASSERT_NO_FATAL_FAILURE(create());
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string garbage[] = {"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
                                 std::string("\x00\x01\x02\x03garbage garbage garbage", 27),
                                 "SSH-2.0-OpenSSH_9.2\r\n"};
  for (const std::string& g : garbage) {
    TlsSocketClient c;
    ASSERT_TRUE(c.connect(port_));
    ASSERT_TRUE(c.send_raw(g));
    ASSERT_TRUE(c.read_until_eof()) << "the server kept a connection that sent " << g;
  }
  ASSERT_TRUE(wait_for([&] { return counter(TS_COUNTER_TLS_NOT_TLS) == 3; }));
  EXPECT_EQ(failures(TS_TLS_CAUSE_NOT_TLS), 3);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKE_FAILURES), 3);
  EXPECT_EQ(rec_.connects.load(), 0);
  EXPECT_EQ(rec_.disconnects.load(), 0);
  EXPECT_EQ(rec_.receives.load(), 0);
  EXPECT_EQ(counter(TS_COUNTER_CLOSED), 0) << "connections that never were links";
  expect_nothing_leaked();
}

TEST_F(TlsSecurityTest, GarbageRecordsAfterAGoodHandshakeCloseWithTlsErrorBadRecord) {
  ASSERT_NO_FATAL_FAILURE(create());
  rec_.reply = TlsRecorder::Reply::kNone;
  ASSERT_NO_FATAL_FAILURE(start());
  TlsSocketClient c;
  ASSERT_TRUE(connect(c));
  ASSERT_TRUE(c.send("before"));
  ASSERT_TRUE(wait_for([&] { return rec_.receives.load() >= 1 &&
                                    rec_.received_bytes(rec_.ids().at(0)) == 6; }));
  // An application-data record whose bytes decrypt to nothing.
  std::string record("\x17\x03\x03\x00\x40", 5);
  record += pattern_bytes(64, 99);
  ASSERT_TRUE(c.send_raw(record));
  ASSERT_TRUE(c.read_until_eof());
  EXPECT_TRUE(c.tls().failed()) << "the client got no alert";
  ASSERT_TRUE(wait_for([&] { return rec_.disconnects.load() == 1; }));
  const LinkSeen link = rec_.link(rec_.ids().at(0));
  EXPECT_EQ(link.close_reason, TS_CLOSE_TLS_ERROR);
  EXPECT_EQ(link.close_error, TS_TLS_CAUSE_BAD_RECORD);
  EXPECT_EQ(link.received, "before");
  EXPECT_EQ(counter(TS_COUNTER_TLS_ERRORS), 1);
  EXPECT_EQ(close_count(TS_CLOSE_TLS_ERROR), 1);
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKE_FAILURES), 0) << "the handshake had succeeded";
  expect_nothing_leaked();
}

TEST_F(TlsSecurityTest, AHandshakeSplitIntoOneByteWritesCompletes) {
  ASSERT_NO_FATAL_FAILURE(create());
  ASSERT_NO_FATAL_FAILURE(start());
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    ClientOptions opt = trusting_ca("localhost");
    opt.max_version = version;
    TlsSocketClient c(opt);
    ASSERT_TRUE(c.connect(port_));
    ASSERT_TRUE(c.handshake(kPatience, 1)) << "version " << std::hex << version;
    const std::string text = "one byte at a time, record header included";
    ASSERT_TRUE(c.send(text, 1));
    std::string echo;
    ASSERT_TRUE(c.read_plain(text.size(), &echo));
    EXPECT_EQ(echo, text);
    EXPECT_TRUE(c.send_close_notify());
  }
  ASSERT_TRUE(wait_for([&] { return rec_.disconnects.load() == 2; }));
  EXPECT_EQ(counter(TS_COUNTER_TLS_HANDSHAKES), 2);
  EXPECT_EQ(close_count(TS_CLOSE_PEER_CLOSED), 2);
  expect_nothing_leaked();
}

TEST_F(TlsSecurityTest, APeerThatVanishesWithoutCloseNotifyIsTlsNoCloseNotify) {
  ASSERT_NO_FATAL_FAILURE(create());
  rec_.reply = TlsRecorder::Reply::kNone;
  ASSERT_NO_FATAL_FAILURE(start());
  TlsSocketClient fin, rst;
  ASSERT_TRUE(connect(fin));
  ASSERT_TRUE(connect(rst));
  ASSERT_TRUE(wait_for([&] { return rec_.connects.load() == 2; }));
  const uint64_t fin_id = rec_.link_of_port(fin.local_port()).id;
  const uint64_t rst_id = rec_.link_of_port(rst.local_port()).id;
  ASSERT_NE(fin_id, 0u);
  ASSERT_NE(rst_id, 0u);
  const std::string data = pattern_bytes(50000, 5);
  ASSERT_TRUE(fin.send(data));
  ASSERT_TRUE(wait_for([&] { return rec_.received_bytes(fin_id) == data.size(); }));
  fin.drain();           // the server's session tickets: unread, they would turn the FIN into a RST
  fin.socket().close();  // FIN, no close_notify: the stream may have been cut short
  ASSERT_TRUE(rst.send("x"));
  rst.socket().reset();  // RST
  ASSERT_TRUE(wait_for([&] { return rec_.disconnects.load() == 2; }));
  const LinkSeen cut = rec_.link(fin_id), reset = rec_.link(rst_id);
  EXPECT_EQ(cut.close_reason, TS_CLOSE_TLS_NO_CLOSE_NOTIFY);
  EXPECT_TRUE(cut.received == data) << "everything before the FIN is delivered";
#ifdef _WIN32
  // Wine can report a reset that comes after the last bytes were read as the end of the stream
  // (as test_callback_order.cpp allows for plain links): then it is a TCP close without
  // close_notify.
  EXPECT_TRUE(reset.close_reason == TS_CLOSE_PEER_RESET ||
              reset.close_reason == TS_CLOSE_TLS_NO_CLOSE_NOTIFY) << reset.close_reason;
  EXPECT_EQ(close_count(TS_CLOSE_TLS_NO_CLOSE_NOTIFY),
            reset.close_reason == TS_CLOSE_TLS_NO_CLOSE_NOTIFY ? 2 : 1);
#else
  EXPECT_EQ(reset.close_reason, TS_CLOSE_PEER_RESET);
  EXPECT_EQ(close_count(TS_CLOSE_TLS_NO_CLOSE_NOTIFY), 1);
#endif
  EXPECT_EQ(counter(TS_COUNTER_TLS_ERRORS), 0);
  expect_nothing_leaked();
}

TEST_F(TlsSecurityTest, CloseNotifyMidStreamDeliversEverythingBeforeItAndClosesAsPeerClosed) {
  ASSERT_NO_FATAL_FAILURE(create());
  rec_.reply = TlsRecorder::Reply::kNone;
  ASSERT_NO_FATAL_FAILURE(start());
  TlsSocketClient c;
  ASSERT_TRUE(connect(c));
  // Data and close_notify in one write; the socket stays open (no FIN).
  const std::string data = pattern_bytes(256 * 1024, 11);
  ASSERT_TRUE(c.tls().write(data));
  SSL_shutdown(c.tls().ssl());
  ERR_clear_error();
  ASSERT_TRUE(c.send_raw(c.tls().take_output()));
  // The server answers with its own close_notify and closes, without a FIN from the client.
  ASSERT_TRUE(c.read_until_close_notify());
  ASSERT_TRUE(wait_for([&] { return rec_.disconnects.load() == 1; }));
  const LinkSeen link = rec_.link(rec_.ids().at(0));
  EXPECT_EQ(link.close_reason, TS_CLOSE_PEER_CLOSED);
  EXPECT_TRUE(link.received == data) << link.received.size() << " of " << data.size() << " bytes";
  // Bytes after the close_notify are not delivered.
  (void)c.send_raw("late");
  expect_nothing_leaked();
  EXPECT_EQ(rec_.link(link.id).received.size(), data.size());
}

}  // namespace
