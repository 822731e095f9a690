// Guarantee 4: PostBroadcast reaches every link open at the call (its result is how many),
// each link gets every broadcast exactly once and in order.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/multi_client.h"
#include "support/payload.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::atomic<int> g_connects{0};

int32_t TS_CALL count_connect(TcpLink*) {
  g_connects++;
  return 1;
}

class BroadcastTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_connects = 0;
    ASSERT_EQ(SetConnectProc(count_connect), 1);
  }
};

TEST_F(BroadcastTest, ReturnsTheNumberOfOpenLinksAndReachesThemAll) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  MultiClient clients(port_);
  ASSERT_TRUE(clients.open(10));
  ASSERT_TRUE(wait_until([] { return g_connects.load() == 10; }, 5s));

  const std::string text = "broadcast!";
  EXPECT_EQ(PostBroadcast(text.data(), static_cast<int32_t>(text.size())), 10) << GetLastErrorText();
  EXPECT_EQ(GetLinkCount(), 10);
  ASSERT_TRUE(clients.run_until(
      [&] {
        for (size_t i = 0; i < clients.size(); ++i)
          if (clients.at(i).in.size() < text.size()) return false;
        return true;
      },
      5s));
  for (size_t i = 0; i < clients.size(); ++i)
    EXPECT_EQ(std::string(clients.at(i).in.begin(), clients.at(i).in.end()), text) << "client " << i;

  // A closed link is no longer counted.
  clients.close(0);
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 9; }, 5s));
  EXPECT_EQ(PostBroadcast(text.data(), static_cast<int32_t>(text.size())), 9);
}

// Broadcast scans the link table only up to the highest slot ever used: links in reused slots
// and in a slot above every earlier one must still be reached.
TEST_F(BroadcastTest, ReachesLinksInReusedAndNewlyUsedSlots) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  MultiClient clients(port_);
  ASSERT_TRUE(clients.open(5));
  ASSERT_TRUE(wait_until([] { return g_connects.load() == 5; }, 5s));
  clients.close(1);
  clients.close(3);
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 3; }, 5s));
  ASSERT_TRUE(clients.open(3));  // two take the freed slots, one the next unused slot
  ASSERT_TRUE(wait_until([] { return g_connects.load() == 8 && GetLinkCount() == 6; }, 5s));

  const std::string text = "to every slot";
  EXPECT_EQ(PostBroadcast(text.data(), static_cast<int32_t>(text.size())), 6) << GetLastErrorText();
  auto all_got_it = [&] {
    for (size_t i = 0; i < clients.size(); ++i)
      if (clients.at(i).is_open() && clients.at(i).in.size() < text.size()) return false;
    return true;
  };
  ASSERT_TRUE(clients.run_until(all_got_it, 5s));
  for (size_t i = 0; i < clients.size(); ++i) {
    if (!clients.at(i).is_open()) continue;
    EXPECT_EQ(std::string(clients.at(i).in.begin(), clients.at(i).in.end()), text) << "client " << i;
  }
}

TEST_F(BroadcastTest, FiveHundredLinksGetEveryMessageOnceInOrder) {
  constexpr size_t kLinks = 500;
  constexpr int kMessages = 50;
  constexpr size_t kMessageSize = 1000;
  constexpr uint64_t kSeedBase = 5000;  // message k is stream kSeedBase + k
  ASSERT_NO_FATAL_FAILURE(start_server());
  MultiClient clients(port_);
  ASSERT_TRUE(clients.open(kLinks, 30s));
  ASSERT_TRUE(wait_until([] { return g_connects.load() == static_cast<int>(kLinks); }, 20s))
      << "OnConnect calls: " << g_connects.load();

  // Each client checks its bytes as they arrive: byte o is byte o % size of message o / size.
  std::vector<size_t> bad(kLinks, SIZE_MAX);
  for (size_t i = 0; i < kLinks; ++i) {
    clients.at(i).on_data = [&, i](MultiClient::Conn& c, const uint8_t* p, size_t n) {
      uint64_t o = c.bytes_in - n;
      for (size_t k = 0; k < n && bad[i] == SIZE_MAX; ++k, ++o) {
        uint64_t msg = o / kMessageSize;
        if (msg >= static_cast<uint64_t>(kMessages) || p[k] != pattern_byte(kSeedBase + msg, o % kMessageSize))
          bad[i] = o;
      }
    };
  }

  // Broadcast from this thread while another one reads.
  std::atomic<bool> done{false};
  bool all_received = false;
  std::thread reader([&] {
    all_received = clients.run_until(
        [&] {
          if (!done) return false;
          for (size_t i = 0; i < kLinks; ++i)
            if (clients.at(i).bytes_in < kMessages * kMessageSize || clients.at(i).ended()) return false;
          return true;
        },
        60s);
  });
  std::vector<uint8_t> msg(kMessageSize);
  for (int k = 0; k < kMessages; ++k) {
    fill_pattern(kSeedBase + static_cast<uint64_t>(k), 0, msg.data(), msg.size());
    EXPECT_EQ(PostBroadcast(msg.data(), static_cast<int32_t>(msg.size())), static_cast<int32_t>(kLinks))
        << "broadcast " << k << ": " << GetLastErrorText();
  }
  done = true;
  reader.join();
  ASSERT_TRUE(all_received) << "not every link received all " << kMessages << " messages";
  for (size_t i = 0; i < kLinks; ++i) {
    EXPECT_EQ(bad[i], SIZE_MAX) << "link " << i << ": wrong byte at stream offset " << bad[i];
    EXPECT_EQ(clients.at(i).bytes_in, kMessages * kMessageSize) << "link " << i;
  }
}

}  // namespace
