// Guarantee 5: StopTcpServer closes every link (OnDisconnect, TS_CLOSE_SERVER_STOP), joins
// every thread, returns every buffer and descriptor; a restart works. From a callback it fails
// with TS_ERR_IN_CALLBACK. A GUI thread whose callbacks wait on it (Delphi Synchronize) can
// stop with StopTcpServerEx in a loop, serving its queue between calls.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "support/blocking_client.h"
#include "support/multi_client.h"
#include "support/proc_stats.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::atomic<int> g_connects{0};
std::atomic<int> g_disconnects{0};
std::atomic<int> g_stop_reason_count{0};  // OnDisconnect with TS_CLOSE_SERVER_STOP
std::mutex g_ids_mu;
std::map<uint16_t, uint64_t> g_id_by_port;  // link id by the client's port

int32_t TS_CALL count_connect(TcpLink* link) {
  {
    std::lock_guard<std::mutex> lock(g_ids_mu);
    g_id_by_port[static_cast<uint16_t>(link->RemotePort)] = link->Id;
  }
  g_connects++;
  return 1;
}
void TS_CALL count_disconnect(TcpLink* link) {
  if (link->CloseReason == TS_CLOSE_SERVER_STOP) g_stop_reason_count++;
  g_disconnects++;
}

class StopTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_connects = 0;
    g_disconnects = 0;
    g_stop_reason_count = 0;
    std::lock_guard<std::mutex> lock(g_ids_mu);
    g_id_by_port.clear();
  }
};

TEST_F(StopTest, ClosesEveryLinkAndGivesEverythingBack) {
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 3), 1);
  SetEventProc(nullptr, count_disconnect, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(count_connect), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  EXPECT_GT(thread_count(), baseline_threads_);

  {
    MultiClient readers(port_);     // echo traffic
    MultiClient stalled(port_, 4096);  // never read: their sends stay queued in pool buffers
    ASSERT_TRUE(readers.open(20));
    ASSERT_TRUE(stalled.open(5));
    ASSERT_TRUE(wait_until([] { return g_connects.load() == 25; }, 10s));
    for (size_t i = 0; i < readers.size(); ++i) {
      std::vector<uint8_t> data(10000, static_cast<uint8_t>(i));
      readers.send(i, data.data(), data.size());
    }
    ASSERT_TRUE(readers.run_until(
        [&] {
          for (size_t i = 0; i < readers.size(); ++i)
            if (readers.at(i).bytes_in < 10000) return false;
          return true;
        },
        10s));
    // Queue data on every link; the stalled ones cannot take it all, so it waits in the engine.
    std::vector<uint8_t> big(1024 * 1024, 'b');
    ASSERT_EQ(PostBroadcast(big.data(), static_cast<int32_t>(big.size())), 25) << GetLastErrorText();
    // ... and copies for the stalled links until the kernel's buffers are full and the rest
    // waits in chained pool buffers (bounded well below the 16 MiB queue limit).
    {
      std::lock_guard<std::mutex> lock(g_ids_mu);
      for (int round = 0; round < 40 && GetIOMemFree() == GetServerOption(TS_OPT_IO_BUFFER_COUNT); ++round)
        for (size_t i = 0; i < stalled.size(); ++i)
          ASSERT_EQ(SendBufferById(g_id_by_port[stalled.at(i).local_port], big.data(), 256 * 1024), 1)
              << GetLastErrorText();
    }
    EXPECT_LT(GetIOMemFree(), GetServerOption(TS_OPT_IO_BUFFER_COUNT)) << "no pool buffer is queued";

    ASSERT_EQ(StopTcpServer(), 1) << GetLastErrorText();
    EXPECT_EQ(IsTcpServerActive(), 0);
    EXPECT_EQ(GetServerPort(), 0u);
    EXPECT_EQ(GetLinkCount(), 0);
    EXPECT_EQ(GetWorkerCount(), 0);
    // Stop waited for every callback: all OnDisconnect calls are done when it returns.
    EXPECT_EQ(g_disconnects.load(), 25);
    EXPECT_EQ(g_stop_reason_count.load(), 25) << "every link closes with TS_CLOSE_SERVER_STOP";
    EXPECT_EQ(GetIOMemFree(), GetServerOption(TS_OPT_IO_BUFFER_COUNT)) << "queued buffers not returned";
    EXPECT_TRUE(wait_until([&] { return thread_count() == baseline_threads_; }, 2s))
        << "threads: " << thread_count() << ", before start: " << baseline_threads_;
  }  // the clients close here
  EXPECT_TRUE(fd_count_back_to(baseline_fds_)) << "descriptors leaked by the server";

  // A later start works.
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_));
  ASSERT_TRUE(client.send_all("ping"));
  std::vector<uint8_t> got;
  ASSERT_TRUE(client.recv_exact(4, &got));
  EXPECT_EQ(std::string(got.begin(), got.end()), "ping");
}

