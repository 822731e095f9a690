// samples/cluster_chat: three chat processes on ONE port (SO_REUSEPORT) behind one private
// redis-server. A line reaches the clients of every process; "/msg NAME" reaches the holder of
// the name on whichever process it is; a name nobody holds is reported to the sender.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/line_client.h"
#include "support/redis_server.h"

using namespace std::chrono_literals;
using tctest::ChildProcess;
using tctest::LineClient;
using tctest::RedisServer;

namespace {
constexpr auto kWait = std::chrono::seconds(60);
}

TEST(ClusterChatTest, ThreeProcessesOnOnePortShareLinesAndPrivateMessagesFindTheirName) {
  RedisServer redis;
  std::string error;
  ASSERT_TRUE(redis.start(&error)) << error;
  const int port = tctest::free_tcp_port();
  ASSERT_GT(port, 0);
  const std::string names[3] = {"a", "b", "c"};
  ChildProcess chats[3];
  for (int n = 0; n < 3; ++n) {
    ASSERT_TRUE(chats[n].start({tctest::built_program("cluster_chat"), "--port", std::to_string(port),
                                "--cluster", redis.url(), "--node", names[n]}, &error)) << error;
    // "PORT <n>" once listening and "STATE connected" once joined, in either order.
    bool listening = false, joined = false;
    std::string line;
    while (!(listening && joined)) {
      ASSERT_TRUE(chats[n].read_line(&line, kWait)) << names[n] << " did not start or join";
      listening |= line == "PORT " + std::to_string(port);
      joined |= line == "STATE connected";
    }
  }

  // Linux spreads connections over the three listeners; connect until each has a client.
  std::unique_ptr<LineClient> on[3];
  std::vector<std::unique_ptr<LineClient>> extra;
  for (int attempt = 0; attempt < 200 && !(on[0] && on[1] && on[2]); ++attempt) {
    auto c = std::make_unique<LineClient>();
    ASSERT_TRUE(c->connect(static_cast<uint16_t>(port), &error)) << error;
    ASSERT_TRUE(c->wait([](const std::vector<std::string>& l) { return !l.empty(); }, kWait));
    std::string welcome = c->lines()[0];
    int n = -1;
    for (int i = 0; i < 3; ++i) {
      const std::string prefix = "* welcome to node " + names[i] + " (";
      if (welcome.compare(0, prefix.size(), prefix) == 0) n = i;
    }
    ASSERT_GE(n, 0) << welcome;
    if (!on[n]) on[n] = std::move(c);
    else extra.push_back(std::move(c));
  }
  ASSERT_TRUE(on[0] && on[1] && on[2]) << "SO_REUSEPORT never chose one of the processes";
  extra.clear();

  for (int n = 0; n < 3; ++n) ASSERT_TRUE(on[n]->send("/nick u_" + names[n] + "\n"));
  for (int n = 0; n < 3; ++n)
    for (int who = 0; who < 3; ++who)
      ASSERT_TRUE(on[n]->wait_line("* u_" + names[who] + " joined (on node " + names[who] + ")", kWait))
          << "client on " << names[n] << " did not hear u_" << names[who] << " join";

  ASSERT_TRUE(on[0]->send("hello from a\r\n"));
  for (int n = 0; n < 3; ++n) ASSERT_TRUE(on[n]->wait_line("u_a@a: hello from a", kWait)) << names[n];

  ASSERT_TRUE(on[0]->send("/msg u_c psst\n"));
  ASSERT_TRUE(on[2]->wait_line("[u_a -> you] psst", kWait));
  ASSERT_TRUE(on[1]->send("/msg zed hi\n"));
  ASSERT_TRUE(on[1]->wait_line("* nobody is called zed now", kWait));
  // A marker after the private message: once every client has it, the private one is
  // known to be only where it belongs.
  ASSERT_TRUE(on[0]->send("marker\n"));
  for (int n = 0; n < 3; ++n) {
    ASSERT_TRUE(on[n]->wait_line("u_a@a: marker", kWait));
    int copies = 0;
    for (const auto& l : on[n]->lines()) copies += l == "[u_a -> you] psst";
    EXPECT_EQ(copies, n == 2 ? 1 : 0) << names[n];
  }

  on[2]->close();  // u_c leaves: its name goes with the link
  ASSERT_TRUE(on[0]->wait_line("* u_c left", kWait));
  ASSERT_TRUE(on[0]->send("/msg u_c still there?\n"));
  ASSERT_TRUE(on[0]->wait_line("* nobody is called u_c now", kWait));
  for (int n = 0; n < 3; ++n) EXPECT_TRUE(chats[n].quit(30s)) << names[n];
}
