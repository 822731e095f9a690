// Tests of tcpserver.hpp, the header-only C++ wrapper: each starts a tcpserver::server on
// 127.0.0.1 (port 0) and drives it with blocking clients (tests/unit/support). Compiled twice,
// as C++17 (bytes_view is the header's own view) and as C++20 (bytes_view is std::span).
#include "tcpserver.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "support/blocking_client.h"
#include "support/wait.h"

using namespace std::chrono_literals;
using tstest::BlockingClient;
using tstest::wait_until;

namespace {

constexpr auto kWait = 30s;  // deadline of any wait on a busy 2-core machine

static_assert(!std::is_copy_constructible_v<tcpserver::server>, "a server is move-only");
static_assert(std::is_nothrow_move_constructible_v<tcpserver::server>);
static_assert(std::is_nothrow_move_assignable_v<tcpserver::server>);
#if __cplusplus >= 202002L
static_assert(std::is_same_v<tcpserver::bytes_view, std::span<const std::uint8_t>>,
              "C++20: bytes_view is std::span");
#else
static_assert(!std::is_same_v<tcpserver::bytes_view, void>);
#endif

uint16_t port_of(const tcpserver::server& server) {
  return static_cast<uint16_t>(server.port());
}

// Sends text and expects it back whole.
::testing::AssertionResult echoes(BlockingClient& client, const std::string& text) {
  auto sent = client.send_all(text);
  if (!sent) return sent;
  std::vector<uint8_t> got;
  auto received = client.recv_exact(text.size(), &got, kWait);
  if (!received) return received;
  if (std::string(got.begin(), got.end()) != text) {
    return ::testing::AssertionFailure() << "echo differs: sent '" << text << "'";
  }
  return ::testing::AssertionSuccess();
}

// The server of most tests: echoes through a lambda.
tcpserver::server echo_server() {
  tcpserver::server server;
  server.set_option(TS_OPT_WORKER_THREADS, 2);
  server.on_receive([](tcpserver::link link, tcpserver::bytes_view data) { link.send(data); });
  return server;
}

TEST(CppWrapperTest, LambdaHandlerEchoesOnLoopback) {
  tcpserver::server server = echo_server();
  server.start("127.0.0.1", 0);
  ASSERT_TRUE(server.active());
  ASSERT_NE(server.port(), 0u);
  EXPECT_EQ(server.option(TS_OPT_WORKER_THREADS), 2);

  BlockingClient client;
  ASSERT_TRUE(client.connect(port_of(server)));
  EXPECT_TRUE(echoes(client, "hello from C++"));
  EXPECT_TRUE(echoes(client, std::string(100000, 'x')));  // more than one IO buffer
  EXPECT_EQ(server.counter(TS_COUNTER_ACCEPTS), 1);
  EXPECT_TRUE(server.stop());
  EXPECT_FALSE(server.active());
}

TEST(CppWrapperTest, MoveOnlyCallableOwnsItsState) {
  auto count = std::make_unique<std::atomic<int>>(0);
  std::atomic<int>* seen = count.get();
  tcpserver::server server;
  // A lambda owning a unique_ptr cannot go into std::function: the wrapper takes it anyway.
  server.on_receive([count = std::move(count)](tcpserver::link link, tcpserver::bytes_view data) {
    ++*count;
    return link.send(data);  // bool: true keeps the link
  });
  server.start("127.0.0.1", 0);

  BlockingClient client;
  ASSERT_TRUE(client.connect(port_of(server)));
  EXPECT_TRUE(echoes(client, "one"));
  EXPECT_TRUE(echoes(client, "two"));
  EXPECT_GE(seen->load(), 2);
}

bool close_after_reply(tcpserver::link link, tcpserver::bytes_view data) {
  link.send(tcpserver::as_text(data) == "bye" ? "closing" : "open");
  return tcpserver::as_text(data) != "bye";  // false closes the link after the reply
}

TEST(CppWrapperTest, FunctionReturningFalseClosesTheLinkAfterItsReply) {
  tcpserver::server server;
  server.on_receive(close_after_reply);
  std::atomic<int32_t> reason{-1};
  server.on_disconnect([&](tcpserver::link link) { reason = link.close_reason(); });
  server.start("127.0.0.1", 0);

  BlockingClient client;
  ASSERT_TRUE(client.connect(port_of(server)));
  ASSERT_TRUE(client.send_all("hi"));
  std::vector<uint8_t> got;
  ASSERT_TRUE(client.recv_exact(4, &got, kWait));
  EXPECT_EQ(std::string(got.begin(), got.end()), "open");
  ASSERT_TRUE(client.send_all("bye"));
  got.clear();
  ASSERT_TRUE(client.wait_closed(kWait, &got));
  EXPECT_EQ(std::string(got.begin(), got.end()), "closing");
  ASSERT_TRUE(wait_until([&] { return reason.load() != -1; }, kWait));
  EXPECT_EQ(reason.load(), TS_CLOSE_BY_APP);
}

TEST(CppWrapperTest, MovedServerKeepsServingAndMovedFromIsEmpty) {
  tcpserver::server first = echo_server();
  first.start("127.0.0.1", 0);
  const uint16_t port = port_of(first);

  tcpserver::server second(std::move(first));  // running: the engine's Context stays valid
  EXPECT_EQ(first.handle(), nullptr);          // NOLINT(bugprone-use-after-move): documented
  EXPECT_FALSE(first.active());
  EXPECT_TRUE(second.active());
  BlockingClient client;
  ASSERT_TRUE(client.connect(port));
  EXPECT_TRUE(echoes(client, "after the move"));

  // Move-assigning onto a running server stops and frees that one first.
  tcpserver::server third = echo_server();
  third.start("127.0.0.1", 0);
  const uint16_t third_port = port_of(third);
  third = std::move(second);
  EXPECT_TRUE(third.active());
  EXPECT_EQ(port_of(third), port);
  EXPECT_TRUE(echoes(client, "still the first server"));
  BlockingClient refused;
  EXPECT_FALSE(refused.connect(third_port, 0, 5s)) << "the replaced server still listens";
}

TEST(CppWrapperTest, DestructorStopsTheServerAndDisconnectsEveryLink) {
  std::atomic<int> disconnects{0};
  std::atomic<int32_t> reason{-1};
  uint16_t port = 0;
  BlockingClient client;
  {
    tcpserver::server server = echo_server();
    server.on_disconnect([&](tcpserver::link link) {
      reason = link.close_reason();
      ++disconnects;
    });
    server.start("127.0.0.1", 0);
    port = port_of(server);
    ASSERT_TRUE(client.connect(port));
    ASSERT_TRUE(echoes(client, "x"));
  }  // ~server: stops (waiting for every handler), then DestroyTcpServer
  EXPECT_EQ(disconnects.load(), 1);  // already delivered: the destructor waited for it
  EXPECT_EQ(reason.load(), TS_CLOSE_SERVER_STOP);
  EXPECT_TRUE(client.wait_closed(kWait));
  BlockingClient after;
  EXPECT_FALSE(after.connect(port, 0, 5s)) << "the port still listens after the destructor";
}

std::mutex g_log_mutex;
std::vector<std::string> g_log;
void TS_CALL capture_log(int32_t, const char* text) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_log.emplace_back(text);
}
bool logged(const std::string& needle) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  return std::any_of(g_log.begin(), g_log.end(),
                     [&](const std::string& line) { return line.find(needle) != std::string::npos; });
}

