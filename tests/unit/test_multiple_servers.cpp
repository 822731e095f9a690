// Several servers in one process (the TcpServer* family): each has its own callbacks (called
// with its Context), options, links, IO pool, threads and counters; link-, id- and
// buffer-based calls reach the server that owns the link, id or buffer; ids are unique across
// servers; bad handles and buffers of another server fail cleanly; the flat API keeps driving
// the default server.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <set>
#include <string>
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

constexpr size_t kLinksPerServer = 16;
constexpr uint64_t kBytesPerLink = 256 * 1024;

std::atomic<int> g_null_context{0};
std::atomic<int> g_other_context{0};
int32_t TS_CALL count_context_echo(void* context, TcpLink* link, uint8_t* buf, int32_t len) {
  (context ? g_other_context : g_null_context)++;
  return SendBuffer(link, buf, len);
}

TEST_F(MultiServerTest, TwoServersEchoAtOnceEachWithItsOwnCallbacksContextAndThreads) {
  ServerCtx& a = add("A");
  ServerCtx& b = add("B");
  ASSERT_NO_FATAL_FAILURE(create(a, {{TS_OPT_IO_BUFFER_SIZE, 1024}, {TS_OPT_WORKER_THREADS, 2},
                                     {TS_OPT_IO_BUFFER_COUNT, 2000}}));
  ASSERT_NO_FATAL_FAILURE(create(b, {{TS_OPT_IO_BUFFER_SIZE, 4096}, {TS_OPT_WORKER_THREADS, 3},
                                     {TS_OPT_IO_BUFFER_COUNT, 2000}}));
  EXPECT_EQ(TcpServerGetContext(a.handle), &a);
  EXPECT_EQ(TcpServerGetContext(b.handle), &b);
  const uint16_t port_a = start(a), port_b = start(b);
  ASSERT_NE(port_a, port_b);
  EXPECT_EQ(TcpServerGetWorkerCount(a.handle), 2);
  EXPECT_EQ(TcpServerGetWorkerCount(b.handle), 3);
  // The flat API drives the default server, which nobody started.
  EXPECT_EQ(IsTcpServerActive(), 0);
  EXPECT_EQ(GetServerPort(), 0u);
  EXPECT_EQ(GetWorkerCount(), 0);

  // Counters never reset: the default server's may hold an earlier test's (without CTest).
  const int64_t default_bytes_in = GetServerCounter(TS_COUNTER_BYTES_IN);
  const int64_t default_accepts = GetServerCounter(TS_COUNTER_ACCEPTS);
  MultiClient clients_a(port_a), clients_b(port_b);
  ASSERT_TRUE(clients_a.open(kLinksPerServer, 30s));
  ASSERT_TRUE(clients_b.open(kLinksPerServer, 30s));
  EchoStreams streams_a(clients_a, 1000, kBytesPerLink), streams_b(clients_b, 2000, kBytesPerLink);
  ASSERT_TRUE(pump_both(clients_a, clients_b,
                        [&] { return streams_a.finished() && streams_b.finished(); }, 120s))
      << "echo did not complete in time";
  EXPECT_TRUE(streams_a.all_verified()) << "server A";
  EXPECT_TRUE(streams_b.all_verified()) << "server B";

  for (ServerCtx* ctx : {&a, &b}) {
    SCOPED_TRACE("server " + ctx->name);
    EXPECT_EQ(ctx->connects.load(), static_cast<int>(kLinksPerServer));
    EXPECT_GT(ctx->receives.load(), 0);
    EXPECT_EQ(ctx->foreign_worker.load(), 0) << "a callback ran on a thread of another server";
    EXPECT_EQ(ctx->send_failed.load(), 0);
    EXPECT_LE(ctx->max_len.load(), ctx->buffer_size) << "OnReceive got more than the buffer size";
    EXPECT_EQ(TcpServerGetLinkCount(ctx->handle), static_cast<int32_t>(kLinksPerServer));
    // Counters are per server: exactly this server's traffic.
    const int64_t expected = static_cast<int64_t>(kLinksPerServer * kBytesPerLink);
    EXPECT_EQ(TcpServerGetCounter(ctx->handle, TS_COUNTER_BYTES_IN), expected);
    EXPECT_TRUE(wait_until(
        [&] { return TcpServerGetCounter(ctx->handle, TS_COUNTER_BYTES_OUT) == expected; }, 5s));
    EXPECT_EQ(TcpServerGetCounter(ctx->handle, TS_COUNTER_ACCEPTS),
              static_cast<int64_t>(kLinksPerServer));
  }
  EXPECT_EQ(GetServerCounter(TS_COUNTER_BYTES_IN), default_bytes_in)
      << "the default server saw traffic";
  EXPECT_EQ(GetServerCounter(TS_COUNTER_ACCEPTS), default_accepts);
  {  // ids never repeat across servers
    std::set<uint64_t> all = a.id_set();
    const std::set<uint64_t> of_b = b.id_set();
    all.insert(of_b.begin(), of_b.end());
    EXPECT_EQ(all.size(), 2 * kLinksPerServer);
  }

  ASSERT_EQ(TcpServerStop(a.handle, -1), 1) << GetLastErrorText();
  ASSERT_EQ(TcpServerStop(b.handle, -1), 1) << GetLastErrorText();
  for (auto [ctx, workers] : {std::pair{&a, 2}, std::pair{&b, 3}}) {
    SCOPED_TRACE("server " + ctx->name);
    EXPECT_EQ(ctx->disconnects.load(), static_cast<int>(kLinksPerServer));
    EXPECT_EQ(ctx->last_close_reason.load(), TS_CLOSE_SERVER_STOP);
    // Thread callbacks got this server's Context: its own workers and service thread, each
    // created and ended once, on itself.
    EXPECT_EQ(ctx->threads_of_kind(1), workers);
    EXPECT_EQ(ctx->threads_of_kind(0), 1);
    EXPECT_EQ(ctx->thread_exits_of_kind(1), workers);
    EXPECT_EQ(ctx->thread_exits_of_kind(0), 1);
    EXPECT_EQ(ctx->foreign_thread_exit.load(), 0);
    for (auto& t : ctx->threads) EXPECT_EQ(t->exited_elsewhere.load(), 0);
    EXPECT_EQ(TcpServerGetIOMemFree(ctx->handle), 2000) << "buffers not back after the stop";
  }
}

