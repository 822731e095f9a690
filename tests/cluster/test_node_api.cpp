// The node's API in one process, against a private redis-server: bad input gets a clear error
// and changes nothing; node ids; the node's hooks on the server (a closed link's presence keys
// go, the application's own OnDisconnect still runs, destroy hands the callbacks back); a node
// that starts while Redis is down; AUTH; topics; keys taken over by another node; a send to a
// closed link on another node.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

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

namespace {

constexpr auto kWait = std::chrono::seconds(30);  // a busy 2-core machine

// The link id a client has on its server.
uint64_t link_id_of(LineClient& client) {
  std::string reply;
  EXPECT_TRUE(client.request("ID\n", "ID ", &reply));
  return reply.size() > 3 ? std::stoull(reply.substr(3)) : 0;
}

// Polls Redis until GET key returns want (or the deadline).
bool wait_redis_value(RedisServer& redis, const std::string& key, const std::string& want,
                      std::chrono::milliseconds timeout = kWait) {
  return tctest::wait_until([&] { return redis.command({"GET", key}) == want; }, timeout);
}

int32_t expect_error(int32_t code) {
  EXPECT_EQ(TcpClusterGetLastErrorCode(), code) << TcpClusterGetLastErrorText();
  return code;
}

using NodeApiTest = tctest::RedisTest;

}  // namespace

