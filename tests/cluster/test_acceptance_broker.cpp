// Acceptance 3 of issue 16, with two nodes in this process and a private redis-server:
//  - a slow subscriber (its topic callback blocks while Redis' pub/sub output-buffer limit is
//    lowered): Redis cuts it off at its bound, the node counts exactly the messages it missed
//    (gaps), reconnects by itself and receives again;
//  - a paused broker (CLIENT PAUSE): the publisher's queue stays within its bound, what does
//    not fit is dropped and counted, and delivery recovers when the pause ends.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/in_process_node.h"
#include "support/line_client.h"
#include "support/redis_server.h"
#include "support/redis_test.h"
#include "support/wait.h"
#include "tcpcluster.h"

using namespace std::chrono_literals;
using tctest::InProcessNode;
using tctest::LineClient;
using tctest::RedisServer;
using tctest::TopicMessage;

namespace {

constexpr auto kWait = std::chrono::seconds(60);
using Clock = std::chrono::steady_clock;

// How many pub/sub connections Redis holds now.
int pubsub_clients(RedisServer& redis) {
  std::string list = redis.command({"CLIENT", "LIST", "TYPE", "pubsub"});
  int n = 0;
  for (size_t pos = 0; (pos = list.find("cmd=", pos)) != std::string::npos; ++pos) ++n;
  return n;
}

using AcceptanceBrokerTest = tctest::RedisTest;

}  // namespace

