// Fault: StopTcpServer while 1 000 links are in the middle of transfers, 100 times (TS_STOP_CYCLES
// sets another count: the io_uring program runs it 10 times). Each stop
// finishes within its deadline while the clients keep sending and reading; every link gets
// exactly one OnDisconnect (TS_CLOSE_SERVER_STOP); what was echoed up to the stop is intact;
// after each cycle the pool is full and descriptors and threads are back to the baseline.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "reliability_support.h"
#include "support/multi_client.h"
#include "support/payload.h"
#include "support/proc_stats.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::atomic<int> g_connects{0};
std::atomic<int> g_disconnects{0};
std::atomic<int> g_server_stop{0};

int32_t TS_CALL count_connect(TcpLink*) {
  g_connects++;
  return 1;
}
void TS_CALL count_disconnect(TcpLink* link) {
  if (link->CloseReason == TS_CLOSE_SERVER_STOP) g_server_stop++;
  g_disconnects++;
}

class StopMidTransferTest : public ServerTest {};

TEST_F(StopMidTransferTest, StopsWithThousandLinksMidTransfer) {
  const char* cycles = std::getenv("TS_STOP_CYCLES");
  const int kCycles = cycles && std::atoi(cycles) > 0 ? std::atoi(cycles) : 100;
  constexpr size_t kLinks = 1000;
  constexpr int kStopDeadlineMs = 30000;
  const long need = static_cast<long>(kLinks) * 2 + 100;
  ASSERT_GE(tsrel::raise_fd_limit(need), need) << "needs " << need << " descriptors (ulimit -Hn)";
  baseline_fds_ = open_fd_count();
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  SetEventProc(nullptr, count_disconnect, nullptr, nullptr, nullptr);  // built-in echo
  ASSERT_EQ(SetConnectProc(count_connect), 1);

  long long slowest_stop = 0;
  uint64_t echoed_total = 0;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    g_connects = g_disconnects = g_server_stop = 0;
    ASSERT_NO_FATAL_FAILURE(start_server());
    std::atomic<size_t> corrupt{0};
    {
      MultiClient clients(port_);
      ASSERT_TRUE(clients.open(kLinks, 30s)) << "cycle " << cycle;
      for (size_t i = 0; i < kLinks; ++i) {
        const uint64_t seed = static_cast<uint64_t>(cycle) * kLinks + i;
        clients.at(i).on_writable = [seed](MultiClient::Conn& c) {  // an endless stream
          c.out.resize(4096);
          fill_pattern(seed, c.bytes_out, c.out.data(), c.out.size());
        };
        clients.at(i).on_data = [seed, &corrupt](MultiClient::Conn& c, const uint8_t* p, size_t n) {
          if (pattern_mismatch(seed, c.bytes_in - n, p, n) != n) corrupt++;
        };
      }
      // Every link open on the server and every one echoing: mid-transfer.
      ASSERT_TRUE(clients.run_until(
          [&] {
            if (g_connects.load() != static_cast<int>(kLinks)) return false;
            for (size_t i = 0; i < kLinks; ++i)
              if (clients.at(i).bytes_in == 0) return false;
            return true;
          },
          60s))
          << "cycle " << cycle << ": " << g_connects.load() << " links open";

      // Stop while the clients keep going.
      std::atomic<bool> pumping{true};
      std::thread pump([&] {
        while (pumping) clients.pump(5);
      });
      const auto t0 = Clock::now();
      const int stopped = StopTcpServerEx(kStopDeadlineMs);
      const long long took = ms_since(t0);
      pumping = false;
      pump.join();
      slowest_stop = std::max(slowest_stop, took);
      ASSERT_EQ(stopped, 1) << "cycle " << cycle << ": not stopped after " << took << " ms: " << GetLastErrorText();
      ASSERT_EQ(g_disconnects.load(), static_cast<int>(kLinks)) << "cycle " << cycle;
      ASSERT_EQ(g_server_stop.load(), static_cast<int>(kLinks)) << "cycle " << cycle;
      ASSERT_EQ(GetLinkCount(), 0) << "cycle " << cycle;
      ASSERT_EQ(GetIOMemFree(), GetServerOption(TS_OPT_IO_BUFFER_COUNT)) << "cycle " << cycle;
      // Every client sees its link end (FIN or reset).
      ASSERT_TRUE(clients.run_until([&] { return clients.count_ended() == kLinks; }, 10s))
          << "cycle " << cycle << ": " << kLinks - clients.count_ended() << " clients never saw the close";
      for (size_t i = 0; i < kLinks; ++i) echoed_total += clients.at(i).bytes_in;
    }  // the clients' sockets close here
    ASSERT_EQ(corrupt.load(), 0u) << "cycle " << cycle << ": echoed bytes were wrong";
    ASSERT_TRUE(fd_count_back_to(baseline_fds_)) << "cycle " << cycle;
    ASSERT_TRUE(wait_until([&] { return thread_count() == baseline_threads_; }, 2s))
        << "cycle " << cycle << ": threads " << thread_count() << ", before " << baseline_threads_;
  }
  std::printf("%d stops with %zu links mid-transfer: slowest %lld ms, %.1f MiB echoed and verified\n",
              kCycles, kLinks, slowest_stop, echoed_total / 1048576.0);
}

}  // namespace