TEST_F(MultiServerTest, BufferSizeLinkLimitAndOtherOptionsArePerServer) {
  ServerCtx& a = add("A");
  ServerCtx& b = add("B");
  ASSERT_NO_FATAL_FAILURE(create(a, {{TS_OPT_IO_BUFFER_SIZE, 1024}, {TS_OPT_MAX_LINKS, 2},
                                     {TS_OPT_IO_BUFFER_COUNT, 100}}));
  ASSERT_NO_FATAL_FAILURE(create(b, {{TS_OPT_IO_BUFFER_SIZE, 4096}, {TS_OPT_MAX_LINKS, 50},
                                     {TS_OPT_IO_BUFFER_COUNT, 200}}));
  EXPECT_EQ(TcpServerGetOption(a.handle, TS_OPT_IO_BUFFER_SIZE), 1024);
  EXPECT_EQ(TcpServerGetOption(b.handle, TS_OPT_IO_BUFFER_SIZE), 4096);
  EXPECT_EQ(TcpServerGetOption(a.handle, TS_OPT_MAX_LINKS), 2);
  EXPECT_EQ(TcpServerGetOption(b.handle, TS_OPT_MAX_LINKS), 50);
  EXPECT_EQ(GetServerOption(TS_OPT_IO_BUFFER_SIZE), 2048) << "the default server's option changed";
  EXPECT_EQ(GetServerOption(TS_OPT_MAX_LINKS), 3000);
  // Each server has its own pool of its own size.
  EXPECT_EQ(TcpServerGetIOMemFree(a.handle), 100);
  EXPECT_EQ(TcpServerGetIOMemFree(b.handle), 200);
  EXPECT_EQ(GetIOMemFree(), 10000);

  const uint16_t port_a = start(a), port_b = start(b);
  BlockingClient a1, a2, a3, b1, b2, b3;
  ASSERT_TRUE(a1.connect(port_a));
  ASSERT_TRUE(a2.connect(port_a));
  ASSERT_TRUE(wait_until([&] { return a.connects.load() == 2; }, 5s));
  ASSERT_TRUE(a3.connect(port_a));  // over A's limit: accepted by the OS, closed by the engine
  EXPECT_TRUE(a3.wait_closed(5s));
  for (BlockingClient* c : {&b1, &b2, &b3}) ASSERT_TRUE(c->connect(port_b));  // B takes 3
  ASSERT_TRUE(wait_until([&] { return b.connects.load() == 3; }, 5s));
  // A refusal at the link limit is counted as the server closes the connection, which the
  // client may see first: waited for, not read at once.
  EXPECT_TRUE(wait_until([&] { return TcpServerGetCounter(a.handle, TS_COUNTER_REFUSED) == 1; }, 10s))
      << TcpServerGetCounter(a.handle, TS_COUNTER_REFUSED) << " refused by A";
  EXPECT_EQ(TcpServerGetCounter(b.handle, TS_COUNTER_REFUSED), 0);

  // A's buffers hold 1024 bytes, B's 4096: the same length is too long for one, fine for the other.
  const uint64_t id_a = a.id_of_port(a1.local_port()), id_b = b.id_of_port(b1.local_port());
  ASSERT_NE(id_a, 0u);
  ASSERT_NE(id_b, 0u);
  void* mem_a = TcpServerGetIOMem(a.handle);
  void* mem_b = TcpServerGetIOMem(b.handle);
  ASSERT_NE(mem_a, nullptr);
  ASSERT_NE(mem_b, nullptr);
  EXPECT_EQ(TcpServerGetIOMemFree(a.handle), 99);
  EXPECT_EQ(TcpServerGetIOMemFree(b.handle), 199);
  EXPECT_CALL_FAILS(PostSendById(id_a, mem_a, 2048), 0, TS_ERR_BAD_LENGTH);
  std::memset(mem_b, 'b', 2048);
  ASSERT_EQ(PostSendById(id_b, mem_b, 2048), 1) << GetLastErrorText();
  std::vector<uint8_t> got;
  ASSERT_TRUE(b1.recv_exact(2048, &got));
  EXPECT_EQ(got, std::vector<uint8_t>(2048, 'b'));
  std::memset(mem_a, 'a', 1024);
  ASSERT_EQ(PostSendById(id_a, mem_a, 1024), 1) << GetLastErrorText();
  ASSERT_TRUE(a1.recv_exact(1024, &got));
  EXPECT_EQ(got, std::vector<uint8_t>(1024, 'a'));
  EXPECT_TRUE(wait_until([&] { return TcpServerGetIOMemFree(a.handle) == 100; }, 5s));
  EXPECT_TRUE(wait_until([&] { return TcpServerGetIOMemFree(b.handle) == 200; }, 5s));

  // Options change per server while it is stopped, and only there.
  EXPECT_CALL_FAILS(TcpServerSetOption(a.handle, TS_OPT_MAX_LINKS, 10), 0, TS_ERR_ALREADY_ACTIVE);
  ASSERT_EQ(TcpServerStop(a.handle, -1), 1);
  EXPECT_EQ(TcpServerSetOption(a.handle, TS_OPT_MAX_LINKS, 10), 1) << GetLastErrorText();
  EXPECT_EQ(TcpServerGetOption(b.handle, TS_OPT_MAX_LINKS), 50);
  EXPECT_EQ(TcpServerIsActive(b.handle), 1);
}