TEST_F(AcceptanceBrokerTest, ASlowSubscriberIsCutOffCountsWhatItMissedAndRecovers) {
  // Redis closes a subscriber whose unsent output passes 256 KiB (the default is 32 MiB).
  ASSERT_EQ(redis_.command({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 256kb 64kb 1"}), "OK");
  InProcessNode a, b;
  std::string error;
  ASSERT_TRUE(a.create(redis_.url(), &error)) << error;
  ASSERT_TRUE(b.create(redis_.url(), &error)) << error;
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool gate_open = true;
  std::atomic<bool> blocked{false};
  b.topic_hook = [&](const TopicMessage&) {  // B's subscribing thread
    std::unique_lock<std::mutex> lock(gate_mu);
    if (!gate_open) blocked = true;
    gate_cv.wait(lock, [&] { return gate_open; });
  };
  ASSERT_TRUE(a.start(&error) && b.start(&error)) << error;
  ASSERT_TRUE(a.wait_state(TC_STATE_CONNECTED, kWait) && b.wait_state(TC_STATE_CONNECTED, kWait));
  ASSERT_EQ(pubsub_clients(redis_), 2);

  const std::string pad(4096, '.');
  int k = 0;
  auto publish = [&] {
    std::string data = std::to_string(++k) + " " + pad;
    ASSERT_TRUE(TcpClusterPublish(a.node(), "feed", data.data(), int32_t(data.size())));
  };
  for (int i = 0; i < 10; ++i) publish();
  ASSERT_TRUE(b.wait_topics(10, kWait));

  {
    std::lock_guard<std::mutex> lock(gate_mu);
    gate_open = false;  // B's subscriber stops reading
  }
  // Publish until Redis drops B's subscription (the kernel's socket buffers fill first), at a
  // pace A's queue takes without dropping, so every loss is B's.
  const auto deadline = Clock::now() + kWait;
  while (pubsub_clients(redis_) == 2 && k < 100000 && Clock::now() < deadline) {
    for (int i = 0; i < 200; ++i) publish();
    tctest::wait_until([&] { return a.counter(TC_COUNTER_QUEUE_LENGTH) <= 1000; }, kWait, 1ms);
  }
  ASSERT_EQ(pubsub_clients(redis_), 1) << "Redis never cut the slow subscriber off (" << k << " messages)";
  EXPECT_TRUE(blocked.load());
  {
    std::lock_guard<std::mutex> lock(gate_mu);
    gate_open = true;
  }
  gate_cv.notify_all();
  // B reads what it still had, finds the connection closed, subscribes again.
  ASSERT_TRUE(b.wait_counter(TC_COUNTER_RECONNECTS, 1, kWait));
  ASSERT_TRUE(b.wait_state(TC_STATE_CONNECTED, kWait));
  const int last_before = k;
  for (int i = 0; i < 50; ++i) publish();
  const int last = k;
  ASSERT_TRUE(tctest::wait_until([&] {
    auto t = b.topics();
    return !t.empty() && t.back().data.compare(0, std::to_string(last).size() + 1, std::to_string(last) + " ") == 0;
  }, kWait)) << "delivery did not resume";

  std::vector<int> seen;
  for (const auto& t : b.topics()) seen.push_back(std::stoi(t.data));
  for (size_t i = 1; i < seen.size(); ++i) ASSERT_LT(seen[i - 1], seen[i]) << "order or duplicate";
  int64_t missing = last - static_cast<int64_t>(seen.size());
  EXPECT_GT(missing, 0);
  EXPECT_EQ(a.counter(TC_COUNTER_QUEUE_DROPPED) + a.counter(TC_COUNTER_DOWN_DROPPED), 0);
  EXPECT_EQ(b.counter(TC_COUNTER_GAPS), missing) << "B missed " << missing << " of " << last;
  EXPECT_EQ(b.gap_total(), missing);  // OnGap told the application the same
  for (int i = last_before + 1; i <= last; ++i)
    EXPECT_NE(std::find(seen.begin(), seen.end(), i), seen.end()) << i << " after the recovery";
  EXPECT_LE(a.counter(TC_COUNTER_QUEUE_PEAK), 1200);
}

TEST_F(AcceptanceBrokerTest, APausedBrokerKeepsTheQueueBoundedCountsDropsAndDeliveryRecovers) {
  InProcessNode a, b;
  std::string error;
  const std::map<int32_t, int64_t> options = {{TC_OPT_QUEUE_MESSAGES, 200}, {TC_OPT_REPLY_TIMEOUT_MS, 30000}};
  ASSERT_TRUE(a.create(redis_.url(), &error, options)) << error;
  ASSERT_TRUE(b.create(redis_.url(), &error, options)) << error;
  ASSERT_TRUE(a.start(&error) && b.start(&error)) << error;
  ASSERT_TRUE(a.wait_state(TC_STATE_CONNECTED, kWait) && b.wait_state(TC_STATE_CONNECTED, kWait));
  LineClient cb;
  ASSERT_TRUE(cb.connect(b.port(), &error)) << error;
  std::string reply;
  ASSERT_TRUE(cb.request("ID\n", "ID ", &reply));

  int k = 0;
  auto broadcast = [&] {
    std::string line = std::to_string(++k) + "\n";
    ASSERT_GE(TcpClusterBroadcast(a.node(), line.data(), int32_t(line.size()), 0), 0);
  };
  for (int i = 0; i < 50; ++i) broadcast();
  ASSERT_TRUE(cb.wait_line("50", kWait));

  ASSERT_EQ(redis_.command({"CLIENT", "PAUSE", "3000", "ALL"}), "OK");
  // The publisher's round trip is stuck: the queue fills to its bound, then drops.
  int64_t peak_seen = 0;
  const auto deadline = Clock::now() + kWait;
  while (a.counter(TC_COUNTER_QUEUE_DROPPED) < 500 && k < 1000000 && Clock::now() < deadline) {
    broadcast();
    peak_seen = std::max(peak_seen, a.counter(TC_COUNTER_QUEUE_LENGTH));
  }
  ASSERT_GE(a.counter(TC_COUNTER_QUEUE_DROPPED), 500);
  EXPECT_LE(peak_seen, 200);
  EXPECT_LE(a.counter(TC_COUNTER_QUEUE_PEAK), 200);
  // A directed send that does not fit fails in the call (and counts as a drop too).
  const int64_t broadcasts_dropped = a.counter(TC_COUNTER_QUEUE_DROPPED);
  EXPECT_EQ(TcpClusterSendToLink(a.node(), b.id(), 1, "x", 1, 0), 0);
  EXPECT_EQ(TcpClusterGetLastErrorCode(), TC_ERR_QUEUE_FULL);
  EXPECT_EQ(a.counter(TC_COUNTER_QUEUE_DROPPED), broadcasts_dropped + 1);

  // The pause ends by itself; the queue drains; new messages flow.
  ASSERT_TRUE(tctest::wait_until([&] { return a.counter(TC_COUNTER_QUEUE_LENGTH) == 0; }, kWait));
  for (int i = 0; i < 50; ++i) broadcast();
  ASSERT_TRUE(cb.wait_line(std::to_string(k), kWait)) << "delivery did not resume";

  std::vector<int> seen;
  for (const auto& l : cb.lines())
    if (!l.empty() && l[0] != 'I') seen.push_back(std::stoi(l));
  for (size_t i = 1; i < seen.size(); ++i) ASSERT_LT(seen[i - 1], seen[i]) << "order or duplicate";
  int64_t missing = k - static_cast<int64_t>(seen.size());
  EXPECT_EQ(missing, broadcasts_dropped + a.counter(TC_COUNTER_DOWN_DROPPED) + b.counter(TC_COUNTER_GAPS));
  EXPECT_EQ(b.counter(TC_COUNTER_GAPS), 0);  // a pause loses nothing that reached Redis
  EXPECT_EQ(a.counter(TC_COUNTER_RECONNECTS) + b.counter(TC_COUNTER_RECONNECTS), 0);
  EXPECT_LE(a.counter(TC_COUNTER_QUEUE_PEAK), 200);
}
