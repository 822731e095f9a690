// Flow control: PauseReceive stops reading a link (the peer's writes back up in TCP), and
// ResumeReceive delivers everything that waited, in order. A pause by the application and a
// pause for an exhausted pool are independent: neither's resume restarts a link the other
// holds. GetSendQueueBytes shows what a slow reader leaves queued.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "support/blocking_client.h"
#include "support/payload.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

constexpr int kMaxTracked = 4;

struct Tracked {
  std::atomic<uint64_t> id{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> first_bad{UINT64_MAX};  // offset of the first byte out of order
  uint64_t seed = 0;
};
Tracked g_links[kMaxTracked];
std::atomic<int> g_opened{0};
std::atomic<bool> g_pause_in_callback{false};

int32_t TS_CALL on_connect(TcpLink* link) {
  int i = g_opened++;
  if (i < kMaxTracked) {
    link->Data = &g_links[i];
    g_links[i].id = link->Id;
  }
  return 1;
}

// Checks each link's bytes against its pattern stream; optionally pauses itself once.
int32_t TS_CALL on_receive(TcpLink* link, uint8_t* buf, int32_t len) {
  auto* t = static_cast<Tracked*>(link->Data);
  if (!t) return 1;
  uint64_t at = t->bytes.load();
  size_t bad = pattern_mismatch(t->seed, at, buf, static_cast<size_t>(len));
  if (bad != static_cast<size_t>(len) && t->first_bad == UINT64_MAX) t->first_bad = at + bad;
  t->bytes += static_cast<uint64_t>(len);
  if (g_pause_in_callback.exchange(false)) {
    EXPECT_EQ(PauseReceive(link), 1) << GetLastErrorText();
  }
  return 1;
}

class FlowControlTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_opened = 0;
    g_pause_in_callback = false;
    for (int i = 0; i < kMaxTracked; ++i) {
      g_links[i].id = 0;
      g_links[i].bytes = 0;
      g_links[i].first_bad = UINT64_MAX;
      g_links[i].seed = 700 + static_cast<uint64_t>(i);
    }
  }

  void start_tracking() {
    SetEventProc(on_receive, nullptr, nullptr, nullptr, nullptr);
    ASSERT_EQ(SetConnectProc(on_connect), 1);
    ASSERT_NO_FATAL_FAILURE(start_server());
  }

  // Connects client number `i` (in connect order) and waits for its OnConnect.
  void connect(BlockingClient& client, int i) {
    ASSERT_TRUE(client.connect(port_));
    ASSERT_TRUE(wait_until([&] { return g_opened.load() > i; }, 5s));
  }

  // Writes link i's pattern without blocking until the kernel refuses more (both sockets'
  // buffers full: proof the server reads nothing), within a bound. Returns the bytes written.
  uint64_t write_until_blocked(BlockingClient& client, int i, uint64_t from) {
    std::vector<uint8_t> chunk(64 * 1024);
    uint64_t sent = from;
    const auto start = Clock::now();
    int blocked_in_a_row = 0;
    while (sent - from < (256u << 20) && ms_since(start) < 20000) {
      fill_pattern(g_links[i].seed, sent, chunk.data(), chunk.size());
      long n = client.try_send(chunk.data(), chunk.size());
      EXPECT_GE(n, 0) << "the connection broke";
      if (n < 0) break;
      if (n == 0) {
        // Blocked: make sure it stays so (the kernel may still be moving bytes over).
        if (++blocked_in_a_row >= 20) break;
        std::this_thread::sleep_for(10ms);
        continue;
      }
      blocked_in_a_row = 0;
      sent += static_cast<uint64_t>(n);
    }
    EXPECT_GE(blocked_in_a_row, 20) << "the client's writes never blocked: the server kept reading";
    return sent;
  }
};

TEST_F(FlowControlTest, PausedLinkReadsNothingThenResumesWithEveryByteInOrder) {
  ASSERT_NO_FATAL_FAILURE(start_tracking());
  BlockingClient client;
  ASSERT_NO_FATAL_FAILURE(connect(client, 0));
  const uint64_t id = g_links[0].id;
  ASSERT_EQ(PauseReceiveById(id), 1) << GetLastErrorText();
  ASSERT_EQ(PauseReceiveById(id), 1) << "pausing a paused link must succeed";
  const int64_t in0 = GetServerCounter(TS_COUNTER_BYTES_IN);
  uint64_t sent = write_until_blocked(client, 0, 0);
  EXPECT_EQ(g_links[0].bytes.load(), 0u);
  EXPECT_EQ(GetServerCounter(TS_COUNTER_BYTES_IN), in0) << "bytes were read while paused";

  ASSERT_EQ(ResumeReceiveById(id), 1) << GetLastErrorText();
  ASSERT_EQ(ResumeReceiveById(id), 1) << "resuming a running link must succeed";
  ASSERT_TRUE(wait_until([&] { return g_links[0].bytes.load() >= sent; }, 30s))
      << g_links[0].bytes.load() << " of " << sent << " bytes after ResumeReceive";
  EXPECT_EQ(g_links[0].bytes.load(), sent);
  EXPECT_EQ(g_links[0].first_bad.load(), UINT64_MAX);
}