// API 1.2: every statistic of the flat API exists per server and reports that server only.
TEST_F(MultiServerTest, EveryStatisticIsPerServer) {
  ServerCtx& a = add("A");
  ServerCtx& b = add("B");
  ASSERT_NO_FATAL_FAILURE(create(a, {{TS_OPT_IO_BUFFER_SIZE, 1024}, {TS_OPT_MAX_LINKS, 4},
                                     {TS_OPT_IO_BUFFER_COUNT, 100}, {TS_OPT_WORKER_THREADS, 2}}));
  ASSERT_NO_FATAL_FAILURE(create(b, {{TS_OPT_IO_BUFFER_SIZE, 4096}, {TS_OPT_MAX_LINKS, 40},
                                     {TS_OPT_IO_BUFFER_COUNT, 200}, {TS_OPT_WORKER_THREADS, 1}}));
  // Sizes before the start come from the options; the link table grows with TS_OPT_MAX_LINKS.
  EXPECT_EQ(TcpServerGetLinkFree(a.handle), 4);
  EXPECT_EQ(TcpServerGetLinkFree(b.handle), 40);
  EXPECT_EQ(TcpServerGetLinkSize(b.handle), 10 * TcpServerGetLinkSize(a.handle));
  EXPECT_GE(TcpServerGetIOMemSize(a.handle), 100 * 1024);
  EXPECT_LT(TcpServerGetIOMemSize(a.handle), 100 * 4096);
  EXPECT_GE(TcpServerGetIOMemSize(b.handle), 200 * 4096);

  const uint16_t port_a = start(a), port_b = start(b);
  BlockingClient a1, a2, b1;
  ASSERT_TRUE(a1.connect(port_a));
  ASSERT_TRUE(a2.connect(port_a));
  ASSERT_TRUE(b1.connect(port_b));
  ASSERT_TRUE(wait_until([&] { return a.connects.load() == 2 && b.connects.load() == 1; }, 5s));
  EXPECT_EQ(TcpServerGetLinkFree(a.handle), 2);
  EXPECT_EQ(TcpServerGetLinkFree(b.handle), 39);
  EXPECT_DOUBLE_EQ(TcpServerGetLinkUse(a.handle), 50.0);
  EXPECT_DOUBLE_EQ(TcpServerGetLinkUse(b.handle), 2.5);
  EXPECT_EQ(GetLinkFree(), GetServerOption(TS_OPT_MAX_LINKS)) << "the default server changed";

  void* held = TcpServerGetIOMem(a.handle);  // 1 of A's 100 buffers
  ASSERT_NE(held, nullptr);
  EXPECT_DOUBLE_EQ(TcpServerGetIOMemUse(a.handle), 1.0);
  EXPECT_DOUBLE_EQ(TcpServerGetIOMemUse(b.handle), 0.0);
  ASSERT_EQ(FreeIOMem(held), 1) << GetLastErrorText();

  // Workers: A has two, B one, each with its own thread id; index 3 of A does not exist.
  const int32_t a_w1 = TcpServerGetWorkerID(a.handle, 1), a_w2 = TcpServerGetWorkerID(a.handle, 2);
  const int32_t b_w1 = TcpServerGetWorkerID(b.handle, 1);
  EXPECT_NE(a_w1, 0);
  EXPECT_NE(a_w2, 0);
  EXPECT_NE(b_w1, 0);
  EXPECT_EQ(std::set<int32_t>({a_w1, a_w2, b_w1}).size(), 3u);
  EXPECT_CALL_FAILS(TcpServerGetWorkerID(a.handle, 3), 0, TS_ERR_INVALID_ARGUMENT);
  EXPECT_CALL_FAILS(TcpServerGetWorkerExecInfo(b.handle, 2, nullptr), -1, TS_ERR_INVALID_ARGUMENT);
  // Each callback ran on one of its server's workers: A ran two connects and B one, at least.
  const auto executed = [](TcpServerHandle* h, int workers) {
    int64_t sum = 0;
    for (int i = 1; i <= workers; ++i) {
      uint32_t busy_ms = 0;
      const int32_t n = TcpServerGetWorkerExecInfo(h, i, &busy_ms);
      EXPECT_GE(n, 0) << GetLastErrorText();
      sum += n;
    }
    return sum;
  };
  EXPECT_GE(executed(a.handle, 2), 2);
  EXPECT_GE(executed(b.handle, 1), 1);
  ASSERT_TRUE(b1.send_all("ping"));
  std::vector<uint8_t> got;
  ASSERT_TRUE(b1.recv_exact(4, &got));
  EXPECT_GE(executed(b.handle, 1), 2);  // the connect and the receive
  // Each server's service thread runs its own passes.
  EXPECT_TRUE(wait_until([&] { return TcpServerGetExecCount(a.handle) >= 1 &&
                                      TcpServerGetExecCount(b.handle) >= 1; }, 5s));
  EXPECT_GE(TcpServerGetExecLong(a.handle), 0);
}

