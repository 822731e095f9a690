// Enumeration: GetLinkIds returns the number of open links and fills the caller's buffer up to
// its capacity (a short buffer is detected by the count), also while links come and go;
// PostBroadcastExcept reaches every open link but one.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <set>
#include <thread>
#include <vector>

#include "support/blocking_client.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::mutex g_mu;
std::set<uint64_t> g_seen;   // every id OnConnect saw
std::set<uint64_t> g_open;   // ids between OnConnect and OnDisconnect
std::map<uint64_t, uint16_t> g_remote_port;  // id -> the client's port

int32_t TS_CALL on_connect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_seen.insert(link->Id);
  g_open.insert(link->Id);
  g_remote_port[link->Id] = static_cast<uint16_t>(link->RemotePort);
  return 1;
}

void TS_CALL on_disconnect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_open.erase(link->Id);
}

int32_t TS_CALL ignore(TcpLink*, uint8_t*, int32_t) { return 1; }

class LinkEnumerationTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    std::lock_guard<std::mutex> lock(g_mu);
    g_seen.clear();
    g_open.clear();
    g_remote_port.clear();
  }
  void start_tracking() {
    SetEventProc(ignore, on_disconnect, nullptr, nullptr, nullptr);
    ASSERT_EQ(SetConnectProc(on_connect), 1);
    ASSERT_NO_FATAL_FAILURE(start_server());
  }
  std::set<uint64_t> open_ids() {
    std::lock_guard<std::mutex> lock(g_mu);
    return g_open;
  }
};

TEST_F(LinkEnumerationTest, NullShortAndExactBuffers) {
  ASSERT_NO_FATAL_FAILURE(start_tracking());
  EXPECT_EQ(GetLinkIds(nullptr, 0), 0);
  std::vector<BlockingClient> clients(5);
  for (auto& c : clients) ASSERT_TRUE(c.connect(port_));
  ASSERT_TRUE(wait_until([&] { return open_ids().size() == 5; }, 5s));
  const std::set<uint64_t> expected = open_ids();

  EXPECT_EQ(GetLinkIds(nullptr, 0), 5) << "NULL with capacity 0 counts";

  constexpr uint64_t kSentinel = 0xDEADBEEFull;
  std::vector<uint64_t> ids(8, kSentinel);
  EXPECT_EQ(GetLinkIds(ids.data(), 3), 5) << "a short buffer still gets the full count";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(expected.count(ids[static_cast<size_t>(i)]), 1u) << "slot " << i;
  for (size_t i = 3; i < ids.size(); ++i) EXPECT_EQ(ids[i], kSentinel) << "wrote past the capacity";
  EXPECT_EQ(std::set<uint64_t>(ids.begin(), ids.begin() + 3).size(), 3u) << "duplicates";

  std::fill(ids.begin(), ids.end(), kSentinel);
  EXPECT_EQ(GetLinkIds(ids.data(), 5), 5);
  EXPECT_EQ(std::set<uint64_t>(ids.begin(), ids.begin() + 5), expected);
  EXPECT_EQ(ids[5], kSentinel);

  std::fill(ids.begin(), ids.end(), kSentinel);
  EXPECT_EQ(GetLinkIds(ids.data(), 8), 5);
  EXPECT_EQ(std::set<uint64_t>(ids.begin(), ids.begin() + 5), expected);

  clients[0].close();
  clients[1].close();
  ASSERT_TRUE(wait_until([&] { return GetLinkIds(nullptr, 0) == 3; }, 5s));
  std::fill(ids.begin(), ids.end(), kSentinel);
  EXPECT_EQ(GetLinkIds(ids.data(), 8), 3);
  ASSERT_TRUE(wait_until([&] { return open_ids().size() == 3; }, 5s));
  EXPECT_EQ(std::set<uint64_t>(ids.begin(), ids.begin() + 3), open_ids());
}

TEST_F(LinkEnumerationTest, BadArguments) {
  EXPECT_EQ(GetLinkIds(nullptr, 0), 0) << "no server running: no links";
  prime_last_error(TS_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(GetLinkIds(nullptr, 4), -1);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_INVALID_ARGUMENT);
  uint64_t one = 0;
  prime_last_error(TS_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(GetLinkIds(&one, -1), -1);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_INVALID_ARGUMENT);
  EXPECT_STRNE(GetLastErrorText(), "");
  EXPECT_EQ(one, 0u);
}

TEST_F(LinkEnumerationTest, BroadcastExceptBadArguments) {
  prime_last_error(TS_ERR_NOT_ACTIVE);
  EXPECT_EQ(PostBroadcastExcept("x", 1, 0), -1);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_NOT_ACTIVE);
  ASSERT_NO_FATAL_FAILURE(start_tracking());
  prime_last_error(TS_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(PostBroadcastExcept(nullptr, 1, 0), -1);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_INVALID_ARGUMENT);
  for (int32_t len : {0, -1}) {
    prime_last_error(TS_ERR_BAD_LENGTH);
    EXPECT_EQ(PostBroadcastExcept("x", len, 0), -1);
    EXPECT_EQ(GetLastErrorCode(), TS_ERR_BAD_LENGTH);
  }
}

