// Several servers in one process, their lifecycles: one server stops, restarts and is
// destroyed while another keeps serving; Start/Stop/Destroy from a server's own callback fail
// with TS_ERR_IN_CALLBACK; a callback of one server may stop or destroy another, and two that
// try it on each other get an error instead of a deadlock; calls racing with DestroyTcpServer
// (by id, by link pointer, by handle) fail cleanly instead of touching freed memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "support/blocking_client.h"
#include "support/error_check.h"
#include "support/multi_client.h"
#include "support/multi_server_fixture.h"
#include "support/proc_stats.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

::testing::AssertionResult echoes(uint16_t port, const std::string& text) {
  BlockingClient c;
  if (auto r = c.connect(port); !r) return r;
  if (auto r = c.send_all(text); !r) return r;
  std::vector<uint8_t> got;
  if (auto r = c.recv_exact(text.size(), &got); !r) return r;
  if (std::string(got.begin(), got.end()) != text)
    return ::testing::AssertionFailure() << "wrong echo on port " << port;
  return ::testing::AssertionSuccess();
}

TEST_F(MultiServerTest, OneServerStopsRestartsAndIsDestroyedWhileTheOtherKeepsServing) {
  ServerCtx& a = add("A");
  ServerCtx& b = add("B");
  ASSERT_NO_FATAL_FAILURE(create(a, {{TS_OPT_WORKER_THREADS, 2}}));
  ASSERT_NO_FATAL_FAILURE(create(b, {{TS_OPT_WORKER_THREADS, 2}}));
  const uint16_t port_a = start(a), port_b = start(b);
  BlockingClient on_a;
  ASSERT_TRUE(on_a.connect(port_a));
  ASSERT_TRUE(wait_until([&] { return a.connects.load() == 1; }, 5s));

  MultiClient clients_b(port_b);
  ASSERT_TRUE(clients_b.open(8, 30s));
  EchoStreams streams_b(clients_b, 500, 0);  // until told to stop
  auto b_in = [&] { return TcpServerGetCounter(b.handle, TS_COUNTER_BYTES_IN); };
  // B must carry traffic between every step of A's life.
  auto b_moves = [&] {
    const int64_t before = b_in();
    return wait_until([&] { return b_in() > before; }, 20s);
  };

  std::atomic<bool> done{false};
  std::thread lifecycle([&] {
    EXPECT_TRUE(b_moves());
    EXPECT_EQ(TcpServerStop(a.handle, -1), 1) << GetLastErrorText();
    EXPECT_TRUE(on_a.wait_closed(5s));
    EXPECT_EQ(a.last_close_reason.load(), TS_CLOSE_SERVER_STOP);
    EXPECT_TRUE(b_moves()) << "B stopped serving while A was stopped";
    EXPECT_EQ(TcpServerStart(a.handle, "127.0.0.1", 0), 1) << GetLastErrorText();
    const auto again = static_cast<uint16_t>(TcpServerGetPort(a.handle));
    EXPECT_TRUE(echoes(again, "A restarted"));
    EXPECT_TRUE(b_moves());
    BlockingClient last_on_a;
    EXPECT_TRUE(last_on_a.connect(again));
    destroy(a);
    EXPECT_TRUE(last_on_a.wait_closed(5s));
    EXPECT_TRUE(b_moves()) << "B stopped serving after A was destroyed";
    done = true;
  });
  bool ok = pump_both(clients_b, clients_b, [&] { return done.load(); }, 120s);
  streams_b.stop_sending();
  ok = pump_both(clients_b, clients_b, [&] { return streams_b.finished(); }, 60s) && ok;
  lifecycle.join();
  ASSERT_TRUE(ok) << "the lifecycle steps or B's echo did not finish in time";
  EXPECT_TRUE(streams_b.all_verified());
  EXPECT_GT(streams_b.bytes_sent(), 0u);
  EXPECT_EQ(b.disconnects.load() + b.idles.load(), 0) << "B lost a link meanwhile";
  EXPECT_EQ(b.send_failed.load(), 0);
  EXPECT_EQ(TcpServerIsActive(b.handle), 1);
  EXPECT_CALL_FAILS(TcpServerIsActive(a.handle), 0, TS_ERR_INVALID_ARGUMENT);
  // A's thread callbacks all ran, with A's Context, for both of its runs.
  EXPECT_EQ(a.threads_of_kind(1), 4);
  EXPECT_EQ(a.thread_exits_of_kind(1), 4);
  EXPECT_EQ(a.thread_exits_of_kind(0), 2);

  // A new server in A's place works beside B.
  ServerCtx& a2 = add("A2");
  ASSERT_NO_FATAL_FAILURE(create(a2));
  EXPECT_TRUE(echoes(start(a2), "A is back"));
  EXPECT_TRUE(echoes(port_b, "B still"));
}