TEST_F(MultiServerTest, IdleTimeoutIsPerServer) {
  ServerCtx& a = add("A");
  ServerCtx& b = add("B");
  ASSERT_NO_FATAL_FAILURE(create(a, {{TS_OPT_IDLE_TIMEOUT_MS, 300}}));
  ASSERT_NO_FATAL_FAILURE(create(b, {{TS_OPT_IDLE_TIMEOUT_MS, 0}}));
  const uint16_t port_a = start(a), port_b = start(b);
  BlockingClient ca, cb;
  ASSERT_TRUE(ca.connect(port_a));
  ASSERT_TRUE(cb.connect(port_b));
  ASSERT_TRUE(wait_until([&] { return a.connects.load() == 1 && b.connects.load() == 1; }, 5s));
  // A's link goes idle: its OnLinkIdleOvertime gets A's Context.
  EXPECT_TRUE(ca.wait_closed(10s));
  EXPECT_TRUE(wait_until([&] { return a.idles.load() == 1; }, 5s));
  EXPECT_EQ(TcpServerGetCounter(a.handle, TS_COUNTER_IDLE_CLOSED), 1);
  // B never closes idle links: still open after several of A's timeouts.
  EXPECT_FALSE(wait_until([&] { return b.idles.load() + b.disconnects.load() > 0; }, 1200ms));
  EXPECT_EQ(TcpServerGetCounter(b.handle, TS_COUNTER_IDLE_CLOSED), 0);
  ASSERT_TRUE(cb.send_all("still here"));
  std::vector<uint8_t> echo;
  ASSERT_TRUE(cb.recv_exact(10, &echo));
  EXPECT_EQ(std::string(echo.begin(), echo.end()), "still here");
}

