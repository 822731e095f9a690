// Guarantees 1 and 2: per-link callback order, no overlap, refusal, OnReceive's result, ids.
#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "support.h"

using namespace tst;

namespace {
struct Trace {
  std::atomic<int> inside{0};
  std::string events;  // C = connect, R = receive, D = disconnect, I = idle
};
std::mutex g_mu;
std::vector<std::unique_ptr<Trace>> g_traces;
std::atomic<int> g_overlaps{0};

void enter(TcpLink* l, char ev) {
  auto* t = static_cast<Trace*>(l->Data);
  if (t->inside.fetch_add(1) != 0) g_overlaps++;
  t->events += ev;
  std::this_thread::yield();  // widen the window an overlap would need
  t->inside.fetch_sub(1);
}
int32_t TS_CALL on_connect(TcpLink* l) {
  auto t = std::make_unique<Trace>();
  l->Data = t.get();
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_traces.push_back(std::move(t));
  }
  enter(l, 'C');
  return 1;
}
int32_t TS_CALL on_receive(TcpLink* l, uint8_t* buf, int32_t len) {
  enter(l, 'R');
  SendBuffer(l, buf, len);
  return 1;
}
void TS_CALL on_disconnect(TcpLink* l) { enter(l, 'D'); }
}  // namespace

class CallbackOrder : public ServerTest {};

TEST_F(CallbackOrder, ConnectReceivesThenExactlyOneDisconnectNeverOverlapping) {
  g_traces.clear();
  SetEventProc(on_receive, on_disconnect, nullptr, nullptr, nullptr);
  SetConnectProc(on_connect);
  uint32_t port = start();
  EchoResult r = echo_many(port, 60, 64 * 1024, 777, 30000);  // many small OnReceive calls
  ASSERT_EQ(0, r.errors) << r.first_error;
  // echo_many closed its clients: every link must end with exactly one OnDisconnect.
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 0; }));
  std::lock_guard<std::mutex> lock(g_mu);
  ASSERT_EQ(60u, g_traces.size());
  for (auto& t : g_traces) {
    ASSERT_GE(t->events.size(), 3u) << t->events;
    EXPECT_EQ('C', t->events.front()) << t->events;
    EXPECT_EQ('D', t->events.back()) << t->events;
    EXPECT_EQ(1, std::count(t->events.begin(), t->events.end(), 'D')) << t->events;
    EXPECT_EQ(1, std::count(t->events.begin(), t->events.end(), 'C')) << t->events;
  }
  EXPECT_EQ(0, g_overlaps.load());
}

namespace {
std::atomic<int> g_refused_receives{0}, g_refused_disconnects{0};
int32_t TS_CALL refuse_all(TcpLink*) { return 0; }
int32_t TS_CALL count_receive(TcpLink*, uint8_t*, int32_t) { return ++g_refused_receives, 1; }
void TS_CALL count_disconnect(TcpLink*) { ++g_refused_disconnects; }
}  // namespace

TEST_F(CallbackOrder, OnConnectReturningZeroRefusesWithNoOtherCallback) {
  SetEventProc(count_receive, count_disconnect, nullptr, nullptr, nullptr);
  SetConnectProc(refuse_all);
  uint32_t port = start();
  int64_t refused0 = GetServerCounter(TS_COUNTER_REFUSED);
  Client c(port);
  ASSERT_TRUE(c.ok());
  c.send_str("hello");
  EXPECT_TRUE(c.wait_closed());
  ASSERT_TRUE(wait_until([&] { return GetServerCounter(TS_COUNTER_REFUSED) == refused0 + 1; }));
  EXPECT_EQ(0, g_refused_receives.load());
  EXPECT_EQ(0, g_refused_disconnects.load());
  EXPECT_TRUE(wait_until([] { return GetLinkCount() == 0; }));  // slot freed after the batch
}

namespace {
std::atomic<int32_t> g_reason{-1};
int32_t TS_CALL reply_and_close(TcpLink* l, uint8_t*, int32_t) {
  std::string big(100000, 'z');  // more than the socket takes at once: must still flush
  SendBuffer(l, big.data(), static_cast<int32_t>(big.size()));
  SendBuffer(l, "bye", 3);
  return 0;
}
void TS_CALL record_reason(TcpLink* l) { g_reason = l->CloseReason; }
}  // namespace

TEST_F(CallbackOrder, OnReceiveReturningZeroClosesAfterPendingSendsFlush) {
  SetEventProc(reply_and_close, record_reason, nullptr, nullptr, nullptr);
  uint32_t port = start();
  Client c(port);
  c.send_str("x");
  std::string got = c.recv_n(100003);
  ASSERT_EQ(100003u, got.size());
  EXPECT_EQ("bye", got.substr(100000));
  EXPECT_TRUE(c.wait_closed());
  ASSERT_TRUE(wait_until([] { return g_reason.load() != -1; }));
  EXPECT_EQ(TS_CLOSE_BY_APP, g_reason.load());
}

namespace {
std::mutex g_id_mu;
std::set<uint64_t> g_ids;
int32_t TS_CALL collect_id(TcpLink* l) {
  std::lock_guard<std::mutex> lock(g_id_mu);
  EXPECT_NE(0u, l->Id);
  EXPECT_TRUE(g_ids.insert(l->Id).second) << "id reused: " << l->Id;
  return 1;
}
}  // namespace

TEST_F(CallbackOrder, IdsAreUniqueAcrossLinksAndRestarts) {
  SetServerOption(TS_OPT_MAX_LINKS, 4);  // slots are recycled quickly; ids must not be
  SetConnectProc(collect_id);
  for (int round = 0; round < 3; ++round) {
    uint32_t port = start();
    for (int i = 0; i < 20; ++i) {
      Client c(port);
      ASSERT_TRUE(c.ok());
      c.send_str("ping");
      ASSERT_EQ("ping", c.recv_n(4));
    }
    ASSERT_EQ(1, StopTcpServer());
  }
  std::lock_guard<std::mutex> lock(g_id_mu);
  EXPECT_EQ(60u, g_ids.size());
}

namespace {
std::atomic<int> g_closed_links{0};
std::atomic<int64_t> g_bytes_seen{0};
int32_t TS_CALL slow_count(TcpLink*, uint8_t*, int32_t len) {
  g_bytes_seen += len;
  std::this_thread::sleep_for(std::chrono::microseconds(200));  // let data and FIN pile up
  return 1;
}
void TS_CALL count_closed(TcpLink*) { ++g_closed_links; }
}  // namespace

// Regression: the last bytes and the FIN arriving in one edge used to leave the link open
// forever (a short read was taken to mean "wait for the next edge").
TEST_F(CallbackOrder, LastBytesAndCloseArrivingTogetherAreBothDelivered) {
  SetEventProc(slow_count, count_closed, nullptr, nullptr, nullptr);
  uint32_t port = start();
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<Client>(port));
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == kClients; }));
  for (auto& c : clients) {
    ASSERT_TRUE(c->send_str(std::string(100, 'd')));
    c->close();
  }
  EXPECT_TRUE(wait_until([] { return g_closed_links.load() == kClients; }))
      << g_closed_links.load() << " of " << kClients << " links noticed the close";
  EXPECT_EQ(int64_t{kClients} * 100, g_bytes_seen.load());
}
