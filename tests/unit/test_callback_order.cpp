// Guarantee 1: per link, OnConnect, then OnReceive* in stream order, then exactly one of
// OnDisconnect / OnLinkIdleOvertime, exactly once; callbacks of one link never overlap.
// OnConnect returning 0 refuses the link: no other callback for it.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "support/blocking_client.h"
#include "support/multi_client.h"
#include "support/payload.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kStreamSeed = 7;  // every client sends the same stream; each link checks its order

// What one link went through, as its callbacks saw it.
struct Trace {
  std::atomic<bool> inside{false};
  std::atomic<int> overlaps{0};
  std::atomic<int> order_errors{0};
  std::atomic<int> mismatches{0};
  std::atomic<int> finals{0};
  std::atomic<int> receives{0};
  std::atomic<int> stage{0};  // 0 new, 1 connected, 2 closed
  std::atomic<uint64_t> offset{0};
  std::atomic<int> close_reason{-1};
  uint32_t remote_port = 0;
};

std::mutex g_mu;
std::map<uint64_t, std::unique_ptr<Trace>> g_traces;  // by link id
std::atomic<int> g_data_mismatch{0};  // Link->Data was not what OnConnect stored
std::atomic<bool> g_refuse{false};
std::atomic<int> g_connect_calls{0};

Trace* trace_of(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_traces.find(link->Id);
  return it == g_traces.end() ? nullptr : it->second.get();
}

// Marks the trace busy for the duration of one callback; a second entry is an overlap.
struct Inside {
  Trace* t;
  explicit Inside(Trace* trace) : t(trace) {
    if (t->inside.exchange(true)) t->overlaps++;
  }
  ~Inside() { t->inside.store(false); }
};

int32_t TS_CALL on_connect(TcpLink* link) {
  g_connect_calls++;
  Trace* t;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto& slot = g_traces[link->Id];
    if (slot) {  // a second OnConnect for this id
      slot->order_errors++;
      return 1;
    }
    slot = std::make_unique<Trace>();
    t = slot.get();
    t->remote_port = link->RemotePort;  // read by the test under g_mu
  }
  Inside in(t);
  link->Data = t;
  std::this_thread::yield();  // widen the window in which an overlap would show
  t->stage = 1;
  return g_refuse ? 0 : 1;
}

int32_t TS_CALL on_receive(TcpLink* link, uint8_t* buf, int32_t len) {
  Trace* t = trace_of(link);
  if (!t) {
    g_data_mismatch++;
    return 1;
  }
  if (link->Data != t) g_data_mismatch++;
  Inside in(t);
  if (t->stage != 1) t->order_errors++;
  t->receives++;
  uint64_t at = t->offset.load();
  if (len <= 0 || pattern_mismatch(kStreamSeed, at, buf, static_cast<size_t>(len)) != static_cast<size_t>(len))
    t->mismatches++;
  std::this_thread::yield();
  t->offset = at + static_cast<uint64_t>(len);
  return 1;
}

void record_final(TcpLink* link) {
  Trace* t = trace_of(link);
  if (!t) {
    g_data_mismatch++;
    return;
  }
  if (link->Data != t) g_data_mismatch++;
  Inside in(t);
  if (t->stage != 1) t->order_errors++;
  t->finals++;
  t->close_reason = link->CloseReason;
  std::this_thread::yield();
  t->stage = 2;
}

void TS_CALL on_disconnect(TcpLink* link) { record_final(link); }
void TS_CALL on_idle(TcpLink* link) { record_final(link); }

class CallbackOrderTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    std::lock_guard<std::mutex> lock(g_mu);
    g_traces.clear();
    g_data_mismatch = 0;
    g_refuse = false;
    g_connect_calls = 0;
  }
};