TEST_F(MultiServerTest, IdsAreUniqueAcrossServersAndIdCallsReachTheRightServer) {
  ServerCtx& a = add("A");
  ServerCtx& b = add("B");
  ASSERT_NO_FATAL_FAILURE(create(a));
  ASSERT_NO_FATAL_FAILURE(create(b));
  const uint16_t port_a = start(a), port_b = start(b);
  ASSERT_NO_FATAL_FAILURE(start_server());  // the default one too, driven by the flat API
  constexpr size_t kEach = 20;
  MultiClient ma(port_a), mb(port_b), md(port_);
  for (size_t round = 0; round < kEach; ++round) {  // interleaved: one id sequence for all
    ASSERT_TRUE(ma.open(1));
    ASSERT_TRUE(mb.open(1));
    ASSERT_TRUE(md.open(1));
  }
  ASSERT_TRUE(wait_until(
      [&] { return a.connects.load() == kEach && b.connects.load() == kEach &&
                   GetLinkCount() == static_cast<int32_t>(kEach); },
      10s));
  std::set<uint64_t> all = a.id_set();
  const std::set<uint64_t> of_b = b.id_set();
  all.insert(of_b.begin(), of_b.end());
  EXPECT_EQ(all.size(), 2 * kEach);
  for (uint64_t id : all) EXPECT_NE(id, 0u);
  EXPECT_EQ(GetLinkCount(), static_cast<int32_t>(kEach));
  EXPECT_EQ(TcpServerGetLinkCount(a.handle), static_cast<int32_t>(kEach));
  EXPECT_EQ(TcpServerGetLinkCount(GetDefaultTcpServer()), static_cast<int32_t>(kEach));

  BlockingClient ca, cb;
  ASSERT_TRUE(ca.connect(port_a));
  ASSERT_TRUE(cb.connect(port_b));
  uint64_t id_a = 0, id_b = 0;
  ASSERT_TRUE(wait_until([&] {
    id_a = a.id_of_port(ca.local_port());
    id_b = b.id_of_port(cb.local_port());
    return id_a && id_b;
  }, 5s));
  // The flat id calls find the link's server, whichever it is.
  ASSERT_EQ(SendBufferById(id_a, "to A", 4), 1) << GetLastErrorText();
  ASSERT_EQ(SendBufferById(id_b, "to B", 4), 1) << GetLastErrorText();
  std::vector<uint8_t> got;
  ASSERT_TRUE(ca.recv_exact(4, &got));
  EXPECT_EQ(std::string(got.begin(), got.end()), "to A");
  ASSERT_TRUE(cb.recv_exact(4, &got));
  EXPECT_EQ(std::string(got.begin(), got.end()), "to B");
  void* mem = TcpServerGetIOMem(b.handle);
  ASSERT_NE(mem, nullptr);
  std::memcpy(mem, "pool B", 6);
  ASSERT_EQ(PostSendById(id_b, mem, 6), 1) << GetLastErrorText();
  ASSERT_TRUE(cb.recv_exact(6, &got));
  EXPECT_EQ(std::string(got.begin(), got.end()), "pool B");

  const int a_closed = a.disconnects.load();
  ASSERT_EQ(CloseLinkById(id_b), 1) << GetLastErrorText();
  EXPECT_TRUE(cb.wait_closed(5s));
  EXPECT_TRUE(wait_until([&] { return b.disconnects.load() == 1; }, 5s));
  EXPECT_EQ(b.last_close_reason.load(), TS_CLOSE_BY_APP);
  EXPECT_EQ(a.disconnects.load(), a_closed);
  EXPECT_CALL_FAILS(SendBufferById(id_b, "x", 1), 0, TS_ERR_LINK_CLOSED);
  // Link-pointer calls too: A's link, from outside its callbacks while it is open.
  TcpLink* link_a = a.any_open_link();
  ASSERT_NE(link_a, nullptr);
  ASSERT_EQ(CloseLinkEx(link_a, TS_CLOSE_FLAG_ABORT), 1) << GetLastErrorText();
  EXPECT_TRUE(wait_until([&] { return a.disconnects.load() == a_closed + 1; }, 5s));
  EXPECT_EQ(GetLinkCount(), static_cast<int32_t>(kEach)) << "the default server lost a link";
}

// A stale id is a closed link whichever server issued it: with the default server stopped and
// only a created server running, the id calls must not report "the server is not running".
TEST_F(MultiServerTest, StaleIdFailsAsClosedWhileOnlyACreatedServerRuns) {
  ServerCtx& a = add("A");
  ASSERT_NO_FATAL_FAILURE(create(a));
  const uint16_t port_a = start(a);
  ASSERT_EQ(IsTcpServerActive(), 0);
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_a));
  uint64_t id = 0;
  ASSERT_TRUE(wait_until([&] { return (id = a.id_of_port(client.local_port())) != 0; }, 5s));
  ASSERT_EQ(CloseLinkById(id), 1) << GetLastErrorText();
  ASSERT_TRUE(wait_until([&] { return a.disconnects.load() == 1; }, 5s));
  EXPECT_CALL_FAILS(CloseLinkById(id), 0, TS_ERR_LINK_CLOSED);
  EXPECT_CALL_FAILS(SendBufferById(id, "x", 1), 0, TS_ERR_LINK_CLOSED);
  EXPECT_CALL_FAILS(PauseReceiveById(id), 0, TS_ERR_LINK_CLOSED);
  EXPECT_CALL_FAILS(GetSendQueueBytesById(id), -1, TS_ERR_LINK_CLOSED);
  ASSERT_EQ(TcpServerStop(a.handle, -1), 1) << GetLastErrorText();
  // No server runs at all: that is what the caller needs to hear.
  EXPECT_CALL_FAILS(CloseLinkById(id), 0, TS_ERR_NOT_ACTIVE);
}

