// Guarantee 1 at the end of a link: a peer that sends its last bytes and closes (FIN) or
// resets (RST) at once gets every byte delivered and exactly one OnDisconnect, even when the
// data and the close reach the server together while its workers are busy.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>


#include "support/multi_client.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

constexpr size_t kClients = 200;
constexpr size_t kMessage = 100;

std::atomic<int64_t> g_bytes{0};
std::atomic<int> g_connects{0};
std::atomic<int> g_disconnects{0};

int32_t TS_CALL count_connect(TcpLink*) {
  g_connects++;
  return 1;
}
// Slow enough that the next links' data and close arrive together before they are read.
int32_t TS_CALL slow_receive(TcpLink*, uint8_t*, int32_t len) {
  g_bytes += len;
  std::this_thread::sleep_for(200us);
  return 1;
}
void TS_CALL count_disconnect(TcpLink*) { g_disconnects++; }

class PeerCloseTest : public ServerTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_bytes = 0;
    g_connects = 0;
    g_disconnects = 0;
  }
};

TEST_P(PeerCloseTest, LastBytesThenCloseAreBothNoticed) {
  const bool reset = GetParam();
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  SetEventProc(slow_receive, count_disconnect, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(count_connect), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());

  MultiClient clients(port_);
  ASSERT_TRUE(clients.open(kClients));
  ASSERT_TRUE(wait_until([] { return g_connects.load() == static_cast<int>(kClients); }, 10s));
  std::vector<uint8_t> msg(kMessage, 'd');
  for (size_t i = 0; i < kClients; ++i) {
    // A blocking-size write on a fresh socket: the 100 bytes leave at once, then the close.
    ASSERT_EQ(send_some(clients.at(i).fd, msg.data(), msg.size()), static_cast<long>(kMessage));
    clients.close(i, reset);
  }
  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == static_cast<int>(kClients); }, 10s))
      << g_disconnects.load() << " of " << kClients << " links got OnDisconnect after the peer "
      << (reset ? "reset" : "closed") << "; " << GetLinkCount() << " links are still open";
  // A reset may discard bytes the server had not read yet; a FIN promises every byte.
  if (reset) EXPECT_LE(g_bytes.load(), static_cast<int64_t>(kClients * kMessage));
  else EXPECT_EQ(g_bytes.load(), static_cast<int64_t>(kClients * kMessage));
  EXPECT_EQ(GetLinkCount(), 0);
}

// A closed link stops counting in GetLinkCount before its OnDisconnect runs, so a program that
// waits for its disconnect events and then reads the count sees the links gone (before, the
// count dropped only after the worker's batch, up to all of them late).
std::atomic<int> g_count_in_disconnect{-1};
void TS_CALL record_count(TcpLink*) {
  g_count_in_disconnect = GetLinkCount();
  g_disconnects++;
}

class LinkCountAtCloseTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_disconnects = 0;
    g_count_in_disconnect = -1;
  }
};

TEST_F(LinkCountAtCloseTest, AClosedLinkIsNoLongerCountedInItsOnDisconnect) {
  SetEventProc(nullptr, record_count, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  MultiClient clients(port_);
  ASSERT_TRUE(clients.open(2));
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 2; }, 10s));
  clients.close(0, false);
  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 1; }, 10s));
  EXPECT_EQ(g_count_in_disconnect.load(), 1) << "the closing link was still counted";
  EXPECT_EQ(GetLinkCount(), 1);
  clients.close(1, false);
  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 2; }, 10s));
  EXPECT_EQ(g_count_in_disconnect.load(), 0);
  EXPECT_EQ(GetLinkCount(), 0);
  EXPECT_TRUE(wait_until([] { return GetLinkFree() == GetServerOption(TS_OPT_MAX_LINKS); }, 10s))
      << "the slots come back to the free list after the batch";
}

INSTANTIATE_TEST_SUITE_P(FinAndReset, PeerCloseTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Reset" : "Fin"; });

}  // namespace
