// Guarantee 3: sends from any thread leave in call order; a send that returns 0 leaves the
// buffer with the caller; a closed link's id is refused with TS_ERR_LINK_CLOSED.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "support/blocking_client.h"
#include "support/payload.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::atomic<uint64_t> g_link_id{0};
std::atomic<int> g_disconnects{0};

int32_t TS_CALL remember_link(TcpLink* link) {
  g_link_id = link->Id;
  return 1;
}
void TS_CALL on_disconnect(TcpLink*) { g_disconnects++; }

class SendTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_link_id = 0;
    g_disconnects = 0;
    SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);
    ASSERT_EQ(SetConnectProc(remember_link), 1);
  }
};

TEST_F(SendTest, SendsFromAnAppThreadLeaveInCallOrder) {
  constexpr uint64_t kSeed = 4242;
  constexpr int kSends = 3000;
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_));
  ASSERT_TRUE(wait_until([] { return g_link_id.load() != 0; }, 5s));
  const uint64_t id = g_link_id;
  const int buffer_size = static_cast<int>(GetServerOption(TS_OPT_IO_BUFFER_SIZE));

  // Plan the sends first so the reader knows how many bytes to expect.
  std::mt19937 rng(77);
  std::vector<int> lengths(kSends);
  size_t total = 0;
  for (int i = 0; i < kSends; ++i) {
    lengths[i] = i % 2 == 0 ? 1 + static_cast<int>(rng() % buffer_size)  // PostSendById
                            : 1 + static_cast<int>(rng() % 5000);        // SendBufferById
    total += static_cast<size_t>(lengths[i]);
  }
  std::vector<uint8_t> got;
  ::testing::AssertionResult read_ok = ::testing::AssertionFailure();
  std::thread reader([&] { read_ok = client.recv_exact(total, &got, 30s); });

  // This thread is not an engine thread: PostSendById / SendBufferById from outside.
  uint64_t offset = 0;
  int failures = 0;
  std::vector<uint8_t> scratch(5000);
  for (int i = 0; i < kSends && failures == 0; ++i) {
    const int n = lengths[i];
    if (i % 2 == 0) {
      void* mem = nullptr;
      wait_until([&] { return (mem = GetIOMem()) != nullptr; }, 5s);
      if (!mem) {
        ADD_FAILURE() << "GetIOMem: " << GetLastErrorText();
        ++failures;
        break;
      }
      fill_pattern(kSeed, offset, static_cast<uint8_t*>(mem), static_cast<size_t>(n));
      if (PostSendById(id, mem, n) != 1) {
        ADD_FAILURE() << "PostSendById #" << i << ": " << GetLastErrorText();
        FreeIOMem(mem);
        ++failures;
      }
    } else {
      fill_pattern(kSeed, offset, scratch.data(), static_cast<size_t>(n));
      if (SendBufferById(id, scratch.data(), n) != 1) {
        ADD_FAILURE() << "SendBufferById #" << i << ": " << GetLastErrorText();
        ++failures;
      }
    }
    offset += static_cast<uint64_t>(n);
  }
  reader.join();
  ASSERT_EQ(failures, 0);
  ASSERT_TRUE(read_ok);
  size_t bad = pattern_mismatch(kSeed, 0, got.data(), got.size());
  EXPECT_EQ(bad, got.size()) << "first wrong byte at offset " << bad << " of " << got.size();
  // Every pool buffer handed to PostSendById came back after its send.
  EXPECT_TRUE(wait_until([] { return GetIOMemFree() == GetServerOption(TS_OPT_IO_BUFFER_COUNT); }, 5s))
      << "free buffers: " << GetIOMemFree();
}

TEST_F(SendTest, SendToClosedLinkFailsAndLeavesTheBufferWithTheCaller) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_));
  ASSERT_TRUE(wait_until([] { return g_link_id.load() != 0; }, 5s));
  const uint64_t id = g_link_id;
  client.close();
  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 1; }, 5s));

  const int free_before = GetIOMemFree();
  void* mem = GetIOMem();
  ASSERT_NE(mem, nullptr) << GetLastErrorText();
  std::memset(mem, 'x', 10);
  prime_last_error(TS_ERR_LINK_CLOSED);
  EXPECT_EQ(PostSendById(id, mem, 10), 0);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_LINK_CLOSED) << GetLastErrorText();
  EXPECT_STRNE(GetLastErrorText(), "");
  prime_last_error(TS_ERR_LINK_CLOSED);
  EXPECT_EQ(SendBufferById(id, mem, 10), 0);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_LINK_CLOSED) << GetLastErrorText();
  // The failed PostSendById left the buffer ours: it can still be used and freed.
  EXPECT_EQ(static_cast<char*>(mem)[9], 'x');
  EXPECT_EQ(FreeIOMem(mem), 1) << GetLastErrorText();
  EXPECT_EQ(GetIOMemFree(), free_before);
}

}  // namespace
