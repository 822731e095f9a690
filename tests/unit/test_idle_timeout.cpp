// Idle timeout (TS_OPT_IDLE_TIMEOUT_MS = 2000): a silent link gets OnLinkIdleOvertime, not
// OnDisconnect, 2000 +- 1000 ms after it last sent; a link that keeps talking never does;
// without an OnLinkIdleOvertime handler, OnDisconnect is called with TS_CLOSE_IDLE.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "support/blocking_client.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

constexpr int kIdleMs = 2000;

struct LinkRecord {
  uint32_t remote_port = 0;
  Clock::time_point last_receive{};
  Clock::time_point closed_at{};
  int idle_calls = 0;
  int disconnect_calls = 0;
  int reason = -1;
};

std::mutex g_mu;
std::vector<LinkRecord> g_links;  // indexed by what OnConnect stored in Link->Data - 1

LinkRecord& record_of(TcpLink* link) {
  return g_links[reinterpret_cast<uintptr_t>(link->Data) - 1];
}

int32_t TS_CALL on_connect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_links.push_back(LinkRecord{});
  g_links.back().remote_port = link->RemotePort;
  g_links.back().last_receive = Clock::now();  // the accept counts as activity
  link->Data = reinterpret_cast<void*>(static_cast<uintptr_t>(g_links.size()));
  return 1;
}
int32_t TS_CALL on_receive(TcpLink* link, uint8_t* buf, int32_t len) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    record_of(link).last_receive = Clock::now();
  }
  SendBuffer(link, buf, len);  // echo
  return 1;
}
void TS_CALL on_idle(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  LinkRecord& r = record_of(link);
  r.closed_at = Clock::now();
  r.idle_calls++;
  r.reason = link->CloseReason;
}
void TS_CALL on_disconnect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  LinkRecord& r = record_of(link);
  r.closed_at = Clock::now();
  r.disconnect_calls++;
  r.reason = link->CloseReason;
}

LinkRecord find(uint16_t port) {
  std::lock_guard<std::mutex> lock(g_mu);
  for (const LinkRecord& r : g_links)
    if (r.remote_port == port) return r;
  return LinkRecord{};
}

class IdleTimeoutTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    {
      std::lock_guard<std::mutex> lock(g_mu);
      g_links.clear();
      g_links.reserve(100);
    }
    ASSERT_EQ(SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, kIdleMs), 1);
    ASSERT_EQ(SetConnectProc(on_connect), 1);
  }
};

TEST_F(IdleTimeoutTest, SilentLinkGetsIdleOvertimeNotDisconnect) {
  SetEventProc(on_receive, on_disconnect, on_idle, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t idle0 = GetServerCounter(TS_COUNTER_IDLE_CLOSED);
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_));
  ASSERT_TRUE(client.send_all("hi"));
  ASSERT_TRUE(wait_until([&] { return find(client.local_port()).last_receive != Clock::time_point{} &&
                                      GetServerCounter(TS_COUNTER_MSGS_IN) > 0; }, 5s));
  ASSERT_TRUE(client.wait_closed(std::chrono::milliseconds(kIdleMs + 3000))) << "the idle link was not closed";
  ASSERT_TRUE(wait_until([&] { return find(client.local_port()).idle_calls == 1; }, 2s));

  LinkRecord r = find(client.local_port());
  EXPECT_EQ(r.idle_calls, 1);
  EXPECT_EQ(r.disconnect_calls, 0) << "OnDisconnect must not follow OnLinkIdleOvertime";
  EXPECT_EQ(r.reason, TS_CLOSE_IDLE);
  auto silent_ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.closed_at - r.last_receive).count();
  EXPECT_GE(silent_ms, kIdleMs - 1000);
  EXPECT_LE(silent_ms, kIdleMs + 1000);
  EXPECT_EQ(GetServerCounter(TS_COUNTER_IDLE_CLOSED) - idle0, 1);
}

TEST_F(IdleTimeoutTest, ActiveLinkIsNeverIdle) {
  SetEventProc(on_receive, on_disconnect, on_idle, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient active, silent;  // the silent one proves the timer runs meanwhile
  ASSERT_TRUE(active.connect(port_));
  ASSERT_TRUE(silent.connect(port_));
  auto start = Clock::now();
  std::vector<uint8_t> echo;
  while (ms_since(start) < 5000) {  // the workload: a message every 300 ms for 5 s
    ASSERT_TRUE(active.send_all("tick"));
    ASSERT_TRUE(active.recv_exact(4, &echo, 2s)) << "the active link stopped echoing";
    std::this_thread::sleep_for(300ms);
  }
  LinkRecord a = find(active.local_port());
  EXPECT_EQ(a.idle_calls, 0) << "an active link was treated as idle";
  EXPECT_EQ(a.disconnect_calls, 0);
  LinkRecord s = find(silent.local_port());
  EXPECT_EQ(s.idle_calls, 1) << "the silent control link was not timed out";
}

TEST_F(IdleTimeoutTest, WithoutIdleHandlerDisconnectReportsIdle) {
  SetEventProc(on_receive, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_));
  ASSERT_TRUE(client.wait_closed(std::chrono::milliseconds(kIdleMs + 3000)));
  ASSERT_TRUE(wait_until([&] { return find(client.local_port()).disconnect_calls == 1; }, 2s));
  LinkRecord r = find(client.local_port());
  EXPECT_EQ(r.reason, TS_CLOSE_IDLE) << GetCloseReasonText(r.reason);
  auto silent_ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.closed_at - r.last_receive).count();
  EXPECT_GE(silent_ms, kIdleMs - 1000);
  EXPECT_LE(silent_ms, kIdleMs + 1000);
}

}  // namespace