TEST_F(MultiServerTest, DestroyJoinsItsThreadsAndClosesItsSockets) {
  ServerCtx& a = add("A");
  ASSERT_NO_FATAL_FAILURE(create(a, {{TS_OPT_WORKER_THREADS, 3}}));
  const uint16_t port = start(a);
  {
    MultiClient clients(port);
    ASSERT_TRUE(clients.open(20));
    ASSERT_TRUE(wait_until([&] { return a.connects.load() == 20; }, 10s));
    EXPECT_GT(thread_count(), baseline_threads_);
    destroy(a);  // while links are open
    EXPECT_EQ(a.disconnects.load(), 20);
  }
  EXPECT_TRUE(wait_until([&] { return thread_count() == baseline_threads_; }, 2s))
      << "threads: " << thread_count() << ", before: " << baseline_threads_;
  EXPECT_TRUE(fd_count_back_to(baseline_fds_)) << "descriptors leaked by the destroyed server";
}

// ---- calls from callbacks ----

std::atomic<int> g_own_stop{-1}, g_own_start{-1}, g_own_destroy{-1}, g_own_flat_stop{-1};
std::atomic<int> g_own_calls_done{0};

int32_t TS_CALL call_own_lifecycle(void* context, TcpLink* link, uint8_t* buf, int32_t len) {
  auto* ctx = static_cast<ServerCtx*>(context);
  if (TcpServerStop(ctx->handle, 0) == 0) g_own_stop = GetLastErrorCode();
  if (TcpServerStart(ctx->handle, "127.0.0.1", 0) == 0) g_own_start = GetLastErrorCode();
  if (DestroyTcpServer(ctx->handle) == 0) g_own_destroy = GetLastErrorCode();
  // The default server is another server: stopping it from here is allowed.
  g_own_flat_stop = StopTcpServer();
  g_own_calls_done++;
  return SendBuffer(link, buf, len);
}

std::atomic<int> g_flat_own_start{-1};
int32_t TS_CALL flat_start_self(TcpLink* link, uint8_t* buf, int32_t len) {
  if (StartTcpServer("127.0.0.1", 0) == 0) g_flat_own_start = GetLastErrorCode();
  return SendBuffer(link, buf, len);
}