TEST_F(MultiServerTest, BroadcastLinkIdsAndFlowControlWorkPerServer) {
  ServerCtx& a = add("A");
  ServerCtx& b = add("B");
  ASSERT_NO_FATAL_FAILURE(create(a));
  ASSERT_NO_FATAL_FAILURE(create(b));
  const uint16_t port_a = start(a), port_b = start(b);
  BlockingClient a1, a2, a3, b1;
  for (BlockingClient* c : {&a1, &a2, &a3}) ASSERT_TRUE(c->connect(port_a));
  ASSERT_TRUE(b1.connect(port_b));
  ASSERT_TRUE(wait_until([&] { return a.connects.load() == 3 && b.connects.load() == 1; }, 5s));
  const uint64_t id_a1 = a.id_of_port(a1.local_port()), id_b1 = b.id_of_port(b1.local_port());

  // Each server enumerates its own links only.
  uint64_t ids[8] = {};
  ASSERT_EQ(TcpServerGetLinkIds(a.handle, ids, 8), 3) << GetLastErrorText();
  EXPECT_EQ(std::set<uint64_t>(ids, ids + 3), a.id_set());
  ASSERT_EQ(TcpServerGetLinkIds(b.handle, ids, 8), 1) << GetLastErrorText();
  EXPECT_EQ(ids[0], id_b1);
  EXPECT_EQ(TcpServerGetLinkIds(a.handle, nullptr, 0), 3);

  // A broadcast on A reaches A's links but the excepted one, and none of B's. A marker sent
  // right after it arrives first where the broadcast did not go (sends on a link keep order).
  EXPECT_EQ(TcpServerPostBroadcast(a.handle, "all", 3, id_a1), 2) << GetLastErrorText();
  ASSERT_EQ(SendBufferById(id_a1, "M", 1), 1);
  ASSERT_EQ(SendBufferById(id_b1, "N", 1), 1);
  std::vector<uint8_t> got;
  ASSERT_TRUE(a1.recv_exact(1, &got));
  EXPECT_EQ(got[0], 'M') << "the broadcast reached the excepted link";
  ASSERT_TRUE(b1.recv_exact(1, &got));
  EXPECT_EQ(got[0], 'N') << "A's broadcast reached B's link";
  for (BlockingClient* c : {&a2, &a3}) {
    ASSERT_TRUE(c->recv_exact(3, &got));
    EXPECT_EQ(std::string(got.begin(), got.end()), "all");
  }
  EXPECT_EQ(TcpServerPostBroadcast(b.handle, "bee", 3, 0), 1);
  ASSERT_TRUE(b1.recv_exact(3, &got));

  // Flow control by id reaches B's link too (the default server is not even running).
  EXPECT_EQ(PauseReceiveById(id_b1), 1) << GetLastErrorText();
  EXPECT_EQ(GetSendQueueBytesById(id_b1), 0) << GetLastErrorText();
  EXPECT_EQ(ResumeReceiveById(id_b1), 1) << GetLastErrorText();
  ASSERT_TRUE(b1.send_all("ping"));
  ASSERT_TRUE(b1.recv_exact(4, &got));
  EXPECT_EQ(std::string(got.begin(), got.end()), "ping");
}

TEST_F(MultiServerTest, BufferOfAnotherServerIsRefusedAndStaysTheCallers) {
  ServerCtx& a = add("A");
  ServerCtx& b = add("B");
  ASSERT_NO_FATAL_FAILURE(create(a, {{TS_OPT_IO_BUFFER_COUNT, 64}}));
  ASSERT_NO_FATAL_FAILURE(create(b, {{TS_OPT_IO_BUFFER_COUNT, 64}}));
  const uint16_t port_a = start(a), port_b = start(b);
  BlockingClient ca, cb;
  ASSERT_TRUE(ca.connect(port_a));
  ASSERT_TRUE(cb.connect(port_b));
  ASSERT_TRUE(wait_until([&] { return a.connects.load() == 1 && b.connects.load() == 1; }, 5s));
  TcpLink* link_b = b.any_open_link();
  const uint64_t id_b = b.id_of_port(cb.local_port());
  ASSERT_NE(link_b, nullptr);

  void* mem_a = TcpServerGetIOMem(a.handle);
  ASSERT_NE(mem_a, nullptr);
  std::memcpy(mem_a, "from A", 6);
  EXPECT_CALL_FAILS(PostSend(link_b, mem_a, 6), 0, TS_ERR_NOT_A_BUFFER);
  EXPECT_NE(std::string(GetLastErrorText()).find("another server"), std::string::npos)
      << GetLastErrorText();
  EXPECT_CALL_FAILS(PostSendById(id_b, mem_a, 6), 0, TS_ERR_NOT_A_BUFFER);
  EXPECT_CALL_FAILS(PostRecv(link_b, mem_a), 0, TS_ERR_NOT_A_BUFFER);
  EXPECT_EQ(TcpServerGetIOMemFree(a.handle), 63) << "the refused buffer was taken";
  EXPECT_EQ(TcpServerGetIOMemFree(b.handle), 64);
  // Still the caller's: it sends on a link of its own server.
  ASSERT_EQ(PostSend(a.any_open_link(), mem_a, 6), 1) << GetLastErrorText();
  std::vector<uint8_t> got;
  ASSERT_TRUE(ca.recv_exact(6, &got));
  EXPECT_EQ(std::string(got.begin(), got.end()), "from A");
  // B's link is unharmed.
  ASSERT_EQ(SendBuffer(link_b, "ok", 2), 1) << GetLastErrorText();
  ASSERT_TRUE(cb.recv_exact(2, &got));

  // FreeIOMem takes a buffer of any server's pool (and a double free is still caught).
  void* mem_a2 = TcpServerGetIOMem(a.handle);
  void* mem_b2 = TcpServerGetIOMem(b.handle);
  void* mem_d = GetIOMem();
  ASSERT_TRUE(mem_a2 && mem_b2 && mem_d);
  const int32_t default_free = GetIOMemFree();
  EXPECT_EQ(FreeIOMem(mem_b2), 1) << GetLastErrorText();
  EXPECT_EQ(FreeIOMem(mem_a2), 1) << GetLastErrorText();
  EXPECT_CALL_FAILS(FreeIOMem(mem_a2), 0, TS_ERR_BUFFER_NOT_OWNED);
  EXPECT_EQ(GetIOMemFree(), default_free) << "a buffer of A or B went into the default pool";
  EXPECT_EQ(FreeIOMem(mem_d), 1) << GetLastErrorText();
  EXPECT_TRUE(wait_until([&] { return TcpServerGetIOMemFree(a.handle) == 64; }, 5s));
  EXPECT_EQ(TcpServerGetIOMemFree(b.handle), 64);
}

