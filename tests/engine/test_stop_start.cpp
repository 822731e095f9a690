// Guarantee 5: stop closes everything, returns every buffer, joins every thread; restart
// works; no deadlock from a callback or from a GUI thread whose callbacks wait on it.
#include <condition_variable>
#include <mutex>
#include <thread>

#include "support.h"

using namespace tst;

namespace {
std::atomic<int> g_stop_disconnects{0}, g_other_reasons{0};
void TS_CALL count_stop(TcpLink* l) {
  (l->CloseReason == TS_CLOSE_SERVER_STOP ? g_stop_disconnects : g_other_reasons)++;
}
}  // namespace

class StopStart : public ServerTest {};

TEST_F(StopStart, StopClosesEveryLinkReturnsBuffersAndJoinsThreads) {
  int fds0 = fd_count(), threads0 = thread_count();
  SetEventProc(nullptr, count_stop, nullptr, nullptr, nullptr);
  uint32_t port = start();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(std::make_unique<Client>(port));
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 20; }));
  ASSERT_EQ(1, StopTcpServer()) << GetLastErrorText();
  EXPECT_EQ(20, g_stop_disconnects.load());
  EXPECT_EQ(0, g_other_reasons.load());
  EXPECT_EQ(0, IsTcpServerActive());
  EXPECT_EQ(0, GetLinkCount());
  EXPECT_EQ(GetServerOption(TS_OPT_IO_BUFFER_COUNT), GetIOMemFree());
  EXPECT_EQ(threads0, thread_count());
  for (auto& c : clients) EXPECT_TRUE(c->wait_closed());
  clients.clear();
  EXPECT_EQ(fds0, fd_count());
  // And it starts again.
  port = start();
  Client c(port);
  c.send_str("again");
  EXPECT_EQ("again", c.recv_n(5));
}

namespace {
std::atomic<int32_t> g_stop_result{-1}, g_stop_error{-1};
int32_t TS_CALL stop_from_callback(TcpLink*, uint8_t*, int32_t) {
  g_stop_result = StopTcpServer();
  g_stop_error = GetLastErrorCode();
  return 1;
}
}  // namespace

TEST_F(StopStart, StopFromInsideACallbackFailsInsteadOfDeadlocking) {
  SetEventProc(stop_from_callback, nullptr, nullptr, nullptr, nullptr);
  uint32_t port = start();
  Client c(port);
  c.send_str("stop please");
  ASSERT_TRUE(wait_until([] { return g_stop_result.load() != -1; }));
  EXPECT_EQ(0, g_stop_result.load());
  EXPECT_EQ(TS_ERR_IN_CALLBACK, g_stop_error.load());
  EXPECT_EQ(1, IsTcpServerActive());
}

namespace {
// A stand-in for Delphi's TThread.Synchronize: the callback waits until the "main thread"
// has run its request.
std::mutex g_sync_mu;
std::condition_variable g_sync_cv;
bool g_request = false, g_served = false;
int32_t TS_CALL synchronize(TcpLink*, uint8_t*, int32_t) {
  std::unique_lock<std::mutex> lock(g_sync_mu);
  g_request = true;
  g_sync_cv.wait(lock, [] { return g_served; });
  return 1;
}
bool serve_main_queue() {
  std::lock_guard<std::mutex> lock(g_sync_mu);
  if (!g_request) return false;
  g_served = true;
  g_sync_cv.notify_all();
  return true;
}
}  // namespace

TEST_F(StopStart, GuiThreadStopsWithBoundedWaitsWhileACallbackWaitsOnIt) {
  SetEventProc(synchronize, nullptr, nullptr, nullptr, nullptr);
  uint32_t port = start();
  Client c(port);
  c.send_str("sync");
  ASSERT_TRUE(wait_until([] {
    std::lock_guard<std::mutex> lock(g_sync_mu);
    return g_request;
  }));
  // The callback is blocked on us: a bounded stop reports that it is still stopping.
  EXPECT_EQ(0, StopTcpServerEx(10));
  EXPECT_EQ(TS_ERR_TIMEOUT, GetLastErrorCode());
  EXPECT_EQ(0, IsTcpServerActive());
  // The GUI loop: serve the queue, try again.
  auto end = Clock::now() + milliseconds(10000);
  int32_t stopped = 0;
  while (!stopped && Clock::now() < end) {
    serve_main_queue();
    stopped = StopTcpServerEx(10);
  }
  EXPECT_EQ(1, stopped);
}

TEST_F(StopStart, HundredCyclesWhileClientsHammerLeaveNothingBehind) {
  int fds0 = fd_count(), threads0 = thread_count();
  std::atomic<uint32_t> port{0};
  std::atomic<bool> done{false};
  std::atomic<long> echoes{0};
  std::vector<std::thread> hammers;
  for (int t = 0; t < 3; ++t)
    hammers.emplace_back([&] {
      while (!done) {
        uint32_t p = port;
        if (!p) {
          std::this_thread::yield();
          continue;
        }
        Client c(p, 1000);
        if (c.ok() && c.send_str("hammer") && c.recv_n(6) == "hammer") ++echoes;
      }
    });
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(1, StartTcpServer("127.0.0.1", 0)) << GetLastErrorText();
    port = GetServerPort();
    wait_until([&, target = echoes.load() + 3] { return echoes.load() >= target; },
               milliseconds(2000));
    port = 0;
    auto t0 = Clock::now();
    ASSERT_EQ(1, StopTcpServerEx(10000)) << "cycle " << i << ": " << GetLastErrorText();
    EXPECT_LT(Clock::now() - t0, milliseconds(5000));
    ASSERT_EQ(GetServerOption(TS_OPT_IO_BUFFER_COUNT), GetIOMemFree()) << "cycle " << i;
    ASSERT_EQ(0, GetLinkCount()) << "cycle " << i;
  }
  done = true;
  for (auto& t : hammers) t.join();
  EXPECT_GT(echoes.load(), 100);
  EXPECT_EQ(threads0, thread_count());
  EXPECT_EQ(fds0, fd_count());
}