TEST_F(FlowControlTest, PauseFromOnReceiveStopsTheNextReads) {
  ASSERT_NO_FATAL_FAILURE(start_tracking());
  BlockingClient client;
  ASSERT_NO_FATAL_FAILURE(connect(client, 0));
  g_pause_in_callback = true;
  std::vector<uint8_t> first(100);
  fill_pattern(g_links[0].seed, 0, first.data(), first.size());
  ASSERT_TRUE(client.send_all(first.data(), first.size()));
  ASSERT_TRUE(wait_until([] { return g_links[0].bytes.load() >= 100; }, 5s));
  uint64_t sent = write_until_blocked(client, 0, 100);
  // The read that paused was delivered; nothing after it.
  EXPECT_EQ(g_links[0].bytes.load(), 100u);
  ASSERT_EQ(ResumeReceiveById(g_links[0].id), 1) << GetLastErrorText();
  ASSERT_TRUE(wait_until([&] { return g_links[0].bytes.load() >= sent; }, 30s));
  EXPECT_EQ(g_links[0].bytes.load(), sent);
  EXPECT_EQ(g_links[0].first_bad.load(), UINT64_MAX);
}

// Holds every pool buffer until released.
struct HeldPool {
  std::vector<void*> held;
  void take_all() {
    for (void* mem; (mem = GetIOMem()) != nullptr;) held.push_back(mem);
  }
  void release() {
    for (void* mem : held) EXPECT_EQ(FreeIOMem(mem), 1) << GetLastErrorText();
    held.clear();
  }
  ~HeldPool() { release(); }
};

TEST_F(FlowControlTest, PoolRefillDoesNotResumeALinkTheAppPaused) {
  ASSERT_EQ(SetServerOption(TS_OPT_IO_BUFFER_COUNT, 64), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 1), 1);  // both links retried in one pass
  ASSERT_NO_FATAL_FAILURE(start_tracking());
  BlockingClient a, b;
  ASSERT_NO_FATAL_FAILURE(connect(a, 0));
  ASSERT_NO_FATAL_FAILURE(connect(b, 1));
  HeldPool pool;
  pool.take_all();
  const int64_t pauses0 = GetServerCounter(TS_COUNTER_RECV_PAUSES);
  std::vector<uint8_t> data(10000);
  fill_pattern(g_links[0].seed, 0, data.data(), data.size());
  ASSERT_TRUE(a.send_all(data.data(), data.size()));
  ASSERT_TRUE(wait_until([&] { return GetServerCounter(TS_COUNTER_RECV_PAUSES) > pauses0; }, 5s))
      << "link a did not stop for the empty pool";
  ASSERT_EQ(PauseReceiveById(g_links[0].id), 1) << GetLastErrorText();  // now held by both
  fill_pattern(g_links[1].seed, 0, data.data(), data.size());
  ASSERT_TRUE(b.send_all(data.data(), data.size()));
  ASSERT_TRUE(wait_until([&] { return GetServerCounter(TS_COUNTER_RECV_PAUSES) > pauses0 + 1; }, 5s));

  pool.release();  // the pool resumes both; a stays held by the application
  ASSERT_TRUE(wait_until([] { return g_links[1].bytes.load() >= 10000; }, 10s))
      << "link b did not resume after the pool refilled";
  EXPECT_EQ(g_links[0].bytes.load(), 0u) << "the pool refill resumed a link the application paused";

  ASSERT_EQ(ResumeReceiveById(g_links[0].id), 1) << GetLastErrorText();
  ASSERT_TRUE(wait_until([] { return g_links[0].bytes.load() >= 10000; }, 10s));
  EXPECT_EQ(g_links[0].first_bad.load(), UINT64_MAX);
  EXPECT_EQ(g_links[1].first_bad.load(), UINT64_MAX);
}

