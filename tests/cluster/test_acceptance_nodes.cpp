// Acceptance of issue 16 with node processes (a conformance server with --cluster: each test
// runs once with the C sample and, where the Python binding is tested and nothing is
// sanitized, once with the Python one, samples/python) and a private redis-server:
//  1. three nodes, clients on each: with every drop counter at 0, numbered broadcasts from
//     every node reach every client exactly once, in per-source order; SENDTO reaches the
//     right link across nodes; a send to a node id of a previous run never arrives and is
//     counted;
//  2. the broker killed (-9) mid-stream: local delivery goes on, the counters match what was
//     lost, the broker restarts on the same port and delivery resumes, no node restarted;
//  4. a node killed: its presence keys expire; sends to them fail with a clear error.
// (3, the slow subscriber and the paused broker, is test_acceptance_broker.cpp.)
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/line_client.h"
#include "support/node_process.h"
#include "support/redis_server.h"
#include "support/redis_test.h"
#include "support/wait.h"
#include "tcpcluster.h"

using namespace std::chrono_literals;
using tctest::LineClient;
using tctest::NodeProcess;
using tctest::RedisServer;

namespace {

constexpr auto kWait = std::chrono::seconds(60);  // several processes on a busy 2-core machine

uint64_t link_id_of(LineClient& client) {
  std::string reply;
  EXPECT_TRUE(client.request("ID\n", "ID ", &reply));
  return reply.size() > 3 ? std::stoull(reply.substr(3)) : 0;
}

// "BCAST <source>:<k>" for k = from..to, each after the previous one came back to the sender
// (its own node delivers at once). Returns the last k sent; stops early when *stop is set.
int send_numbered(LineClient& c, const std::string& source, int from, int to,
                  std::atomic<int>* progress, const std::atomic<bool>* stop = nullptr) {
  size_t pos = 0;
  for (int k = from; k <= to; ++k) {
    if (stop && stop->load()) return k - 1;
    std::string want = source + ":" + std::to_string(k);
    if (!c.send("BCAST " + want + "\n")) return k - 1;
    bool back = c.wait(
        [&](const std::vector<std::string>& lines) {
          for (; pos < lines.size(); ++pos)
            if (lines[pos] == want) return true;
          return false;
        },
        kWait);
    if (!back) {
      ADD_FAILURE() << "the sender on node " << source << " never got its own broadcast " << want;
      return k - 1;
    }
    progress->store(k);
  }
  return to;
}

// The numbered lines a client got, per source, in arrival order.
std::map<std::string, std::vector<int>> numbered(const std::vector<std::string>& lines) {
  std::map<std::string, std::vector<int>> by_source;
  for (const auto& l : lines) {
    size_t colon = l.find(':');
    if (colon == std::string::npos || colon == 0 || colon > 2) continue;
    by_source[l.substr(0, colon)].push_back(std::stoi(l.substr(colon + 1)));
  }
  return by_source;
}

size_t count_numbered(const std::vector<std::string>& lines) {
  size_t n = 0;
  for (const auto& kv : numbered(lines)) n += kv.second.size();
  return n;
}

bool has_line(LineClient& c, const std::string& want) {
  for (const auto& l : c.lines())
    if (l == want) return true;
  return false;
}

class AcceptanceNodesTest : public tctest::RedisTest,
                            public ::testing::WithParamInterface<tctest::NodeProgram> {
 protected:
  tctest::NodeProgram program() const { return GetParam(); }
};

}  // namespace

