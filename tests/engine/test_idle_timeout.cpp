// Idle timeout: OnLinkIdleOvertime (not OnDisconnect) for a silent link, within the configured
// time +- 1 s; never for an active one; OnDisconnect with TS_CLOSE_IDLE when it is NULL.
#include <thread>

#include "support.h"

using namespace tst;

namespace {
std::atomic<int> g_idle{0}, g_disconnect{0};
std::atomic<int32_t> g_reason{-1};
std::atomic<int64_t> g_idle_at_ms{0};
int64_t now_ms() {
  return std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
}
void TS_CALL on_idle(TcpLink* l) {
  g_reason = l->CloseReason;
  g_idle_at_ms = now_ms();
  ++g_idle;
}
void TS_CALL on_disconnect(TcpLink* l) {
  g_reason = l->CloseReason;
  ++g_disconnect;
}
}  // namespace

class IdleTimeout : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_idle = g_disconnect = 0;
    g_reason = -1;
    SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, 2000);
  }
};

TEST_F(IdleTimeout, SilentLinkGetsIdleOvertimeWithinOneSecondOfTheTimeout) {
  SetEventProc(nullptr, on_disconnect, on_idle, nullptr, nullptr);
  uint32_t port = start();
  Client c(port);
  c.send_str("last words");
  ASSERT_EQ("last words", c.recv_n(10));
  int64_t last_activity = now_ms();
  ASSERT_TRUE(wait_until([] { return g_idle.load() == 1; }, milliseconds(5000)));
  int64_t after = g_idle_at_ms - last_activity;
  EXPECT_GE(after, 1000);
  EXPECT_LE(after, 3000);
  EXPECT_EQ(TS_CLOSE_IDLE, g_reason.load());
  EXPECT_EQ(0, g_disconnect.load());
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(1, GetServerCounter(TS_COUNTER_IDLE_CLOSED) > 0);
}

TEST_F(IdleTimeout, ActiveLinkNeverTimesOut) {
  SetEventProc(nullptr, on_disconnect, on_idle, nullptr, nullptr);
  uint32_t port = start();
  Client c(port);
  auto end = Clock::now() + milliseconds(5000);
  while (Clock::now() < end) {
    ASSERT_TRUE(c.send_str("tick"));
    ASSERT_EQ("tick", c.recv_n(4));
    std::this_thread::sleep_for(milliseconds(300));  // the activity pattern under test
  }
  EXPECT_EQ(0, g_idle.load());
  EXPECT_EQ(0, g_disconnect.load());
  EXPECT_EQ(1, GetLinkCount());
}

TEST_F(IdleTimeout, WithoutIdleCallbackOnDisconnectTellsTheReason) {
  SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);
  uint32_t port = start();
  Client c(port);
  ASSERT_TRUE(wait_until([] { return g_disconnect.load() == 1; }, milliseconds(5000)));
  EXPECT_EQ(TS_CLOSE_IDLE, g_reason.load());
}