TEST_F(LinkEnumerationTest, IdsAreLinksThatWereOpenWhileLinksChurn) {
  ASSERT_NO_FATAL_FAILURE(start_tracking());
  std::vector<BlockingClient> steady(10);
  for (auto& c : steady) ASSERT_TRUE(c.connect(port_));
  ASSERT_TRUE(wait_until([&] { return open_ids().size() == 10; }, 5s));
  const std::set<uint64_t> steady_ids = open_ids();

  std::atomic<bool> stop{false};
  std::atomic<int> churned{0};
  std::thread churn([&] {
    while (!stop) {
      BlockingClient c;
      if (!c.connect(port_)) break;
      c.close();
      churned++;
    }
  });
  std::vector<std::vector<uint64_t>> results;
  std::string failure;  // no ASSERT while the churn thread runs: it must be joined first
  const auto start = Clock::now();
  while (failure.empty() && (ms_since(start) < 1500 || churned.load() < 20) && ms_since(start) < 20000) {
    std::vector<uint64_t> ids(4, 0);
    int32_t n = GetLinkIds(ids.data(), static_cast<int32_t>(ids.size()));  // usually short
    if (n < 0) failure = std::string("GetLinkIds failed: ") + GetLastErrorText();
    ids.resize(static_cast<size_t>(std::max(0, std::min<int32_t>(n, 4))));
    results.push_back(ids);
    std::vector<uint64_t> all(3000, 0);  // TS_OPT_MAX_LINKS: never short
    n = GetLinkIds(all.data(), static_cast<int32_t>(all.size()));
    if (n < 10 || n > 3000) failure = "GetLinkIds returned " + std::to_string(n) + " with 10 steady links";
    all.resize(static_cast<size_t>(std::max(0, std::min<int32_t>(n, 3000))));
    for (uint64_t id : steady_ids)
      if (std::count(all.begin(), all.end(), id) != 1) failure = "steady link " + std::to_string(id) + " not listed once";
    results.push_back(all);
  }
  stop = true;
  churn.join();
  ASSERT_EQ(failure, "");
  EXPECT_GE(churned.load(), 20);
  // Every id reported belonged to a link that was opened (OnConnect may run just after the
  // link became visible, so this is checked once everything settled).
  ASSERT_TRUE(wait_until([&] { return open_ids().size() == 10; }, 5s));
  std::lock_guard<std::mutex> lock(g_mu);
  for (const auto& r : results) {
    EXPECT_EQ(std::set<uint64_t>(r.begin(), r.end()).size(), r.size()) << "an id twice in one call";
    for (uint64_t id : r) EXPECT_EQ(g_seen.count(id), 1u) << "id " << id << " was never a link";
  }
}

TEST_F(LinkEnumerationTest, BroadcastExceptSkipsExactlyOneLink) {
  ASSERT_NO_FATAL_FAILURE(start_tracking());
  std::vector<BlockingClient> clients(5);
  for (auto& c : clients) ASSERT_TRUE(c.connect(port_));
  ASSERT_TRUE(wait_until([&] { return open_ids().size() == 5; }, 5s));
  std::vector<uint64_t> ids(5);
  ASSERT_EQ(GetLinkIds(ids.data(), 5), 5);
  const uint64_t except = ids[2];
  uint16_t except_port;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    except_port = g_remote_port[except];
  }
  EXPECT_EQ(PostBroadcastExcept("skip", 4, except), 4);
  EXPECT_EQ(PostBroadcast("all!", 4), 5);
  int missed = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    std::vector<uint8_t> got;
    ASSERT_TRUE(clients[i].recv_exact(4, &got)) << "client " << i;
    std::string first(got.begin(), got.end());
    if (first == "all!") {
      ++missed;
      EXPECT_EQ(clients[i].local_port(), except_port) << "the wrong link missed the broadcast";
      continue;
    }
    EXPECT_NE(clients[i].local_port(), except_port) << "the excepted link got the broadcast";
    EXPECT_EQ(first, "skip") << "client " << i;
    ASSERT_TRUE(clients[i].recv_exact(4, &got)) << "client " << i;
    EXPECT_EQ(std::string(got.begin(), got.end()), "all!") << "client " << i;
  }
  EXPECT_EQ(missed, 1) << "exactly one link must miss the broadcast";
  // An id that is no link: everyone gets it.
  EXPECT_EQ(PostBroadcastExcept("none", 4, except + (uint64_t{1} << 40)), 5);
  for (size_t i = 0; i < clients.size(); ++i) {
    std::vector<uint8_t> got;
    ASSERT_TRUE(clients[i].recv_exact(4, &got)) << "client " << i;
    EXPECT_EQ(std::string(got.begin(), got.end()), "none");
  }
}

}  // namespace