TEST(CppWrapperTest, HandlerExceptionIsLoggedAndClosesOnlyThatLink) {
  SetLogProc(capture_log);
  tcpserver::server server;
  server.on_receive([](tcpserver::link link, tcpserver::bytes_view data) {
    if (tcpserver::as_text(data) == "throw") throw std::runtime_error("handler says boom");
    link.send(data);
  });
  server.start("127.0.0.1", 0);

  BlockingClient bad, good;
  ASSERT_TRUE(bad.connect(port_of(server)));
  ASSERT_TRUE(good.connect(port_of(server)));
  ASSERT_TRUE(bad.send_all("throw"));
  EXPECT_TRUE(bad.wait_closed(kWait));
  EXPECT_TRUE(wait_until([] { return logged("handler says boom"); }, kWait));
  EXPECT_TRUE(logged("on_receive"));
  EXPECT_TRUE(echoes(good, "the server goes on"));
  server.stop();
  SetLogProc(nullptr);
}

TEST(CppWrapperTest, ConnectHandlerReturningFalseRefusesTheLink) {
  tcpserver::server server = echo_server();
  std::atomic<int> asked{0};
  server.on_connect([&](tcpserver::link link) {
    ++asked;
    return link.remote_ip() != "127.0.0.1";  // refuses every loopback client
  });
  server.start("127.0.0.1", 0);

  BlockingClient client;
  ASSERT_TRUE(client.connect(port_of(server)));
  EXPECT_TRUE(client.wait_closed(kWait));
  EXPECT_EQ(asked.load(), 1);
  ASSERT_TRUE(wait_until([&] { return server.counter(TS_COUNTER_REFUSED) == 1; }, kWait));
}