TEST_F(FlowControlTest, ResumeByTheAppDoesNotReadWhileThePoolIsEmpty) {
  ASSERT_EQ(SetServerOption(TS_OPT_IO_BUFFER_COUNT, 64), 1);
  ASSERT_NO_FATAL_FAILURE(start_tracking());
  BlockingClient a;
  ASSERT_NO_FATAL_FAILURE(connect(a, 0));
  ASSERT_EQ(PauseReceiveById(g_links[0].id), 1) << GetLastErrorText();
  std::vector<uint8_t> data(10000);
  fill_pattern(g_links[0].seed, 0, data.data(), data.size());
  ASSERT_TRUE(a.send_all(data.data(), data.size()));
  HeldPool pool;
  pool.take_all();
  const int64_t pauses0 = GetServerCounter(TS_COUNTER_RECV_PAUSES);
  ASSERT_EQ(ResumeReceiveById(g_links[0].id), 1) << GetLastErrorText();
  // The resumed reader finds the pool empty and waits for it (counted) without reading.
  ASSERT_TRUE(wait_until([&] { return GetServerCounter(TS_COUNTER_RECV_PAUSES) > pauses0; }, 5s))
      << "the resumed link did not stop for the empty pool";
  EXPECT_EQ(g_links[0].bytes.load(), 0u);
  pool.release();
  ASSERT_TRUE(wait_until([] { return g_links[0].bytes.load() >= 10000; }, 10s));
  EXPECT_EQ(g_links[0].first_bad.load(), UINT64_MAX);
}

TEST_F(FlowControlTest, SendQueueBytesGrowForASlowReaderAndDrain) {
  ASSERT_NO_FATAL_FAILURE(start_tracking());
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_, /*rcvbuf=*/4096));
  ASSERT_TRUE(wait_until([] { return g_opened.load() > 0; }, 5s));
  const uint64_t id = g_links[0].id;
  EXPECT_EQ(GetSendQueueBytesById(id), 0);
  constexpr size_t kBytes = 8u << 20;
  std::vector<uint8_t> data(kBytes);
  fill_pattern(1, 0, data.data(), data.size());
  ASSERT_EQ(SendBufferById(id, data.data(), static_cast<int32_t>(data.size())), 1) << GetLastErrorText();
  const int64_t queued = GetSendQueueBytesById(id);
  EXPECT_GT(queued, 0) << "8 MiB to a reader that reads nothing: some must be queued";
  EXPECT_LE(queued, static_cast<int64_t>(kBytes));
  std::vector<uint8_t> got;
  ASSERT_TRUE(client.recv_exact(kBytes, &got, 30s));
  EXPECT_EQ(pattern_mismatch(1, 0, got.data(), got.size()), got.size());
  EXPECT_TRUE(wait_until([&] { return GetSendQueueBytesById(id) == 0; }, 5s));
}

TEST_F(FlowControlTest, IdCallsBeforeStart) {
  prime_last_error(TS_ERR_NOT_ACTIVE);
  EXPECT_EQ(PauseReceiveById(1), 0);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_NOT_ACTIVE);
  prime_last_error(TS_ERR_NOT_ACTIVE);
  EXPECT_EQ(ResumeReceiveById(1), 0);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_NOT_ACTIVE);
  prime_last_error(TS_ERR_NOT_ACTIVE);
  EXPECT_EQ(GetSendQueueBytesById(1), -1);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_NOT_ACTIVE);
}

TEST_F(FlowControlTest, BadLinkArguments) {
  ASSERT_NO_FATAL_FAILURE(start_tracking());
  BlockingClient client;
  ASSERT_NO_FATAL_FAILURE(connect(client, 0));
  const uint64_t id = g_links[0].id;
  TcpLink fake{};
  for (int which = 0; which < 3; ++which) {
    SCOPED_TRACE(which == 0 ? "PauseReceive" : which == 1 ? "ResumeReceive" : "GetSendQueueBytes");
    auto by_ptr = [&](TcpLink* p) -> int64_t {
      return which == 0 ? PauseReceive(p) : which == 1 ? ResumeReceive(p) : GetSendQueueBytes(p);
    };
    auto by_id = [&](uint64_t i) -> int64_t {
      return which == 0 ? PauseReceiveById(i) : which == 1 ? ResumeReceiveById(i) : GetSendQueueBytesById(i);
    };
    const int64_t failed = which == 2 ? -1 : 0;
    prime_last_error(TS_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(by_ptr(nullptr), failed);
    EXPECT_EQ(GetLastErrorCode(), TS_ERR_INVALID_ARGUMENT);
    prime_last_error(TS_ERR_NOT_A_LINK);
    EXPECT_EQ(by_ptr(&fake), failed);
    EXPECT_EQ(GetLastErrorCode(), TS_ERR_NOT_A_LINK);
    prime_last_error(TS_ERR_LINK_CLOSED);
    EXPECT_EQ(by_id(id + (uint64_t{1} << 40)), failed);  // same slot, another (never used) id
    EXPECT_EQ(GetLastErrorCode(), TS_ERR_LINK_CLOSED);
    EXPECT_STRNE(GetLastErrorText(), "");
  }
  // A closed link's id is stale.
  client.close();
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 0; }, 5s));
  prime_last_error(TS_ERR_LINK_CLOSED);
  EXPECT_EQ(PauseReceiveById(id), 0);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_LINK_CLOSED);
  prime_last_error(TS_ERR_LINK_CLOSED);
  EXPECT_EQ(GetSendQueueBytesById(id), -1);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_LINK_CLOSED);
}

}  // namespace