TEST_P(AcceptanceNodesTest, ThreeNodesDeliverEveryBroadcastOnceInSourceOrderAndSendToReachesTheLink) {
  std::string error;
  // A node of a previous run: its id and one of its link ids, then it is gone. The nodes below
  // are new processes, so their first links have the same link ids.
  uint64_t old_node, old_link;
  {
    NodeProcess old(program());
    ASSERT_TRUE(old.start(redis_.url(), "old", &error)) << error;
    ASSERT_TRUE(old.wait_connected(kWait));
    LineClient c;
    ASSERT_TRUE(c.connect(old.port, &error)) << error;
    old_node = old.id;
    old_link = link_id_of(c);
    c.close();
    ASSERT_TRUE(old.quit());
  }

  const std::string names[3] = {"a", "b", "c"};
  NodeProcess nodes[3] = {NodeProcess(program()), NodeProcess(program()), NodeProcess(program())};
  for (int n = 0; n < 3; ++n) ASSERT_TRUE(nodes[n].start(redis_.url(), names[n], &error)) << error;
  for (int n = 0; n < 3; ++n) ASSERT_TRUE(nodes[n].wait_connected(kWait)) << names[n];
  // Three clients per node: [0] sends numbered broadcasts, all listen.
  LineClient clients[3][3];
  uint64_t ids[3][3];
  for (int n = 0; n < 3; ++n)
    for (int k = 0; k < 3; ++k) {
      ASSERT_TRUE(clients[n][k].connect(nodes[n].port, &error)) << error;
      ids[n][k] = link_id_of(clients[n][k]);  // the link is open on its server
    }

  constexpr int kMessages = 300;
  std::atomic<int> progress[3] = {{0}, {0}, {0}};
  std::vector<std::thread> senders;
  for (int n = 0; n < 3; ++n)
    senders.emplace_back([&, n] { send_numbered(clients[n][0], names[n], 1, kMessages, &progress[n]); });
  for (auto& t : senders) t.join();
  for (int n = 0; n < 3; ++n)
    for (int k = 0; k < 3; ++k)
      ASSERT_TRUE(clients[n][k].wait([&](const std::vector<std::string>& l) { return count_numbered(l) >= 3 * kMessages; }, kWait))
          << "client " << k << " of node " << names[n] << " got " << count_numbered(clients[n][k].lines());

  for (int n = 0; n < 3; ++n)
    for (int k = 0; k < 3; ++k) {
      auto got = numbered(clients[n][k].lines());
      ASSERT_EQ(got.size(), 3u);
      for (const auto& src : names) {
        const auto& seq = got[src];
        ASSERT_EQ(seq.size(), size_t(kMessages)) << "from " << src << " at node " << names[n];
        for (int i = 0; i < kMessages; ++i)
          ASSERT_EQ(seq[size_t(i)], i + 1) << "from " << src << " at node " << names[n] << ", client " << k;
      }
    }
  for (int n = 0; n < 3; ++n) {
    // The last echoes and PUBLISH replies may still be on their way: wait for the counters.
    std::map<std::string, int64_t> s;
    tctest::wait_until([&] {
      s = nodes[n].stats();
      return s["echoes"] >= kMessages && s["published"] >= kMessages;
    }, kWait, 1ms);
    EXPECT_EQ(s["queue_dropped"], 0) << names[n];
    EXPECT_EQ(s["down_dropped"], 0) << names[n];
    EXPECT_EQ(s["unconfirmed"], 0) << names[n];
    EXPECT_EQ(s["gaps"], 0) << names[n];
    EXPECT_EQ(s["bad_messages"], 0) << names[n];
    EXPECT_EQ(s["received"], 2 * kMessages) << names[n];
    EXPECT_EQ(s["echoes"], kMessages) << names[n];
    EXPECT_EQ(s["published"], kMessages) << names[n];
  }
  // SENDTO from every node to a link of every node (its own included).
  for (int from = 0; from < 3; ++from)
    for (int to = 0; to < 3; ++to) {
      std::string text = "d-" + names[from] + "-" + names[to];
      ASSERT_TRUE(clients[from][1].send("SENDTO " + std::to_string(nodes[to].id) + " " +
                                        std::to_string(ids[to][2]) + " " + text + "\n"));
      ASSERT_TRUE(clients[to][2].wait_line(text, kWait)) << text;
    }
  // A node id of the previous run: never delivered (its link id exists on every new node),
  // reported to the sender and counted.
  std::string reply;
  ASSERT_TRUE(clients[0][1].request("SENDTO " + std::to_string(old_node) + " " + std::to_string(old_link) + " ghost\n",
                                    "SENDFAIL ", &reply));
  EXPECT_EQ(reply.compare(0, 11, "SENDFAIL 1 "), 0) << reply;
  EXPECT_NE(reply.find(std::to_string(old_node)), std::string::npos) << reply;
  EXPECT_EQ(nodes[0].stats()["send_failed"], 1);
  for (int n = 0; n < 3; ++n)
    for (int k = 0; k < 3; ++k) {
      EXPECT_FALSE(has_line(clients[n][k], "ghost"));
      for (int from = 0; from < 3; ++from)
        for (int to = 0; to < 3; ++to) {
          std::string text = "d-" + names[from] + "-" + names[to];
          int copies = 0;
          for (const auto& l : clients[n][k].lines()) copies += l == text;
          EXPECT_EQ(copies, (n == to && k == 2) ? 1 : 0) << text << " at node " << names[n] << " client " << k;
        }
    }
  for (int n = 0; n < 3; ++n) EXPECT_TRUE(nodes[n].quit()) << names[n];
}

