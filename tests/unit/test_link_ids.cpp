// Guarantee 2: link ids are nonzero and never reused in the process, even when link records
// are recycled and across StopTcpServer / StartTcpServer.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <vector>

#include "support/multi_client.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::mutex g_mu;
std::vector<uint64_t> g_ids;        // every OnConnect, in order
std::set<const TcpLink*> g_records;  // distinct link records seen
std::atomic<int> g_connects{0};
std::atomic<int> g_disconnects{0};

int32_t TS_CALL on_connect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_ids.push_back(link->Id);
  g_records.insert(link);
  g_connects++;
  return 1;
}

void TS_CALL on_disconnect(TcpLink*) { g_disconnects++; }

class LinkIdsTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    std::lock_guard<std::mutex> lock(g_mu);
    g_ids.clear();
    g_records.clear();
    g_connects = 0;
    g_disconnects = 0;
  }

  // Opens n clients, waits for their OnConnect, closes them and waits for OnDisconnect.
  void churn(size_t n) {
    int target = g_connects.load() + static_cast<int>(n);
    MultiClient clients(port_);
    ASSERT_TRUE(clients.open(n));
    ASSERT_TRUE(wait_until([&] { return g_connects.load() == target; }, 10s))
        << "OnConnect calls: " << g_connects.load() << ", expected " << target;
    clients.close_all();
    ASSERT_TRUE(wait_until([&] { return g_disconnects.load() == target; }, 10s))
        << "OnDisconnect calls: " << g_disconnects.load() << ", expected " << target;
  }
};

TEST_F(LinkIdsTest, IdsAreUniqueAndNonzeroAcrossRecyclingAndRestarts) {
  // A small table forces record reuse: 3 rounds of 40 clients through 50 slots.
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_LINKS, 50), 1);
  SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(on_connect), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  for (int round = 0; round < 3; ++round) ASSERT_NO_FATAL_FAILURE(churn(40));
  ASSERT_TRUE(stop_server());
  ASSERT_NO_FATAL_FAILURE(start_server());
  for (int round = 0; round < 2; ++round) ASSERT_NO_FATAL_FAILURE(churn(40));
  ASSERT_TRUE(stop_server());

  std::lock_guard<std::mutex> lock(g_mu);
  ASSERT_EQ(g_ids.size(), 200u);
  std::set<uint64_t> unique(g_ids.begin(), g_ids.end());
  EXPECT_EQ(unique.size(), g_ids.size()) << "a link id was reused";
  EXPECT_EQ(unique.count(0), 0u) << "a link had id 0";
  // Records were recycled (so uniqueness is not just "every record is new").
  EXPECT_LT(g_records.size(), g_ids.size());
}

}  // namespace
