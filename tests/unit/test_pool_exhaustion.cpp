// Guarantee 6: when the application holds every IO buffer, GetIOMem returns NULL with
// TS_ERR_POOL_EXHAUSTED, links stop reading (TCP backpressure) instead of losing bytes, and
// once buffers come back the echo resumes with every byte intact.
#include <gtest/gtest.h>

#include <vector>

#include "support/multi_client.h"
#include "support/payload.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

class PoolExhaustionTest : public ServerTest {};

TEST_F(PoolExhaustionTest, ReceivingPausesAndResumesWithoutLosingBytes) {
  constexpr int kBuffers = 64;
  constexpr uint64_t kSeed = 64;
  constexpr size_t kBytes = 256 * 1024;
  ASSERT_EQ(SetServerOption(TS_OPT_IO_BUFFER_COUNT, kBuffers), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());  // NULL OnReceive: built-in echo
  ASSERT_EQ(GetIOMemFree(), kBuffers);

  // Take every buffer.
  std::vector<void*> held;
  for (int i = 0; i < kBuffers + 10; ++i) {
    void* mem = GetIOMem();
    if (!mem) break;
    held.push_back(mem);
  }
  ASSERT_EQ(held.size(), static_cast<size_t>(kBuffers)) << "GetIOMem handed out more or fewer buffers than the pool has";
  prime_last_error(TS_ERR_POOL_EXHAUSTED);
  EXPECT_EQ(GetIOMem(), nullptr);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_POOL_EXHAUSTED);
  EXPECT_STRNE(GetLastErrorText(), "");
  EXPECT_EQ(GetIOMemFree(), 0);
  EXPECT_DOUBLE_EQ(GetIOMemUse(), 100.0);

  // A client sends while the pool is empty: the server must pause, not drop.
  const int64_t pauses0 = GetServerCounter(TS_COUNTER_RECV_PAUSES);
  const int64_t bytes_in0 = GetServerCounter(TS_COUNTER_BYTES_IN);
  MultiClient client(port_);
  ASSERT_TRUE(client.open(1));
  size_t sent = 0;
  client.at(0).on_writable = [&](MultiClient::Conn& c) {
    if (sent >= kBytes) return;
    size_t n = std::min<size_t>(16 * 1024, kBytes - sent);
    c.out.resize(n);
    fill_pattern(kSeed, sent, c.out.data(), n);
    sent += n;
  };
  size_t bad = SIZE_MAX;
  client.at(0).on_data = [&](MultiClient::Conn& c, const uint8_t* p, size_t n) {
    size_t k = pattern_mismatch(kSeed, c.bytes_in - n, p, n);
    if (k != n && bad == SIZE_MAX) bad = c.bytes_in - n + k;
  };
  ASSERT_TRUE(client.run_until([&] { return GetServerCounter(TS_COUNTER_RECV_PAUSES) > pauses0; }, 5s))
      << "TS_COUNTER_RECV_PAUSES did not grow while the pool was empty";
  // Paused means nothing was read: no byte entered the engine, none came back.
  EXPECT_EQ(GetServerCounter(TS_COUNTER_BYTES_IN), bytes_in0);
  EXPECT_EQ(client.at(0).bytes_in, 0u);
  EXPECT_FALSE(client.at(0).ended());

  // Give the buffers back: the echo resumes and every byte arrives, in order.
  for (void* mem : held) ASSERT_EQ(FreeIOMem(mem), 1) << GetLastErrorText();
  held.clear();
  ASSERT_TRUE(client.run_until([&] { return client.at(0).bytes_in >= kBytes || client.at(0).ended(); }, 20s))
      << "echoed " << client.at(0).bytes_in << " of " << kBytes << " bytes after the pool refilled";
  EXPECT_EQ(client.at(0).bytes_in, kBytes);
  EXPECT_EQ(bad, SIZE_MAX) << "wrong byte at offset " << bad;
  EXPECT_FALSE(client.at(0).ended());
}

}  // namespace