// ---- Stop from inside a callback ----

std::atomic<int> g_in_receive_result{-1};
std::atomic<int> g_in_receive_error{-1};
std::atomic<int> g_in_receive_ex_result{-1};
std::atomic<int> g_in_receive_ex_error{-1};
std::atomic<bool> g_in_receive_text_ok{false};
std::atomic<int> g_in_disconnect_result{-1};
std::atomic<int> g_in_disconnect_error{-1};

int32_t TS_CALL stop_from_receive(TcpLink* link, uint8_t*, int32_t) {
  g_in_receive_result = StopTcpServer();
  g_in_receive_error = GetLastErrorCode();
  g_in_receive_text_ok = GetLastErrorText() && GetLastErrorText()[0] != '\0';
  g_in_receive_ex_result = StopTcpServerEx(0);
  g_in_receive_ex_error = GetLastErrorCode();
  SendBuffer(link, "ok", 2);
  return 1;
}
void TS_CALL stop_from_disconnect(TcpLink*) {
  g_in_disconnect_result = StopTcpServer();
  g_in_disconnect_error = GetLastErrorCode();
  g_disconnects++;
}

TEST_F(StopTest, StopFromInsideACallbackFailsWithInCallback) {
  SetEventProc(stop_from_receive, stop_from_disconnect, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_));
  ASSERT_TRUE(client.send_all("x"));
  std::vector<uint8_t> got;
  ASSERT_TRUE(client.recv_exact(2, &got));
  EXPECT_EQ(g_in_receive_result.load(), 0);
  EXPECT_EQ(g_in_receive_error.load(), TS_ERR_IN_CALLBACK);
  EXPECT_TRUE(g_in_receive_text_ok.load());
  EXPECT_EQ(g_in_receive_ex_result.load(), 0);
  EXPECT_EQ(g_in_receive_ex_error.load(), TS_ERR_IN_CALLBACK);
  EXPECT_EQ(IsTcpServerActive(), 1) << "a refused stop must not stop the server";

  // From OnDisconnect during a real stop: refused too, and the stop still completes.
  ASSERT_TRUE(stop_server(10000));
  EXPECT_EQ(g_disconnects.load(), 1);
  EXPECT_EQ(g_in_disconnect_result.load(), 0);
  EXPECT_EQ(g_in_disconnect_error.load(), TS_ERR_IN_CALLBACK);
}

// ---- The GUI scenario: callbacks wait for the main thread (TThread.Synchronize) ----

// The "main thread's message queue": callbacks post work and block until it has run.
class MainThreadQueue {
 public:
  // Called on an engine thread; returns false if the main thread did not serve it in time.
  bool synchronize(std::function<void()> fn) {
    auto done = std::make_shared<bool>(false);
    std::unique_lock<std::mutex> lock(mu_);
    tasks_.push_back([fn, done] {
      fn();
      *done = true;
    });
    ++waiting_;
    bool ok = cv_.wait_for(lock, 30s, [&] { return *done; });
    --waiting_;
    return ok;
  }
  // Called on the main thread: runs what is queued.
  void serve() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!tasks_.empty()) {
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      task();
    }
    cv_.notify_all();
  }
  int waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    return waiting_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  int waiting_ = 0;
};