TEST_F(MultiServerTest, StartStopOrDestroyFromItsOwnCallbackFailsWithInCallback) {
  ServerCtx& a = add("A");
  ASSERT_NO_FATAL_FAILURE(create(a));
  ASSERT_EQ(
      TcpServerSetEventProc(a.handle, call_own_lifecycle, nullptr, nullptr, nullptr, nullptr), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());  // the default server, stopped from A's callback
  EXPECT_TRUE(echoes(start(a), "still served"));
  ASSERT_TRUE(wait_until([] { return g_own_calls_done.load() >= 1; }, 5s));
  EXPECT_EQ(g_own_stop.load(), TS_ERR_IN_CALLBACK);
  EXPECT_EQ(g_own_start.load(), TS_ERR_IN_CALLBACK);
  EXPECT_EQ(g_own_destroy.load(), TS_ERR_IN_CALLBACK);
  EXPECT_EQ(g_own_flat_stop.load(), 1) << "StopTcpServer of the default server from A's callback";
  EXPECT_EQ(IsTcpServerActive(), 0);
  EXPECT_EQ(TcpServerIsActive(a.handle), 1) << "the failed calls changed A";
  // The flat StartTcpServer from the default server's own callback: it would wait for the
  // stop lock a concurrent StopTcpServer holds while it waits for this very callback.
  SetEventProc(flat_start_self, nullptr, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_TRUE(echoes(port_, "start myself"));
  EXPECT_EQ(g_flat_own_start.load(), TS_ERR_IN_CALLBACK);
}

std::atomic<TcpServerHandle*> g_target{nullptr};
std::atomic<int> g_cross_result{-1}, g_cross_error{0}, g_back_result{-1}, g_back_error{0};

// A's OnReceive destroys (or stops) the server in g_target, then echoes.
int32_t TS_CALL destroy_target(void*, TcpLink* link, uint8_t* buf, int32_t len) {
  g_cross_result = DestroyTcpServer(g_target.load());
  g_cross_error = GetLastErrorCode();
  return SendBuffer(link, buf, len);
}
int32_t TS_CALL stop_target(void*, TcpLink* link, uint8_t* buf, int32_t len) {
  g_cross_result = TcpServerStop(g_target.load(), -1);
  g_cross_error = GetLastErrorCode();
  return SendBuffer(link, buf, len);
}

// Servers A and B running, A's OnReceive and B's OnDisconnect replaced, one client on B;
// g_target names B.
class CrossServerCallbackTest : public MultiServerTest {
 protected:
  void start_pair(TOnReceiveEx a_receive, TOnDisconnectEx b_disconnect) {
    ASSERT_NO_FATAL_FAILURE(create(a));
    ASSERT_NO_FATAL_FAILURE(create(b));
    ASSERT_EQ(TcpServerSetEventProc(a.handle, a_receive, nullptr, nullptr, nullptr, nullptr), 1);
    ASSERT_EQ(
        TcpServerSetEventProc(b.handle, ctx_receive, b_disconnect, nullptr, nullptr, nullptr), 1);
    port_a = start(a);
    port_b = start(b);
    ASSERT_TRUE(on_b.connect(port_b));
    ASSERT_TRUE(wait_until([&] { return b.connects.load() == 1; }, 5s));
    g_target = b.handle;
  }
  ServerCtx& a = add("A");
  ServerCtx& b = add("B");
  uint16_t port_a = 0, port_b = 0;
  BlockingClient on_b;
};

TEST_F(CrossServerCallbackTest, ACallbackMayDestroyAnotherServer) {
  ASSERT_NO_FATAL_FAILURE(start_pair(destroy_target, ctx_disconnect));
  handles_.erase(std::remove(handles_.begin(), handles_.end(), b.handle), handles_.end());
  EXPECT_TRUE(echoes(port_a, "destroy B"));  // the echo comes after DestroyTcpServer returned
  EXPECT_EQ(g_cross_result.load(), 1) << "error " << g_cross_error.load();
  EXPECT_TRUE(on_b.wait_closed(5s));
  EXPECT_EQ(b.disconnects.load(), 1);
  EXPECT_EQ(b.last_close_reason.load(), TS_CLOSE_SERVER_STOP);
  EXPECT_CALL_FAILS(TcpServerGetPort(b.handle), 0u, TS_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(TcpServerIsActive(a.handle), 1);
}

std::atomic<TcpServerHandle*> g_stopper{nullptr};
void TS_CALL stop_the_stopper(void* context, TcpLink* link) {
  if (link->CloseReason == TS_CLOSE_SERVER_STOP) {
    g_back_result = g_stopper.load() ? TcpServerStop(g_stopper.load(), -1) : StopTcpServer();
    g_back_error = GetLastErrorCode();
  }
  ctx_disconnect(context, link);
}
int32_t TS_CALL flat_stop_target(TcpLink* link, uint8_t* buf, int32_t len) {
  g_cross_result = TcpServerStop(g_target.load(), -1);
  g_cross_error = GetLastErrorCode();
  return SendBuffer(link, buf, len);
}

// A's callback stops B; B's OnDisconnect (run by that stop) tries to stop A, whose callback is
// waiting for B: that would never return, so it fails and A's stop of B completes.
TEST_F(CrossServerCallbackTest, TwoServersStoppingEachOtherFromCallbacksGetAnErrorNotADeadlock) {
  ASSERT_NO_FATAL_FAILURE(start_pair(stop_target, stop_the_stopper));
  g_stopper = a.handle;
  EXPECT_TRUE(echoes(port_a, "stop B"));  // a deadlock would time out here
  EXPECT_EQ(g_cross_result.load(), 1) << "A's TcpServerStop(B): error " << g_cross_error.load();
  EXPECT_EQ(g_back_result.load(), 0);
  EXPECT_EQ(g_back_error.load(), TS_ERR_IN_CALLBACK);
  EXPECT_EQ(TcpServerIsActive(a.handle), 1);
  EXPECT_EQ(TcpServerIsActive(b.handle), 0);

  // The same through the flat API: the default server's callback stops B again (restarted),
  // B's OnDisconnect calls StopTcpServer.
  g_back_result = -1;
  g_back_error = 0;
  g_cross_result = -1;
  g_stopper = nullptr;
  SetEventProc(flat_stop_target, nullptr, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  const uint16_t port_b2 = start(b);
  BlockingClient on_b2;
  ASSERT_TRUE(on_b2.connect(port_b2));
  ASSERT_TRUE(wait_until([&] { return b.connects.load() == 2; }, 5s));
  EXPECT_TRUE(echoes(port_, "stop B again"));
  EXPECT_EQ(g_cross_result.load(), 1) << "error " << g_cross_error.load();
  EXPECT_EQ(g_back_result.load(), 0);
  EXPECT_EQ(g_back_error.load(), TS_ERR_IN_CALLBACK);
  EXPECT_EQ(IsTcpServerActive(), 1);
}

// ---- racing with DestroyTcpServer ----

TEST_F(MultiServerTest, CallsRacingWithDestroyFailCleanly) {
  ServerCtx& a = add("A");
  ASSERT_NO_FATAL_FAILURE(create(a, {{TS_OPT_WORKER_THREADS, 2}}));
  const uint16_t port = start(a);
  MultiClient clients(port);
  ASSERT_TRUE(clients.open(8));
  ASSERT_TRUE(wait_until([&] { return a.connects.load() == 8; }, 10s));
  std::vector<uint64_t> ids;
  std::vector<TcpLink*> links;
  {
    std::lock_guard<std::mutex> lock(a.mu);
    ids = a.ids;
    links = a.open_links;
  }
  TcpServerHandle* handle = a.handle;

  std::atomic<bool> destroying{false}, destroyed{false}, stop{false};
  std::atomic<int> rounds_after{0};
  std::atomic<int> wrong_after{0};  // a call that succeeded, or failed oddly, after the destroy
  auto hammer = [&](unsigned seed) {
    int iteration = 0;
    while (!stop.load()) {
      const bool after = destroyed.load();
      const size_t k = (seed + iteration++) % ids.size();
      int ok_send = SendBufferById(ids[k], "z", 1);
      int code_send = ok_send ? 0 : GetLastErrorCode();
      int ok_link = SendBuffer(links[k], "y", 1);
      int code_link = ok_link ? 0 : GetLastErrorCode();
      int64_t queued = GetSendQueueBytesById(ids[k]);
      int32_t count = TcpServerGetLinkCount(handle);
      int code_count = count < 0 ? GetLastErrorCode() : 0;
      void* mem = TcpServerGetIOMem(handle);
      // A buffer we got goes back, unless the destroy freed its pool meanwhile.
      if (mem && !FreeIOMem(mem) && !destroying.load()) ++wrong_after;
      if (after) {
        if (ok_send || (code_send != TS_ERR_LINK_CLOSED && code_send != TS_ERR_NOT_ACTIVE))
          ++wrong_after;
        if (ok_link || code_link != TS_ERR_NOT_A_LINK) ++wrong_after;
        if (queued != -1 || count != -1 || code_count != TS_ERR_INVALID_ARGUMENT || mem)
          ++wrong_after;
        rounds_after++;
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 3; ++t) threads.emplace_back(hammer, t * 3);
  EXPECT_TRUE(wait_until(
      [&] { return TcpServerGetCounter(handle, TS_COUNTER_BYTES_OUT) > 1000; }, 20s));
  destroying = true;
  destroy(a);
  destroyed = true;
  EXPECT_TRUE(wait_until([&] { return rounds_after.load() > 300; }, 20s));
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong_after.load(), 0);
  EXPECT_EQ(a.disconnects.load(), 8);
}

}  // namespace