TEST_P(AcceptanceNodesTest, BrokerKilledMidStreamLocalDeliveryGoesOnCountersMatchAndDeliveryResumes) {
  std::string error;
  const std::string names[3] = {"a", "b", "c"};
  NodeProcess nodes[3] = {NodeProcess(program()), NodeProcess(program()), NodeProcess(program())};
  for (int n = 0; n < 3; ++n)
    ASSERT_TRUE(nodes[n].start(redis_.url(), names[n], &error, {"--cluster-reconnect-max-ms", "300"})) << error;
  for (int n = 0; n < 3; ++n) ASSERT_TRUE(nodes[n].wait_connected(kWait)) << names[n];
  LineClient clients[3][2];  // [0] sends, [1] listens
  for (int n = 0; n < 3; ++n)
    for (int k = 0; k < 2; ++k) {
      ASSERT_TRUE(clients[n][k].connect(nodes[n].port, &error)) << error;
      link_id_of(clients[n][k]);
    }

  // Phase 1: everything reaches everyone (every receiver knows every publisher's numbers).
  constexpr int kBefore = 100, kAfter = 100;
  std::atomic<int> progress[3] = {{0}, {0}, {0}};
  int last_during[3];
  std::atomic<bool> stop_during{false};
  {
    std::vector<std::thread> t;
    for (int n = 0; n < 3; ++n)
      t.emplace_back([&, n] { send_numbered(clients[n][0], names[n], 1, kBefore, &progress[n]); });
    for (auto& th : t) th.join();
  }
  for (int n = 0; n < 3; ++n)
    ASSERT_TRUE(clients[n][1].wait([&](const std::vector<std::string>& l) { return count_numbered(l) >= 3 * kBefore; }, kWait));

  // Phase 2: the senders keep going; the broker dies under them; each sends 50 more after it.
  {
    std::vector<std::thread> t;
    for (int n = 0; n < 3; ++n)
      t.emplace_back([&, n] {
        last_during[n] = send_numbered(clients[n][0], names[n], kBefore + 1, 1000000, &progress[n], &stop_during);
      });
    auto min_progress = [&] { return std::min({progress[0].load(), progress[1].load(), progress[2].load()}); };
    EXPECT_TRUE(tctest::wait_until([&] { return min_progress() >= kBefore + 50; }, kWait, 1ms));
    redis_.kill9();
    int at_kill = std::max({progress[0].load(), progress[1].load(), progress[2].load()});
    EXPECT_TRUE(tctest::wait_until([&] { return min_progress() >= at_kill + 50; }, kWait, 1ms));
    stop_during = true;
    for (auto& th : t) th.join();
  }
  for (int n = 0; n < 3; ++n) ASSERT_GE(last_during[n], kBefore + 100) << "the sender of " << names[n] << " stalled";

  // The broker returns on the same port; the nodes (never restarted) reconnect by themselves.
  ASSERT_TRUE(redis_.restart(&error)) << error;
  for (int n = 0; n < 3; ++n) ASSERT_TRUE(nodes[n].wait_connected(kWait)) << names[n];

  // Phase 3: delivery resumes.
  int last[3];
  {
    std::vector<std::thread> t;
    for (int n = 0; n < 3; ++n)
      t.emplace_back([&, n] { last[n] = send_numbered(clients[n][0], names[n], last_during[n] + 1, last_during[n] + kAfter, &progress[n]); });
    for (auto& th : t) th.join();
  }
  for (int n = 0; n < 3; ++n)
    for (int k = 0; k < 2; ++k)
      ASSERT_TRUE(clients[n][k].wait([&](const std::vector<std::string>& l) {
        auto got = numbered(l);
        for (int src = 0; src < 3; ++src)
          if (got[names[src]].empty() || got[names[src]].back() != last[src]) return false;
        return true;
      }, kWait)) << "node " << names[n] << " client " << k << ": delivery did not resume";

  std::map<std::string, int64_t> stats[3];
  for (int n = 0; n < 3; ++n) {
    stats[n] = nodes[n].stats();
    EXPECT_GE(stats[n]["reconnects"], 1) << names[n];
    EXPECT_EQ(stats[n]["state"], TC_STATE_CONNECTED) << names[n];
    EXPECT_GT(stats[n]["down_dropped"] + stats[n]["unconfirmed"], 0) << names[n] << ": nothing was lost?";
  }
  for (int r = 0; r < 3; ++r) {
    auto mine = numbered(clients[r][0].lines());
    auto listener = numbered(clients[r][1].lines());
    EXPECT_EQ(mine, listener) << "both clients of " << names[r] << " see the same";
    int64_t missing = 0, dropped_by_publishers = 0;
    for (int p = 0; p < 3; ++p) {
      const auto& seq = listener[names[p]];
      for (size_t i = 1; i < seq.size(); ++i) ASSERT_LT(seq[i - 1], seq[i]) << "order/duplicate from " << names[p] << " at " << names[r];
      if (p == r) {  // local delivery went on all along: everything, in order
        ASSERT_EQ(seq.size(), size_t(last[p])) << names[r];
        continue;
      }
      for (int i = 0; i < kBefore; ++i) ASSERT_EQ(seq[size_t(i)], i + 1);
      missing += last[p] - static_cast<int64_t>(seq.size());
      dropped_by_publishers += stats[p]["down_dropped"] + stats[p]["queue_dropped"];
    }
    // What this node's clients missed = what the publishers dropped + the gaps it counted.
    EXPECT_EQ(missing, dropped_by_publishers + stats[r]["gaps"])
        << "node " << names[r] << ": missing " << missing << ", publishers dropped "
        << dropped_by_publishers << ", gaps " << stats[r]["gaps"];
  }
  for (int n = 0; n < 3; ++n) EXPECT_TRUE(nodes[n].quit()) << names[n];
}