TEST_F(NodeApiTest, BadInputGetsAClearErrorAndChangesNothing) {
  // Creating.
  EXPECT_EQ(TcpClusterCreate(nullptr, "http://x", nullptr, nullptr, nullptr), nullptr);
  expect_error(TC_ERR_BAD_URL);
  EXPECT_NE(std::string(TcpClusterGetLastErrorText()).find("redis://"), std::string::npos);
  TcpServerHandle* dead = CreateTcpServer(nullptr);
  DestroyTcpServer(dead);
  EXPECT_EQ(TcpClusterCreate(dead, redis_.url().c_str(), nullptr, nullptr, nullptr), nullptr);
  expect_error(TC_ERR_INVALID_ARGUMENT);
  TcpServerHandle* running = CreateTcpServer(nullptr);
  ASSERT_TRUE(TcpServerStart(running, "127.0.0.1", 0));
  EXPECT_EQ(TcpClusterCreate(running, redis_.url().c_str(), nullptr, nullptr, nullptr), nullptr);
  expect_error(TC_ERR_SERVER_RUNNING);
  DestroyTcpServer(running);
  EXPECT_EQ(TcpClusterCreate(nullptr, redis_.url().c_str(), std::string(201, 'p').c_str(), nullptr, nullptr), nullptr);
  expect_error(TC_ERR_INVALID_ARGUMENT);

  InProcessNode n;
  std::string error;
  ASSERT_TRUE(n.create(redis_.url(), &error)) << error;
  EXPECT_EQ(TcpClusterCreate(n.server(), redis_.url().c_str(), nullptr, nullptr, nullptr), nullptr);
  expect_error(TC_ERR_INVALID_ARGUMENT);  // one node per server

  // Handles.
  EXPECT_EQ(TcpClusterStart(nullptr), 0);
  expect_error(TC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(TcpClusterGetNodeId(reinterpret_cast<TcpClusterNode*>(uintptr_t(0x12345))), 0u);
  expect_error(TC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(TcpClusterGetCounter(n.node(), 0), -1);
  expect_error(TC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(TcpClusterGetCounter(n.node(), 99), -1);

  // Options.
  EXPECT_EQ(TcpClusterSetOption(n.node(), 999, 1), 0);
  expect_error(TC_ERR_UNKNOWN_OPTION);
  EXPECT_EQ(TcpClusterSetOption(n.node(), TC_OPT_QUEUE_MESSAGES, 0), 0);
  expect_error(TC_ERR_OPTION_RANGE);
  EXPECT_EQ(TcpClusterGetOption(n.node(), TC_OPT_QUEUE_MESSAGES), 65536);  // unchanged
  int64_t lo, hi;
  EXPECT_TRUE(TcpClusterGetOptionRange(TC_OPT_PIPELINE, &lo, &hi));
  EXPECT_EQ(lo, 1);
  EXPECT_EQ(TcpClusterSetOption(n.node(), TC_OPT_RECONNECT_MIN_MS, 5000), 1);
  EXPECT_EQ(TcpClusterSetOption(n.node(), TC_OPT_RECONNECT_MAX_MS, 100), 1);
  EXPECT_EQ(TcpClusterStart(n.node()), 0);  // min above max
  expect_error(TC_ERR_OPTION_RANGE);
  EXPECT_EQ(TcpClusterSetOption(n.node(), TC_OPT_RECONNECT_MIN_MS, 100), 1);
  EXPECT_EQ(TcpClusterSetOption(n.node(), TC_OPT_RECONNECT_MAX_MS, 2000), 1);

  ASSERT_TRUE(n.start(&error)) << error;
  EXPECT_EQ(TcpClusterSetOption(n.node(), TC_OPT_PIPELINE, 8), 0);
  expect_error(TC_ERR_ALREADY_STARTED);
  EXPECT_EQ(TcpClusterStart(n.node()), 0);
  expect_error(TC_ERR_ALREADY_STARTED);
  EXPECT_EQ(TcpClusterSetEventProc(n.node(), nullptr, nullptr, nullptr, nullptr, nullptr), 0);
  expect_error(TC_ERR_SERVER_RUNNING);
  EXPECT_EQ(TcpClusterDestroy(n.node()), 0);  // the server runs: nothing changes
  expect_error(TC_ERR_SERVER_RUNNING);
  EXPECT_EQ(TcpClusterGetState(n.node()) >= 0, true);

  // Messages.
  EXPECT_EQ(TcpClusterBroadcast(n.node(), "x", 0, 0), -1);
  expect_error(TC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(TcpClusterBroadcast(n.node(), nullptr, 3, 0), -1);
  expect_error(TC_ERR_INVALID_ARGUMENT);
  std::string big(static_cast<size_t>(TcpClusterGetOption(n.node(), TC_OPT_MAX_MESSAGE)) + 1, 'b');
  EXPECT_EQ(TcpClusterBroadcast(n.node(), big.data(), int32_t(big.size()), 0), -1);
  expect_error(TC_ERR_TOO_LARGE);
  EXPECT_EQ(TcpClusterSendToLink(n.node(), 0, 1, "x", 1, 0), 0);
  expect_error(TC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(TcpClusterSendToLink(n.node(), n.id(), 424242, "x", 1, 0), 0);
  expect_error(TC_ERR_LINK_CLOSED);
  EXPECT_EQ(TcpClusterPublish(n.node(), "", "x", 1), 0);
  expect_error(TC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(TcpClusterPublish(n.node(), std::string(256, 't').c_str(), "x", 1), 0);
  expect_error(TC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(TcpClusterSetKey(n.node(), 424242, "alice"), 0);
  expect_error(TC_ERR_LINK_CLOSED);
  EXPECT_EQ(TcpClusterSetKey(n.node(), 1, nullptr), 0);
  expect_error(TC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(TcpClusterClearKey(n.node(), "nobody"), 0);
  expect_error(TC_ERR_KEY_NOT_HELD);
  EXPECT_EQ(TcpClusterSendToKey(n.node(), "", "x", 1, 0), 0);
  expect_error(TC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(n.counter(TC_COUNTER_KEYS), 0);
  EXPECT_EQ(n.counter(TC_COUNTER_QUEUE_LENGTH), 0);

  n.destroy();
  EXPECT_EQ(TcpClusterGetState(n.node()), -1);  // the handle is dead now (node() is NULL)
  EXPECT_STREQ(TcpClusterGetStateText(TC_STATE_CONNECTED), "connected");
  EXPECT_STREQ(TcpClusterGetSendFailureText(TC_SEND_NODE_GONE), "node gone");
  EXPECT_EQ(TcpClusterGetVersion(), TCPCLUSTER_VERSION_NUMBER);
}

TEST_F(NodeApiTest, DestroyedHandleIsRecognisedAfterItsSlotIsReused) {
  TcpServerHandle* s1 = CreateTcpServer(nullptr);
  TcpClusterNode* first = TcpClusterCreate(s1, redis_.url().c_str(), nullptr, nullptr, nullptr);
  ASSERT_NE(first, nullptr) << TcpClusterGetLastErrorText();
  ASSERT_TRUE(TcpClusterDestroy(first));
  TcpClusterNode* second = TcpClusterCreate(s1, redis_.url().c_str(), nullptr, nullptr, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_NE(first, second);
  EXPECT_EQ(TcpClusterGetNodeId(first), 0u);
  expect_error(TC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(TcpClusterDestroy(first), 0);
  EXPECT_NE(TcpClusterGetNodeId(second), 0u);
  EXPECT_TRUE(TcpClusterDestroy(second));
  DestroyTcpServer(s1);
}

TEST_F(NodeApiTest, NodeIdsAreRandomAndANewLifeGetsANewId) {
  InProcessNode a, b;
  std::string error;
  ASSERT_TRUE(a.create(redis_.url(), &error)) << error;
  ASSERT_TRUE(b.create(redis_.url(), &error)) << error;
  uint64_t first = a.id();
  EXPECT_NE(first, 0u);
  EXPECT_NE(first, b.id());
  ASSERT_TRUE(a.start(&error)) << error;
  EXPECT_EQ(a.id(), first);  // the first start keeps the id the node was created with
  ASSERT_TRUE(a.wait_state(TC_STATE_CONNECTED, kWait));
  EXPECT_EQ(redis_.command({"GET", "tcpcluster:alive:" + std::to_string(first)}), "test-node");
  ASSERT_TRUE(TcpClusterStop(a.node()));
  EXPECT_EQ(TcpClusterGetState(a.node()), TC_STATE_STOPPED);
  EXPECT_EQ(redis_.command({"EXISTS", "tcpcluster:alive:" + std::to_string(first)}), "0");
  ASSERT_TRUE(TcpClusterStart(a.node())) << TcpClusterGetLastErrorText();
  EXPECT_NE(a.id(), first);
  EXPECT_NE(a.id(), 0u);
  ASSERT_TRUE(a.wait_state(TC_STATE_CONNECTED, kWait));
}

// The keys' TTL is 10 minutes here, so only the node's own removal makes them go in time.
constexpr int64_t kLongTtl = 600000;

TEST_F(NodeApiTest, AClosedLinksKeysGoAndTheApplicationStillHearsTheClose) {
  InProcessNode n;
  std::string error;
  ASSERT_TRUE(n.create(redis_.url(), &error, {{TC_OPT_KEY_TTL_MS, kLongTtl}})) << error;
  TcpServerSetOption(n.server(), TS_OPT_IDLE_TIMEOUT_MS, 0);
  ASSERT_TRUE(n.start(&error)) << error;
  ASSERT_TRUE(n.wait_state(TC_STATE_CONNECTED, kWait));

  LineClient a, b;
  ASSERT_TRUE(a.connect(n.port(), &error)) << error;
  ASSERT_TRUE(b.connect(n.port(), &error)) << error;
  uint64_t ida = link_id_of(a), idb = link_id_of(b);
  ASSERT_TRUE(TcpClusterSetKey(n.node(), ida, "alice")) << TcpClusterGetLastErrorText();
  ASSERT_TRUE(TcpClusterSetKey(n.node(), ida, "alice@work"));
  ASSERT_TRUE(TcpClusterSetKey(n.node(), idb, "bob"));
  std::string node = std::to_string(n.id());
  ASSERT_TRUE(wait_redis_value(redis_, "tcpcluster:key:alice", node + ":" + std::to_string(ida)));
  ASSERT_TRUE(wait_redis_value(redis_, "tcpcluster:key:alice@work", node + ":" + std::to_string(ida)));
  ASSERT_TRUE(wait_redis_value(redis_, "tcpcluster:key:bob", node + ":" + std::to_string(idb)));
  EXPECT_EQ(n.counter(TC_COUNTER_KEYS), 3);
  // The keys carry the TTL.
  int64_t pttl = std::stoll(redis_.command({"PTTL", "tcpcluster:key:alice"}));
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, kLongTtl);

  a.close();  // the peer closes: the node's hook, then the application's OnDisconnect
  ASSERT_TRUE(wait_redis_value(redis_, "tcpcluster:key:alice", "(nil)"));
  ASSERT_TRUE(wait_redis_value(redis_, "tcpcluster:key:alice@work", "(nil)"));
  ASSERT_TRUE(tctest::wait_until([&] { return n.disconnects.load() == 1; }, kWait));
  EXPECT_EQ(n.counter(TC_COUNTER_KEYS), 1);
  EXPECT_EQ(redis_.command({"GET", "tcpcluster:key:bob"}), node + ":" + std::to_string(idb));

  // The application's own clear, and a key moved to another local link.
  ASSERT_TRUE(TcpClusterClearKey(n.node(), "bob"));
  ASSERT_TRUE(wait_redis_value(redis_, "tcpcluster:key:bob", "(nil)"));
  EXPECT_EQ(n.counter(TC_COUNTER_KEYS), 0);
  EXPECT_EQ(n.counter(TC_COUNTER_CLEARS_DROPPED), 0);
}

TEST_F(NodeApiTest, AnIdleLinksKeysGoAndTheApplicationsIdleCallbackRuns) {
  InProcessNode n;
  std::string error;
  ASSERT_TRUE(n.create(redis_.url(), &error, {{TC_OPT_KEY_TTL_MS, kLongTtl}})) << error;
  TcpServerSetOption(n.server(), TS_OPT_IDLE_TIMEOUT_MS, 2000);  // the client's silence below
  ASSERT_TRUE(n.start(&error)) << error;
  LineClient c;
  ASSERT_TRUE(c.connect(n.port(), &error)) << error;
  uint64_t id = link_id_of(c);
  ASSERT_TRUE(TcpClusterSetKey(n.node(), id, "sleepy"));
  ASSERT_TRUE(n.wait_state(TC_STATE_CONNECTED, kWait));
  // The client keeps the link busy until the key is in Redis, then falls silent.
  const std::string value = std::to_string(n.id()) + ":" + std::to_string(id);
  ASSERT_TRUE(tctest::wait_until([&] {
    std::string reply;
    c.request("ID\n", "ID ", &reply);
    return redis_.command({"GET", "tcpcluster:key:sleepy"}) == value;
  }, kWait));
  ASSERT_TRUE(tctest::wait_until([&] { return n.idles.load() == 1; }, kWait));
  EXPECT_EQ(n.disconnects.load(), 0);
  ASSERT_TRUE(wait_redis_value(redis_, "tcpcluster:key:sleepy", "(nil)"));
  EXPECT_EQ(n.counter(TC_COUNTER_KEYS), 0);
}

TEST_F(NodeApiTest, DestroyGivesTheServerItsOwnCallbacksBack) {
  InProcessNode n;
  std::string error;
  ASSERT_TRUE(n.create(redis_.url(), &error)) << error;
  ASSERT_TRUE(n.start(&error)) << error;
  TcpServerStop(n.server(), -1);
  TcpServerHandle* server = n.server();
  ASSERT_TRUE(TcpClusterDestroy(n.node())) << TcpClusterGetLastErrorText();
  // The server runs alone now with the application's callbacks: ID is answered, the close heard.
  ASSERT_TRUE(TcpServerStart(server, "127.0.0.1", 0)) << GetLastErrorText();
  LineClient c;
  ASSERT_TRUE(c.connect(static_cast<uint16_t>(TcpServerGetPort(server)), &error)) << error;
  EXPECT_NE(link_id_of(c), 0u);
  int before = n.disconnects.load();
  c.close();
  EXPECT_TRUE(tctest::wait_until([&] { return n.disconnects.load() == before + 1; }, kWait));
  TcpServerStop(server, -1);
  DestroyTcpServer(server);
}

TEST_F(NodeApiTest, StartsWhileRedisIsDownServesLocallyAndConnectsWhenRedisComes) {
  InProcessNode n;
  std::string error;
  redis_.kill9();
  ASSERT_TRUE(n.create(redis_.url(), &error, {{TC_OPT_RECONNECT_MAX_MS, 200}})) << error;
  ASSERT_TRUE(n.start(&error)) << error;
  ASSERT_TRUE(n.wait_reported_state(TC_STATE_DISCONNECTED, kWait));
  auto states = n.states();
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.front().first, TC_STATE_CONNECTING);
  EXPECT_NE(states.back().second.find("cannot connect to Redis at 127.0.0.1:" + std::to_string(redis_.port())),
            std::string::npos) << states.back().second;

  LineClient c;
  ASSERT_TRUE(c.connect(n.port(), &error)) << error;
  uint64_t id = link_id_of(c);
  // Local delivery goes on; the remote part is dropped and counted.
  EXPECT_EQ(TcpClusterBroadcast(n.node(), "local\n", 6, 0), 1);
  ASSERT_TRUE(c.wait_line("local", kWait));
  EXPECT_EQ(n.counter(TC_COUNTER_DOWN_DROPPED), 1);
  EXPECT_EQ(TcpClusterSendToLink(n.node(), 12345, 1, "x", 1, 7), 0);
  expect_error(TC_ERR_BROKER_DOWN);
  EXPECT_EQ(n.counter(TC_COUNTER_DOWN_DROPPED), 2);
  EXPECT_TRUE(TcpClusterSendToLink(n.node(), n.id(), id, "mine\n", 5, 0));  // local: at once
  ASSERT_TRUE(c.wait_line("mine", kWait));
  ASSERT_TRUE(TcpClusterSetKey(n.node(), id, "early"));  // kept, asserted on connection

  ASSERT_TRUE(redis_.restart(&error)) << error;
  ASSERT_TRUE(n.wait_state(TC_STATE_CONNECTED, kWait));
  ASSERT_TRUE(wait_redis_value(redis_, "tcpcluster:key:early", std::to_string(n.id()) + ":" + std::to_string(id)));
}

TEST_F(NodeApiTest, PasswordFromTheUrlIsSentAndAWrongOneIsReported) {
  std::string error;
  ASSERT_EQ(redis_.command({"CONFIG", "SET", "requirepass", "s3cret"}), "OK");
  RedisServer& r = redis_;
  InProcessNode wrong, right;
  ASSERT_TRUE(wrong.create("redis://:nope@127.0.0.1:" + std::to_string(r.port()), &error)) << error;
  ASSERT_TRUE(wrong.start(&error)) << error;
  ASSERT_TRUE(wrong.wait_reported_state(TC_STATE_DISCONNECTED, kWait));
  bool said_password = false;
  for (auto& s : wrong.states()) said_password |= s.second.find("password") != std::string::npos;
  EXPECT_TRUE(said_password);
  ASSERT_TRUE(right.create("redis://:s3cret@127.0.0.1:" + std::to_string(r.port()), &error)) << error;
  ASSERT_TRUE(right.start(&error)) << error;
  ASSERT_TRUE(right.wait_state(TC_STATE_CONNECTED, kWait));
}

TEST_F(NodeApiTest, TopicsReachEveryNodeOnceAndThePublisherAtOnce) {
  InProcessNode a, b;
  std::string error;
  ASSERT_TRUE(a.create(redis_.url(), &error)) << error;
  ASSERT_TRUE(b.create(redis_.url(), &error)) << error;
  ASSERT_TRUE(a.start(&error) && b.start(&error)) << error;
  ASSERT_TRUE(a.wait_state(TC_STATE_CONNECTED, kWait) && b.wait_state(TC_STATE_CONNECTED, kWait));
  for (int i = 0; i < 100; ++i) {
    std::string data = std::to_string(i);
    ASSERT_TRUE(TcpClusterPublish(a.node(), "prices", data.data(), int32_t(data.size())));
  }
  ASSERT_TRUE(TcpClusterPublish(a.node(), "empty", nullptr, 0));
  EXPECT_EQ(a.topics().size(), 101u);  // the publisher's own: in the call
  ASSERT_TRUE(b.wait_topics(101, kWait));
  auto got = b.topics();
  ASSERT_EQ(got.size(), 101u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(got[size_t(i)].topic, "prices");
    EXPECT_EQ(got[size_t(i)].data, std::to_string(i));
    EXPECT_EQ(got[size_t(i)].publisher, a.id());
  }
  EXPECT_EQ(got[100].topic, "empty");
  EXPECT_EQ(got[100].data, "");
  ASSERT_TRUE(a.wait_counter(TC_COUNTER_ECHOES, 101, kWait));  // its own echo: dropped
  EXPECT_EQ(a.topics().size(), 101u);
  EXPECT_EQ(b.counter(TC_COUNTER_GAPS), 0);
  EXPECT_EQ(b.counter(TC_COUNTER_BAD_MESSAGES), 0);
}

TEST_F(NodeApiTest, AKeySetOnAnotherNodeMovesThereAndTheFirstLearnsItLostIt) {
  InProcessNode a, b;
  std::string error;
  ASSERT_TRUE(a.create(redis_.url(), &error, {{TC_OPT_KEY_TTL_MS, 600}})) << error;
  ASSERT_TRUE(b.create(redis_.url(), &error, {{TC_OPT_KEY_TTL_MS, 600}})) << error;
  ASSERT_TRUE(a.start(&error) && b.start(&error)) << error;
  ASSERT_TRUE(a.wait_state(TC_STATE_CONNECTED, kWait) && b.wait_state(TC_STATE_CONNECTED, kWait));
  LineClient ca, cb;
  ASSERT_TRUE(ca.connect(a.port(), &error) && cb.connect(b.port(), &error)) << error;
  uint64_t ida = link_id_of(ca), idb = link_id_of(cb);
  ASSERT_TRUE(TcpClusterSetKey(a.node(), ida, "carol"));
  ASSERT_TRUE(wait_redis_value(redis_, "tcpcluster:key:carol", std::to_string(a.id()) + ":" + std::to_string(ida)));
  ASSERT_TRUE(TcpClusterSetKey(b.node(), idb, "carol"));  // the last set wins
  ASSERT_TRUE(wait_redis_value(redis_, "tcpcluster:key:carol", std::to_string(b.id()) + ":" + std::to_string(idb)));
  ASSERT_TRUE(a.wait_counter(TC_COUNTER_KEYS_LOST, 1, kWait));  // at its next refresh
  EXPECT_EQ(a.counter(TC_COUNTER_KEYS), 0);
  // A send to the key from A now goes through Redis to B's link.
  ASSERT_TRUE(TcpClusterSendToKey(a.node(), "carol", "to carol\n", 9, 1));
  ASSERT_TRUE(cb.wait_line("to carol", kWait));
  EXPECT_EQ(redis_.command({"GET", "tcpcluster:key:carol"}), std::to_string(b.id()) + ":" + std::to_string(idb));
  EXPECT_TRUE(a.failures().empty());
}

TEST_F(NodeApiTest, ASendToALinkThatClosedOnAnotherNodeIsReportedBack) {
  InProcessNode a, b;
  std::string error;
  ASSERT_TRUE(a.create(redis_.url(), &error) && b.create(redis_.url(), &error)) << error;
  ASSERT_TRUE(a.start(&error) && b.start(&error)) << error;
  ASSERT_TRUE(a.wait_state(TC_STATE_CONNECTED, kWait) && b.wait_state(TC_STATE_CONNECTED, kWait));
  LineClient cb;
  ASSERT_TRUE(cb.connect(b.port(), &error)) << error;
  uint64_t idb = link_id_of(cb);
  ASSERT_TRUE(TcpClusterSendToLink(a.node(), b.id(), idb, "hi\n", 3, 11));
  ASSERT_TRUE(cb.wait_line("hi", kWait));
  cb.close();
  ASSERT_TRUE(tctest::wait_until([&] { return b.disconnects.load() == 1; }, kWait));
  ASSERT_TRUE(TcpClusterSendToLink(a.node(), b.id(), idb, "late\n", 5, 12));
  ASSERT_TRUE(a.wait_failures(1, kWait));
  EXPECT_EQ(a.counter(TC_COUNTER_SEND_FAILED), 1);
  auto f = a.failures();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].tag, 12u);
  EXPECT_EQ(f[0].reason, TC_SEND_LINK_GONE);
  EXPECT_EQ(f[0].node, b.id());
  EXPECT_EQ(f[0].link, idb);
  EXPECT_NE(f[0].text.find("no open link"), std::string::npos) << f[0].text;
  EXPECT_EQ(b.counter(TC_COUNTER_GAPS), 0);
  EXPECT_EQ(a.counter(TC_COUNTER_GAPS), 0);  // the notice came in sequence too
}

TEST_F(NodeApiTest, StartStopOrDestroyFromTheNodesOwnCallbacksFailsInsteadOfDeadlocking) {
  InProcessNode a, b;
  std::string error;
  ASSERT_TRUE(a.create(redis_.url(), &error) && b.create(redis_.url(), &error)) << error;
  std::atomic<int> state_calls{0}, state_refusals{0}, topic_refusals{0};
  b.state_hook = [&](int32_t) {  // in TcpClusterStart (the caller's thread) and on B's threads
    state_calls++;
    bool refused = !TcpClusterStop(b.node()) && TcpClusterGetLastErrorCode() == TC_ERR_IN_CALLBACK;
    refused = refused && !TcpClusterStart(b.node()) && TcpClusterGetLastErrorCode() == TC_ERR_IN_CALLBACK;
    refused = refused && !TcpClusterDestroy(b.node()) && TcpClusterGetLastErrorCode() == TC_ERR_IN_CALLBACK;
    if (refused) state_refusals++;
  };
  b.topic_hook = [&](const tctest::TopicMessage&) {  // B's subscribing thread
    if (!TcpClusterStop(b.node()) && TcpClusterGetLastErrorCode() == TC_ERR_IN_CALLBACK) topic_refusals++;
  };
  ASSERT_TRUE(a.start(&error) && b.start(&error)) << error;
  ASSERT_TRUE(a.wait_state(TC_STATE_CONNECTED, kWait));
  ASSERT_TRUE(b.wait_reported_state(TC_STATE_CONNECTED, kWait));  // its hook ran before the record
  ASSERT_TRUE(TcpClusterPublish(a.node(), "t", "x", 1));
  ASSERT_TRUE(b.wait_topics(1, kWait));  // recorded after the hook ran
  EXPECT_EQ(topic_refusals.load(), 1);
  EXPECT_GE(state_calls.load(), 2);  // connecting, connected
  EXPECT_EQ(state_refusals.load(), state_calls.load());
  EXPECT_EQ(TcpClusterGetState(b.node()), TC_STATE_CONNECTED);  // nothing was stopped
  b.state_hook = nullptr;
}
