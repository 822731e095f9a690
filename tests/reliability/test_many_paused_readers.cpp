// Fault: the IO-buffer pool runs dry while many links on every worker are receiving (the unit
// suite's PoolExhaustionTest does it for one link). Every link pauses, no byte is read while
// the pool is empty, and when buffers come back every paused link resumes: each echo arrives
// whole and in order.
#include <gtest/gtest.h>

#include <vector>

#include "support/multi_client.h"
#include "support/payload.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

class PausedReadersTest : public ServerTest {};

TEST_F(PausedReadersTest, EveryLinkPausesAndResumesWithoutLosingBytes) {
  constexpr int kBuffers = 256;
  constexpr size_t kLinks = 100;
  constexpr size_t kBytes = 64 * 1024;
  ASSERT_EQ(SetServerOption(TS_OPT_IO_BUFFER_COUNT, kBuffers), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());  // built-in echo

  std::vector<void*> held;
  for (void* mem; (mem = GetIOMem()) != nullptr;) held.push_back(mem);
  ASSERT_EQ(held.size(), static_cast<size_t>(kBuffers));

  const int64_t pauses0 = GetServerCounter(TS_COUNTER_RECV_PAUSES);
  const int64_t bytes_in0 = GetServerCounter(TS_COUNTER_BYTES_IN);
  MultiClient clients(port_);
  ASSERT_TRUE(clients.open(kLinks));
  std::vector<size_t> bad(kLinks, SIZE_MAX);
  for (size_t i = 0; i < kLinks; ++i) {
    clients.at(i).on_writable = [i](MultiClient::Conn& c) {
      if (c.bytes_out >= kBytes) return;
      const size_t n = std::min<size_t>(8 * 1024, kBytes - c.bytes_out);
      c.out.resize(n);
      fill_pattern(1000 + i, c.bytes_out, c.out.data(), n);
    };
    clients.at(i).on_data = [&bad, i](MultiClient::Conn& c, const uint8_t* p, size_t n) {
      const size_t k = pattern_mismatch(1000 + i, c.bytes_in - n, p, n);
      if (k != n && bad[i] == SIZE_MAX) bad[i] = c.bytes_in - n + k;
    };
  }
  // Every link hits the empty pool and pauses; nothing is read meanwhile.
  ASSERT_TRUE(clients.run_until(
      [&] { return GetServerCounter(TS_COUNTER_RECV_PAUSES) - pauses0 >= static_cast<int64_t>(kLinks); }, 20s))
      << "only " << GetServerCounter(TS_COUNTER_RECV_PAUSES) - pauses0 << " of " << kLinks << " links paused";
  EXPECT_EQ(GetServerCounter(TS_COUNTER_BYTES_IN), bytes_in0);
  EXPECT_EQ(clients.count_ended(), 0u);

  for (void* mem : held) ASSERT_EQ(FreeIOMem(mem), 1) << GetLastErrorText();
  held.clear();
  const bool all_back = clients.run_until(
      [&] {
        for (size_t i = 0; i < kLinks; ++i)
          if (clients.at(i).bytes_in < kBytes && !clients.at(i).ended()) return false;
        return true;
      },
      60s);
  EXPECT_TRUE(all_back) << "some links did not resume after the pool refilled";
  for (size_t i = 0; i < kLinks; ++i) {
    EXPECT_EQ(clients.at(i).bytes_in, kBytes) << "link " << i;
    EXPECT_EQ(bad[i], SIZE_MAX) << "link " << i << ": wrong byte at offset " << bad[i];
    EXPECT_FALSE(clients.at(i).ended()) << "link " << i;
  }
}

}  // namespace
