// Guarantee 5 under load: 100 start/stop cycles while client threads connect, send, read and
// disconnect in a loop. No stop hangs, every accepted link gets exactly one OnDisconnect per
// cycle, and afterwards the pool, descriptors and threads are back to where they started.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/blocking_client.h"
#include "support/proc_stats.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::atomic<int> g_connects{0};
std::atomic<int> g_disconnects{0};

int32_t TS_CALL count_connect(TcpLink*) {
  g_connects++;
  return 1;
}
void TS_CALL count_disconnect(TcpLink*) { g_disconnects++; }

class StopStartTest : public ServerTest {};

TEST_F(StopStartTest, HundredCyclesUnderClientLoad) {
  constexpr int kCycles = 100;
  constexpr int kClientThreads = 3;
  constexpr long long kStopDeadlineMs = 5000;
  g_connects = 0;
  g_disconnects = 0;
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  SetEventProc(nullptr, count_disconnect, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(count_connect), 1);

  std::atomic<uint32_t> current_port{0};  // 0 while the server is down
  std::atomic<bool> quit{false};
  std::atomic<long> echoes{0};
  std::vector<std::thread> hammers;
  struct JoinOnExit {  // an ASSERT below must not leave joinable threads behind
    std::atomic<bool>& quit;
    std::vector<std::thread>& threads;
    ~JoinOnExit() {
      quit = true;
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } join_on_exit{quit, hammers};
  for (int t = 0; t < kClientThreads; ++t) {
    hammers.emplace_back([&, t] {
      const std::string msg = "hammer " + std::to_string(t);
      for (long n = 0; !quit; ++n) {
        uint32_t port = current_port;
        if (port == 0) {
          std::this_thread::yield();
          continue;
        }
        BlockingClient c;
        if (!c.connect(static_cast<uint16_t>(port), 0, 1s)) continue;  // refused: server stopping
        std::vector<uint8_t> got;
        if (c.send_all(msg.data(), msg.size(), 1s) && c.recv_exact(msg.size(), &got, 1s) &&
            std::string(got.begin(), got.end()) == msg)
          echoes++;
        // Half the clients reset instead of closing: no TIME_WAIT pile-up, and the reset path.
        if (n % 2) c.reset();
        else c.close();
      }
    });
  }

  long long slowest_stop = 0;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    ASSERT_EQ(StartTcpServer("127.0.0.1", 0), 1) << "cycle " << cycle << ": " << GetLastErrorText();
    const long before = echoes;
    current_port = GetServerPort();
    // Let the clients reach this server (without insisting: a cycle may be short).
    wait_until([&] { return echoes.load() >= before + 3; }, 500ms);
    current_port = 0;
    auto t0 = Clock::now();
    int stopped = StopTcpServerEx(static_cast<int32_t>(kStopDeadlineMs));
    long long took = ms_since(t0);
    slowest_stop = std::max(slowest_stop, took);
    ASSERT_EQ(stopped, 1) << "cycle " << cycle << ": stop did not finish in " << kStopDeadlineMs
                          << " ms: " << GetLastErrorText();
    // Stop waited for every callback: each accepted link has had its OnDisconnect.
    ASSERT_EQ(g_disconnects.load(), g_connects.load()) << "cycle " << cycle;
    ASSERT_EQ(GetLinkCount(), 0) << "cycle " << cycle;
  }
  quit = true;
  for (auto& h : hammers) h.join();

  EXPECT_GT(echoes.load(), kCycles) << "the clients hardly reached the server";
  EXPECT_EQ(GetIOMemFree(), GetServerOption(TS_OPT_IO_BUFFER_COUNT));
  EXPECT_TRUE(wait_until([&] { return thread_count() == baseline_threads_; }, 2s))
      << "threads: " << thread_count() << ", before: " << baseline_threads_;
  EXPECT_TRUE(fd_count_back_to(baseline_fds_));
  std::printf("cycles=%d echoes=%ld links=%d slowest stop=%lld ms\n", kCycles, echoes.load(),
              g_connects.load(), slowest_stop);
}

}  // namespace
