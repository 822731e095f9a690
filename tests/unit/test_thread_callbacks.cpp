// OnServerThreadCreate / OnWorkerThreadCreate run ON the thread they describe; what they
// return is that thread's TcpWorker.Data (seen as Link->Worker->Data in OnReceive); and
// OnThreadExit gets each thread's Data back, on that thread, when the server stops.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <set>
#include <vector>

#include "support/multi_client.h"
#include "support/proc_stats.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

constexpr int kWorkers = 3;

// What a thread-create callback hands out: the thread it ran on.
struct ThreadData {
  unsigned created_on = 0;
  int is_worker = -1;
  std::atomic<int> exits{0};
  unsigned exited_on = 0;
  int exit_flag = -1;
};

std::mutex g_mu;
std::vector<std::unique_ptr<ThreadData>> g_threads;
std::atomic<int> g_bad_create_flag{0};
std::atomic<int> g_foreign_exit_data{0};

struct ReceiveCheck {
  std::atomic<int> calls{0};
  std::atomic<int> worker_null{0};
  std::atomic<int> wrong_thread_id{0};    // Worker->ID is not the calling thread
  std::atomic<int> wrong_data{0};         // Worker->Data is not this thread's create result
  std::atomic<int> wrong_index{0};        // GetWorkerID(Worker->Index) != Worker->ID
  std::atomic<int> not_worker{0};
} g_rx;
std::mutex g_seen_mu;
std::set<unsigned> g_serving_threads;

void* create(int32_t is_worker, bool expect_worker) {
  if ((is_worker != 0) != expect_worker) g_bad_create_flag++;
  auto d = std::make_unique<ThreadData>();
  d->created_on = os_thread_id();
  d->is_worker = is_worker;
  std::lock_guard<std::mutex> lock(g_mu);
  g_threads.push_back(std::move(d));
  return g_threads.back().get();
}
void* TS_CALL on_server_thread_create(int32_t is_worker) { return create(is_worker, false); }
void* TS_CALL on_worker_thread_create(int32_t is_worker) { return create(is_worker, true); }

void TS_CALL on_thread_exit(int32_t is_worker, void* data) {
  std::lock_guard<std::mutex> lock(g_mu);
  for (auto& d : g_threads) {
    if (d.get() != data) continue;
    d->exits++;
    d->exited_on = os_thread_id();
    d->exit_flag = is_worker;
    return;
  }
  g_foreign_exit_data++;
}

int32_t TS_CALL check_worker(TcpLink* link, uint8_t* buf, int32_t len) {
  g_rx.calls++;
  const unsigned me = os_thread_id();
  TcpWorker* w = link->Worker;
  if (!w) {
    g_rx.worker_null++;
  } else {
    if (w->ID != me) g_rx.wrong_thread_id++;
    auto* d = static_cast<ThreadData*>(w->Data);
    if (!d || d->created_on != me) g_rx.wrong_data++;
    if (!w->IsWorkerThread) g_rx.not_worker++;
    if (w->Index < 1 || w->Index > GetWorkerCount() ||
        static_cast<unsigned>(GetWorkerID(w->Index)) != w->ID)
      g_rx.wrong_index++;
  }
  {
    std::lock_guard<std::mutex> lock(g_seen_mu);
    g_serving_threads.insert(me);
  }
  SendBuffer(link, buf, len);
  return 1;
}

class ThreadCallbacksTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    std::lock_guard<std::mutex> lock(g_mu);
    g_threads.clear();
    g_bad_create_flag = 0;
    g_foreign_exit_data = 0;
    g_rx.calls = g_rx.worker_null = g_rx.wrong_thread_id = g_rx.wrong_data = g_rx.wrong_index =
        g_rx.not_worker = 0;
    std::lock_guard<std::mutex> seen_lock(g_seen_mu);
    g_serving_threads.clear();
  }
};