TEST_F(CallbackOrderTest, ManyLinksManyThreadsKeepOrderAndNeverOverlap) {
  constexpr size_t kLinks = 64;
  constexpr size_t kBytesPerLink = 64 * 1024;
  constexpr size_t kResetByClient = 12;   // links 0..11: the client resets mid-stream
  constexpr size_t kClosedByApp = 12;     // links 12..23: another thread calls CloseLinkById
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 4), 1);
  SetEventProc(on_receive, on_disconnect, on_idle, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(on_connect), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());

  MultiClient clients(port_);
  ASSERT_TRUE(clients.open(kLinks));
  ASSERT_TRUE(wait_until([] { return g_connect_calls.load() == static_cast<int>(kLinks); }, 10s))
      << "OnConnect calls: " << g_connect_calls.load();

  // Which server link belongs to which client: TcpLink.RemotePort is the client's local port.
  std::map<uint16_t, uint64_t> id_by_port;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    for (auto& [id, t] : g_traces) id_by_port[static_cast<uint16_t>(t->remote_port)] = id;
  }
  std::vector<uint64_t> link_id(kLinks);
  for (size_t i = 0; i < kLinks; ++i) {
    auto it = id_by_port.find(clients.at(i).local_port);
    ASSERT_NE(it, id_by_port.end()) << "no link has the client's port " << clients.at(i).local_port;
    link_id[i] = it->second;
  }

  std::mt19937 rng(12345);
  std::vector<size_t> sent(kLinks, 0);
  std::vector<size_t> reset_after(kLinks, SIZE_MAX);
  for (size_t i = 0; i < kResetByClient; ++i) reset_after[i] = 1024 + rng() % (kBytesPerLink / 2);
  for (size_t i = 0; i < kLinks; ++i) {
    clients.at(i).on_writable = [&, i](MultiClient::Conn& c) {
      if (sent[i] >= kBytesPerLink) return;
      size_t n = std::min<size_t>(1 + rng() % 4096, kBytesPerLink - sent[i]);
      c.out.resize(n);
      fill_pattern(kStreamSeed, sent[i], c.out.data(), n);
      sent[i] += n;
    };
  }

  // Another application thread closes some links while their data is arriving.
  std::atomic<bool> closer_done{false};
  std::thread closer([&] {
    for (size_t i = kResetByClient; i < kResetByClient + kClosedByApp; ++i) {
      std::this_thread::sleep_for(1ms);  // spread the closes over the transfer
      EXPECT_EQ(CloseLinkById(link_id[i]), 1) << GetLastErrorText();
    }
    closer_done = true;
  });

  bool all_sent = clients.run_until(
      [&] {
        for (size_t i = 0; i < kResetByClient; ++i)
          if (clients.at(i).is_open() && sent[i] >= reset_after[i]) clients.close(i, /*reset=*/true);
        for (size_t i = 0; i < kLinks; ++i)
          if (clients.at(i).is_open() && (sent[i] < kBytesPerLink || clients.at(i).pending_out() > 0))
            return false;
        return closer_done.load();
      },
      20s);
  closer.join();
  ASSERT_TRUE(all_sent) << "clients could not send everything";

  // Reset and app-closed links are closed; every untouched link received its whole stream.
  for (size_t i = 0; i < kLinks; ++i) {
    Trace* t;
    {
      std::lock_guard<std::mutex> lock(g_mu);
      t = g_traces[link_id[i]].get();
    }
    if (i < kResetByClient + kClosedByApp) {
      ASSERT_TRUE(wait_until([&] { return t->finals.load() > 0; }, 10s))
          << "link " << i << (i < kResetByClient ? " (reset by the client after " : " (closed by CloseLinkById after ")
          << sent[i] << " bytes sent) was never closed; the server received " << t->offset.load() << " bytes in "
          << t->receives.load() << " OnReceive calls";
    } else {
      ASSERT_TRUE(wait_until([&] { return t->offset.load() == kBytesPerLink; }, 10s))
          << "link " << i << " received " << t->offset.load() << " of " << kBytesPerLink << " bytes";
    }
  }
  ASSERT_TRUE(stop_server());

  std::lock_guard<std::mutex> lock(g_mu);
  ASSERT_EQ(g_traces.size(), kLinks);
  EXPECT_EQ(g_data_mismatch.load(), 0) << "Link->Data or the link id changed between callbacks";
  for (size_t i = 0; i < kLinks; ++i) {
    Trace& t = *g_traces[link_id[i]];
    SCOPED_TRACE("link " + std::to_string(i));
    EXPECT_EQ(t.overlaps.load(), 0) << "callbacks of one link ran concurrently";
    EXPECT_EQ(t.order_errors.load(), 0) << "a callback came out of order";
    EXPECT_EQ(t.mismatches.load(), 0) << "OnReceive data out of stream order";
    EXPECT_EQ(t.finals.load(), 1) << "OnDisconnect/OnLinkIdleOvertime calls";
    if (i < kResetByClient) {
      EXPECT_TRUE(t.close_reason == TS_CLOSE_PEER_RESET || t.close_reason == TS_CLOSE_PEER_CLOSED ||
                  t.close_reason == TS_CLOSE_ERROR)
          << "reason " << t.close_reason.load();
    } else if (i < kResetByClient + kClosedByApp) {
      EXPECT_EQ(t.close_reason.load(), TS_CLOSE_BY_APP);
    } else {
      EXPECT_EQ(t.close_reason.load(), TS_CLOSE_SERVER_STOP);
      EXPECT_EQ(t.offset.load(), kBytesPerLink);
    }
  }
}