TEST_F(MultiServerTest, BadHandlesFailWithInvalidArgument) {
  ServerCtx& x = add("X");
  ASSERT_NO_FATAL_FAILURE(create(x));
  TcpServerHandle* destroyed = x.handle;
  destroy(x);
  int local = 0;
  auto* garbage = reinterpret_cast<TcpServerHandle*>(&local);
  auto* odd = reinterpret_cast<TcpServerHandle*>(static_cast<uintptr_t>(0x12345));
  for (TcpServerHandle* h : {static_cast<TcpServerHandle*>(nullptr), destroyed, garbage, odd}) {
    SCOPED_TRACE(testing::Message() << "handle " << static_cast<void*>(h));
    EXPECT_CALL_FAILS(DestroyTcpServer(h), 0, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetContext(h), nullptr, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerStart(h, "127.0.0.1", 0), 0, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerStop(h, -1), 0, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerIsActive(h), 0, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetPort(h), 0u, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerSetEventProc(h, ctx_receive, nullptr, nullptr, nullptr, nullptr),
                      0, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerSetConnectProc(h, ctx_connect), 0, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerSetThreadExitProc(h, ctx_thread_exit), 0, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerSetOption(h, TS_OPT_MAX_LINKS, 5), 0, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetOption(h, TS_OPT_MAX_LINKS), -1, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetIOMem(h), nullptr, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetLinkCount(h), -1, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetIOMemFree(h), -1, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetWorkerCount(h), -1, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetCounter(h, TS_COUNTER_BYTES_IN), -1, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetLinkFree(h), -1, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetLinkUse(h), -1.0, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetLinkSize(h), -1, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetIOMemUse(h), -1.0, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetIOMemSize(h), -1, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetWorkerID(h, 1), 0, TS_ERR_INVALID_ARGUMENT);
    uint32_t busy = 7;
    EXPECT_CALL_FAILS(TcpServerGetWorkerExecInfo(h, 1, &busy), -1, TS_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(busy, 7u) << "a failed call wrote its output";
    EXPECT_CALL_FAILS(TcpServerGetExecLong(h), -1, TS_ERR_INVALID_ARGUMENT);
    EXPECT_CALL_FAILS(TcpServerGetExecCount(h), -1, TS_ERR_INVALID_ARGUMENT);
  }
  // The default server is never destroyed.
  EXPECT_CALL_FAILS(DestroyTcpServer(GetDefaultTcpServer()), 0, TS_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(TcpServerIsActive(GetDefaultTcpServer()), 0);
  // A new server may take the destroyed one's place: the old handle still names nothing.
  ServerCtx& y = add("Y");
  ASSERT_NO_FATAL_FAILURE(create(y));
  EXPECT_NE(y.handle, destroyed);
  EXPECT_CALL_FAILS(TcpServerGetContext(destroyed), nullptr, TS_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(TcpServerGetContext(y.handle), &y);
  // Bad arguments with a good handle fail as their flat twins do.
  EXPECT_CALL_FAILS(TcpServerStop(y.handle, -2), 0, TS_ERR_INVALID_ARGUMENT);
  EXPECT_CALL_FAILS(TcpServerGetCounter(y.handle, 999), -1, TS_ERR_INVALID_ARGUMENT);
  EXPECT_CALL_FAILS(TcpServerGetWorkerID(y.handle, 1), 0, TS_ERR_INVALID_ARGUMENT);  // not started
  EXPECT_CALL_FAILS(TcpServerGetWorkerExecInfo(y.handle, 0, nullptr), -1, TS_ERR_INVALID_ARGUMENT);
  EXPECT_CALL_FAILS(TcpServerGetOption(y.handle, 9999), -1, TS_ERR_UNKNOWN_OPTION);
  EXPECT_CALL_FAILS(TcpServerStart(y.handle, "abc", 0), 0, TS_ERR_BAD_ADDRESS);
}

TEST_F(MultiServerTest, CreatingMoreServersThanTheLimitFailsAndDestroyingFreesTheirPlaces) {
  std::vector<TcpServerHandle*> made;
  TcpServerHandle* h;
  while (made.size() < 1000 && (h = CreateTcpServer(nullptr)) != nullptr) made.push_back(h);
  EXPECT_EQ(made.size(), 255u) << "the documented limit: 255 besides the default server";
  EXPECT_CALL_FAILS(CreateTcpServer(nullptr), nullptr, TS_ERR_OUT_OF_MEMORY);
  const std::set<TcpServerHandle*> distinct(made.begin(), made.end());
  EXPECT_EQ(distinct.size(), made.size());
  EXPECT_EQ(distinct.count(GetDefaultTcpServer()), 0u);
  for (TcpServerHandle* m : made) EXPECT_EQ(DestroyTcpServer(m), 1) << GetLastErrorText();
  TcpServerHandle* again = CreateTcpServer(nullptr);
  ASSERT_NE(again, nullptr) << GetLastErrorText();
  EXPECT_EQ(distinct.count(again), 0u) << "a destroyed handle came back";
  EXPECT_EQ(DestroyTcpServer(again), 1);
}

TEST_F(MultiServerTest, TheFlatApiDrivesTheDefaultServerWhichHasAHandleToo) {
  g_null_context = 0;  // counted afresh each run (--gtest_repeat)
  g_other_context = 0;
  TcpServerHandle* d = GetDefaultTcpServer();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(GetDefaultTcpServer(), d);
  prime_last_error(TS_ERR_INVALID_ARGUMENT);
  const int32_t primed = GetLastErrorCode();
  EXPECT_EQ(TcpServerGetContext(d), nullptr);
  EXPECT_EQ(GetLastErrorCode(), primed) << "a NULL Context is not an error for the default server";
  ASSERT_EQ(TcpServerSetOption(d, TS_OPT_MAX_LINKS, 77), 1) << GetLastErrorText();
  EXPECT_EQ(GetServerOption(TS_OPT_MAX_LINKS), 77);
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_EQ(TcpServerIsActive(d), 1);
  EXPECT_EQ(TcpServerGetPort(d), GetServerPort());
  EXPECT_EQ(TcpServerGetWorkerCount(d), GetWorkerCount());
  BlockingClient c;
  ASSERT_TRUE(c.connect(port_));
  ASSERT_TRUE(c.send_all("echo"));  // no callbacks: the built-in echo
  std::vector<uint8_t> got;
  ASSERT_TRUE(c.recv_exact(4, &got));
  EXPECT_EQ(TcpServerGetCounter(d, TS_COUNTER_BYTES_IN), GetServerCounter(TS_COUNTER_BYTES_IN));
  EXPECT_EQ(TcpServerGetLinkCount(d), GetLinkCount());
  EXPECT_EQ(TcpServerGetLinkFree(d), GetLinkFree());
  EXPECT_EQ(TcpServerGetLinkUse(d), GetLinkUse());
  EXPECT_EQ(TcpServerGetLinkSize(d), GetLinkSize());
  EXPECT_EQ(TcpServerGetIOMemUse(d), GetIOMemUse());
  EXPECT_EQ(TcpServerGetIOMemSize(d), GetIOMemSize());
  EXPECT_EQ(TcpServerGetWorkerID(d, 1), GetWorkerID(1));
  EXPECT_GE(TcpServerGetExecCount(d), GetServerExecCount() - 1);  // a service pass may fall between
  ASSERT_EQ(TcpServerStop(d, -1), 1) << GetLastErrorText();
  EXPECT_EQ(IsTcpServerActive(), 0);

  // Ex callbacks on the default server get its Context: NULL. SetEventProc replaces them.
  ASSERT_EQ(TcpServerSetEventProc(d, count_context_echo, nullptr, nullptr, nullptr, nullptr), 1)
      << GetLastErrorText();
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient c2;
  ASSERT_TRUE(c2.connect(port_));
  ASSERT_TRUE(c2.send_all("x"));
  ASSERT_TRUE(c2.recv_exact(1, &got));
  EXPECT_EQ(g_null_context.load(), 1);
  EXPECT_EQ(g_other_context.load(), 0);
  ASSERT_TRUE(stop_server());
  SetEventProc(nullptr, nullptr, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient c3;
  ASSERT_TRUE(c3.connect(port_));
  ASSERT_TRUE(c3.send_all("y"));
  ASSERT_TRUE(c3.recv_exact(1, &got));  // the built-in echo again
  EXPECT_EQ(g_null_context.load(), 1);
}

TEST_F(MultiServerTest, LogLevelIsProcessWideLikeTheLogSink) {
  ServerCtx& a = add("A");
  ServerCtx& b = add("B");
  ASSERT_NO_FATAL_FAILURE(create(a));
  ASSERT_NO_FATAL_FAILURE(create(b));
  ASSERT_EQ(TcpServerSetOption(a.handle, TS_OPT_LOG_LEVEL, TS_LOG_DEBUG), 1) << GetLastErrorText();
  EXPECT_EQ(TcpServerGetOption(b.handle, TS_OPT_LOG_LEVEL), TS_LOG_DEBUG);
  EXPECT_EQ(GetServerOption(TS_OPT_LOG_LEVEL), TS_LOG_DEBUG);
  start(b);  // starting another server does not reset it
  EXPECT_EQ(GetServerOption(TS_OPT_LOG_LEVEL), TS_LOG_DEBUG);
  EXPECT_TRUE(log_contains("listening on")) << "B's start was not logged at the debug level";
  ASSERT_EQ(SetServerOption(TS_OPT_LOG_LEVEL, TS_LOG_ERROR), 1);
  EXPECT_EQ(TcpServerGetOption(a.handle, TS_OPT_LOG_LEVEL), TS_LOG_ERROR);
}

}  // namespace