TEST(CppWrapperTest, FailuresThrowErrorWithTheLibraryCode) {
  tcpserver::server first = echo_server();
  first.start("127.0.0.1", 0);

  tcpserver::server second = echo_server();
  try {
    second.start("127.0.0.1", first.port());
    FAIL() << "starting on a port in use did not throw";
  } catch (const tcpserver::error& e) {
    EXPECT_EQ(e.code(), TS_ERR_ADDRESS_IN_USE);
    EXPECT_NE(std::string(e.what()).find("TcpServerStart"), std::string::npos) << e.what();
  }
  try {
    second.set_option(TS_OPT_MAX_LINKS, -5);
    FAIL() << "an option out of range did not throw";
  } catch (const tcpserver::error& e) {
    EXPECT_EQ(e.code(), TS_ERR_OPTION_RANGE);
  }
  try {
    first.start("127.0.0.1", 0);
    FAIL() << "starting a running server did not throw";
  } catch (const tcpserver::error& e) {
    EXPECT_EQ(e.code(), TS_ERR_ALREADY_ACTIVE);
  }
  EXPECT_THROW(first.on_receive([](tcpserver::link, tcpserver::bytes_view) {}), std::logic_error);
}

TEST(CppWrapperTest, LinkIdsSendByIdAndBroadcast) {
  tcpserver::server server = echo_server();
  server.start("127.0.0.1", 0);
  BlockingClient a, b;
  ASSERT_TRUE(a.connect(port_of(server)));
  ASSERT_TRUE(b.connect(port_of(server)));
  ASSERT_TRUE(wait_until([&] { return server.link_ids().size() == 2; }, kWait));
  EXPECT_EQ(server.link_count(), 2);

  const std::vector<uint64_t> ids = server.link_ids();
  EXPECT_EQ(server.broadcast("all", ids[0]), 1);  // every link but ids[0]
  EXPECT_TRUE(server.send(ids[0], "you"));
  std::vector<uint8_t> got_a, got_b;
  ASSERT_TRUE(a.recv_exact(3, &got_a, kWait));
  ASSERT_TRUE(b.recv_exact(3, &got_b, kWait));
  // Which client got which link id is not known: one got "you", the other "all".
  std::vector<std::string> got{std::string(got_a.begin(), got_a.end()),
                               std::string(got_b.begin(), got_b.end())};
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"all", "you"}));

  EXPECT_TRUE(server.close(ids[0]));
  ASSERT_TRUE(wait_until([&] { return server.link_count() == 1; }, kWait));
}

TEST(CppWrapperTest, BytesViewOverContainersAndText) {
  const std::vector<uint8_t> vec{1, 2, 3};
  const std::array<uint8_t, 2> arr{{4, 5}};
  tcpserver::bytes_view from_vec(vec);
  tcpserver::bytes_view from_arr(arr);
  tcpserver::bytes_view from_ptr(vec.data(), 2);
  EXPECT_EQ(from_vec.size(), 3u);
  EXPECT_EQ(from_vec[2], 3);
  EXPECT_EQ(from_arr.size(), 2u);
  EXPECT_EQ(from_ptr.size(), 2u);
  EXPECT_EQ(std::vector<uint8_t>(from_vec.begin(), from_vec.end()), vec);
  EXPECT_EQ(from_vec.subspan(1).size(), 2u);
  EXPECT_EQ(tcpserver::as_text(tcpserver::as_bytes("text")), "text");
  EXPECT_TRUE(tcpserver::bytes_view().empty());
}

}  // namespace