MainThreadQueue* g_main_queue = nullptr;
std::atomic<int> g_ui_receives{0};
std::atomic<int> g_ui_disconnects{0};
std::atomic<int> g_sync_timeouts{0};

int32_t TS_CALL sync_receive(TcpLink*, uint8_t*, int32_t) {
  if (!g_main_queue->synchronize([] { g_ui_receives++; })) g_sync_timeouts++;
  return 1;
}
void TS_CALL sync_disconnect(TcpLink*) {
  if (!g_main_queue->synchronize([] { g_ui_disconnects++; })) g_sync_timeouts++;
}

TEST_F(StopTest, GuiThreadStopsWithoutDeadlockWhileCallbacksWaitOnIt) {
  MainThreadQueue queue;
  g_main_queue = &queue;
  g_ui_receives = 0;
  g_ui_disconnects = 0;
  g_sync_timeouts = 0;
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  SetEventProc(sync_receive, sync_disconnect, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(count_connect), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());

  constexpr int kClients = 4;
  MultiClient clients(port_);
  ASSERT_TRUE(clients.open(kClients));
  ASSERT_TRUE(wait_until([] { return g_connects.load() == kClients; }, 5s));
  for (size_t i = 0; i < kClients; ++i) clients.send(i, "u", 1);
  clients.pump(0);
  // A callback is now blocked waiting for this ("main") thread.
  ASSERT_TRUE(wait_until([&] { return queue.waiting() > 0; }, 5s));

  // The first bounded stop cannot finish: the blocked callback waits for us.
  EXPECT_EQ(StopTcpServerEx(10), 0);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_TIMEOUT) << GetLastErrorText();
  EXPECT_STRNE(GetLastErrorText(), "");
  EXPECT_EQ(IsTcpServerActive(), 0) << "stopping has begun";
  EXPECT_EQ(StartTcpServer("127.0.0.1", 0), 0) << "start while still stopping";
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_ALREADY_ACTIVE);

  // The GUI loop: serve the queue, try again.
  auto start = Clock::now();
  int result = 0;
  int rounds = 0;
  while (ms_since(start) < 15000) {
    queue.serve();
    ++rounds;
    result = StopTcpServerEx(10);
    if (result == 1) break;
    ASSERT_EQ(GetLastErrorCode(), TS_ERR_TIMEOUT) << GetLastErrorText();
  }
  ASSERT_EQ(result, 1) << "the stop did not complete in 15 s (" << rounds << " rounds)";
  queue.serve();
  EXPECT_EQ(g_sync_timeouts.load(), 0);
  EXPECT_EQ(g_ui_disconnects.load(), kClients) << "every OnDisconnect ran through the main thread";
  EXPECT_GE(g_ui_receives.load(), 1);
  EXPECT_TRUE(wait_until([&] { return thread_count() == baseline_threads_; }, 2s));
  g_main_queue = nullptr;
}

// ---- StopTcpServerEx reports a timeout while a callback is blocked ----

std::atomic<bool> g_release{false};
std::atomic<bool> g_blocked{false};

int32_t TS_CALL block_until_released(TcpLink*, uint8_t*, int32_t) {
  g_blocked = true;
  wait_until([] { return g_release.load(); }, 30s);
  return 1;
}

TEST_F(StopTest, StopExTimesOutWhileACallbackIsBlocked) {
  g_release = false;
  g_blocked = false;
  SetEventProc(block_until_released, nullptr, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_));
  ASSERT_TRUE(client.send_all("b"));
  ASSERT_TRUE(wait_until([] { return g_blocked.load(); }, 5s));

  for (int i = 0; i < 2; ++i) {
    auto t0 = Clock::now();
    EXPECT_EQ(StopTcpServerEx(50), 0);
    EXPECT_EQ(GetLastErrorCode(), TS_ERR_TIMEOUT) << GetLastErrorText();
    EXPECT_GE(ms_since(t0), 40) << "StopTcpServerEx(50) returned before its timeout";
  }
  g_release = true;
  EXPECT_EQ(StopTcpServerEx(10000), 1) << GetLastErrorText();
  EXPECT_EQ(IsTcpServerActive(), 0);
}

}  // namespace