TEST_F(ThreadCallbacksTest, CreateRunsOnItsThreadAndDataFollowsIt) {
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, kWorkers), 1);
  SetEventProc(check_worker, nullptr, nullptr, on_server_thread_create, on_worker_thread_create);
  ASSERT_EQ(SetThreadExitProc(on_thread_exit), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  ASSERT_EQ(GetWorkerCount(), kWorkers);
  ASSERT_TRUE(wait_until([] {
    std::lock_guard<std::mutex> lock(g_mu);
    return g_threads.size() == kWorkers + 1;
  }, 5s)) << "thread-create callbacks: expected " << kWorkers << " workers + 1 service thread";
  EXPECT_EQ(g_bad_create_flag.load(), 0) << "IsWorkerThread did not match the callback";

  // The worker ids the API reports are exactly the threads OnWorkerThreadCreate ran on.
  std::set<unsigned> api_ids, created_on_workers;
  for (int i = 1; i <= kWorkers; ++i) api_ids.insert(static_cast<unsigned>(GetWorkerID(i)));
  unsigned service_thread = 0;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    for (auto& d : g_threads) {
      if (d->is_worker) created_on_workers.insert(d->created_on);
      else service_thread = d->created_on;
      EXPECT_NE(d->created_on, os_thread_id()) << "a create callback ran on the starting thread";
    }
  }
  EXPECT_EQ(api_ids, created_on_workers);
  EXPECT_EQ(api_ids.count(service_thread), 0u);

  // Enough links to land on every worker (links are dealt round-robin or by load).
  MultiClient clients(port_);
  ASSERT_TRUE(clients.open(12));
  for (size_t i = 0; i < clients.size(); ++i) clients.send(i, "w", 1);
  ASSERT_TRUE(clients.run_until(
      [&] {
        for (size_t i = 0; i < clients.size(); ++i)
          if (clients.at(i).bytes_in < 1) return false;
        return true;
      },
      5s));
  EXPECT_EQ(g_rx.calls.load(), 12);
  EXPECT_EQ(g_rx.worker_null.load(), 0) << "Link->Worker was NULL in OnReceive";
  EXPECT_EQ(g_rx.wrong_thread_id.load(), 0) << "Link->Worker->ID is not the calling thread";
  EXPECT_EQ(g_rx.wrong_data.load(), 0) << "Link->Worker->Data is not what this thread's create returned";
  EXPECT_EQ(g_rx.wrong_index.load(), 0) << "GetWorkerID(Worker->Index) != Worker->ID";
  EXPECT_EQ(g_rx.not_worker.load(), 0);
  {
    std::lock_guard<std::mutex> lock(g_seen_mu);
    for (unsigned t : g_serving_threads) EXPECT_EQ(created_on_workers.count(t), 1u) << "served on thread " << t;
  }

  ASSERT_TRUE(stop_server());
  std::lock_guard<std::mutex> lock(g_mu);
  EXPECT_EQ(g_foreign_exit_data.load(), 0) << "OnThreadExit got Data no create callback returned";
  for (auto& d : g_threads) {
    EXPECT_EQ(d->exits.load(), 1) << "OnThreadExit calls for the thread created on " << d->created_on;
    EXPECT_EQ(d->exited_on, d->created_on) << "OnThreadExit ran on another thread";
    EXPECT_EQ(d->exit_flag, d->is_worker);
  }
}

// One per CPU for epoll; the original's 2 x CPU + 2 for IOCP (see TS_OPT_WORKER_THREADS).
TEST_F(ThreadCallbacksTest, AutomaticWorkerCountFollowsTheCpuCount) {
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 0), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#ifdef _WIN32
  EXPECT_EQ(GetWorkerCount(), 2 * cpus + 2);
#else
  EXPECT_EQ(GetWorkerCount(), cpus);
#endif
  // Right after StartTcpServer returns, every worker is known by its thread id.
  for (int i = 1; i <= GetWorkerCount(); ++i)
    EXPECT_NE(GetWorkerID(i), 0) << "GetWorkerID(" << i << ") is 0 right after StartTcpServer returned";
}

}  // namespace