TEST_P(AcceptanceNodesTest, NodeKilledItsKeysExpireAndSendsToThemFailClearly) {
  std::string error;
  NodeProcess a(program()), b(program());
  const std::vector<std::string> ttl = {"--cluster-ttl-ms", "1500"};
  ASSERT_TRUE(a.start(redis_.url(), "a", &error, ttl)) << error;
  ASSERT_TRUE(b.start(redis_.url(), "b", &error, ttl)) << error;
  ASSERT_TRUE(a.wait_connected(kWait) && b.wait_connected(kWait));
  LineClient ca, cb;
  ASSERT_TRUE(ca.connect(a.port, &error) && cb.connect(b.port, &error)) << error;
  std::string reply;
  ASSERT_TRUE(cb.request("KEY dave\n", "OK", &reply)) << reply;
  ASSERT_TRUE(cb.request("KEY dave@phone\n", "OK", &reply)) << reply;
  const std::string key = "tcpcluster:key:dave", alive = "tcpcluster:alive:" + std::to_string(b.id);
  ASSERT_TRUE(tctest::wait_until([&] { return redis_.command({"EXISTS", key}) == "1"; }, kWait));
  ASSERT_TRUE(ca.send("SENDKEY dave hello dave\n"));
  ASSERT_TRUE(cb.wait_line("hello dave", kWait));

  b.kill9();  // no goodbye: its keys stay until their TTL
  ASSERT_TRUE(ca.request("SENDKEY dave are you there\n", "SENDFAIL ", &reply));
  // Node gone (the key still names it) or, on a slow machine, already expired.
  EXPECT_TRUE(reply.compare(0, 11, "SENDFAIL 1 ") == 0 || reply.compare(0, 11, "SENDFAIL 2 ") == 0) << reply;
  EXPECT_NE(reply.find("dave"), std::string::npos) << reply;

  // The keys expire (the TTL is 1.5 s; nothing refreshes them now).
  EXPECT_TRUE(tctest::wait_until([&] {
    return redis_.command({"EXISTS", key}) == "0" && redis_.command({"EXISTS", key + "@phone"}) == "0" &&
           redis_.command({"EXISTS", alive}) == "0";
  }, kWait, 20ms));
  EXPECT_EQ(redis_.command({"EXISTS", key}), "0");
  EXPECT_EQ(redis_.command({"EXISTS", key + "@phone"}), "0");
  EXPECT_EQ(redis_.command({"EXISTS", alive}), "0");

  ASSERT_TRUE(ca.request("SENDKEY dave still there\n", "SENDFAIL ", &reply));
  EXPECT_EQ(reply, "SENDFAIL 2 no link holds key 'dave' (never set, cleared, or expired with its node)");
  ASSERT_TRUE(ca.request("SENDTO " + std::to_string(b.id) + " 1 anyone\n", "SENDFAIL ", &reply));
  EXPECT_EQ(reply.compare(0, 11, "SENDFAIL 1 "), 0) << reply;
  EXPECT_NE(reply.find("no node listens on id " + std::to_string(b.id)), std::string::npos) << reply;
  EXPECT_EQ(a.stats()["send_failed"], 3);
  EXPECT_TRUE(a.quit());
}

#if defined(TC_WITH_PYTHON_NODES)
#define TC_NODE_PROGRAMS tctest::NodeProgram::kC, tctest::NodeProgram::kPython
#else  // no Python binding in this build, or a sanitized one
#define TC_NODE_PROGRAMS tctest::NodeProgram::kC
#endif
INSTANTIATE_TEST_SUITE_P(Samples, AcceptanceNodesTest, ::testing::Values(TC_NODE_PROGRAMS),
                         [](const ::testing::TestParamInfo<tctest::NodeProgram>& info) {
                           return std::string(tctest::program_name(info.param));
                         });