TEST_F(CallbackOrderTest, RefusedLinkGetsNoOtherCallback) {
  SetEventProc(on_receive, on_disconnect, on_idle, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(on_connect), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t refused0 = GetServerCounter(TS_COUNTER_REFUSED);
  const int64_t accepts0 = GetServerCounter(TS_COUNTER_ACCEPTS);

  g_refuse = true;
  BlockingClient refused;
  ASSERT_TRUE(refused.connect(port_));
  std::vector<uint8_t> hello(100);
  fill_pattern(kStreamSeed, 0, hello.data(), hello.size());
  refused.send_all(hello.data(), hello.size());  // may fail if the close came first: fine
  std::vector<uint8_t> got;
  ASSERT_TRUE(refused.wait_closed(5s, &got)) << "the refused client was not disconnected";
  EXPECT_TRUE(got.empty()) << "a refused link was served";
  ASSERT_TRUE(wait_until([&] { return GetServerCounter(TS_COUNTER_REFUSED) == refused0 + 1; }, 5s))
      << "TS_COUNTER_REFUSED grew by " << GetServerCounter(TS_COUNTER_REFUSED) - refused0;
  EXPECT_EQ(GetServerCounter(TS_COUNTER_ACCEPTS), accepts0);
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 0; }, 5s)) << "the refused link still counts";

  // The next link is accepted and served normally.
  g_refuse = false;
  BlockingClient accepted;
  ASSERT_TRUE(accepted.connect(port_));
  ASSERT_TRUE(accepted.send_all(hello.data(), hello.size()));
  ASSERT_TRUE(wait_until([] { return g_connect_calls.load() == 2; }, 5s));
  // Stop drops what the server has not read yet, and the bytes may arrive after OnConnect
  // (IOCP posts the first receive only then): wait until the link has seen all of them.
  ASSERT_TRUE(wait_until(
      [&] {
        std::lock_guard<std::mutex> lock(g_mu);
        for (auto& [id, t] : g_traces)
          if (t->offset.load() == hello.size()) return true;
        return false;
      },
      5s))
      << "the accepted link did not receive its " << hello.size() << " bytes";
  ASSERT_TRUE(stop_server());

  std::lock_guard<std::mutex> lock(g_mu);
  ASSERT_EQ(g_traces.size(), 2u);
  int refused_seen = 0;
  for (auto& [id, t] : g_traces) {
    if (t->remote_port == accepted.local_port()) {
      EXPECT_EQ(t->finals.load(), 1);
      EXPECT_EQ(t->offset.load(), hello.size());
      continue;
    }
    ++refused_seen;
    EXPECT_EQ(t->receives.load(), 0) << "OnReceive was called for a refused link";
    EXPECT_EQ(t->finals.load(), 0) << "OnDisconnect was called for a refused link";
  }
  EXPECT_EQ(refused_seen, 1);
  EXPECT_EQ(GetServerCounter(TS_COUNTER_ACCEPTS), accepts0 + 1);
}

}  // namespace
