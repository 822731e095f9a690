// Guarantee 8: a C++ exception thrown by OnReceive never unwinds into the engine. The process
// lives, the exception is logged, that link is closed, the other links keep being served.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/blocking_client.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::atomic<int> g_disconnects{0};
std::atomic<int> g_throws{0};

// Echoes, except "boom" (std::exception) and "bang" (not a std::exception) throw.
int32_t TS_CALL throwing_echo(TcpLink* link, uint8_t* buf, int32_t len) {
  std::string text(reinterpret_cast<char*>(buf), static_cast<size_t>(len));
  if (text.find("boom") != std::string::npos) {
    g_throws++;
    throw std::runtime_error("test exception from OnReceive");
  }
  if (text.find("bang") != std::string::npos) {
    g_throws++;
    throw 42;
  }
  SendBuffer(link, buf, len);
  return 1;
}
void TS_CALL count_disconnect(TcpLink*) { g_disconnects++; }

class CallbackExceptionTest : public ServerTest {};

TEST_F(CallbackExceptionTest, ThrowingOnReceiveClosesOnlyThatLink) {
  g_disconnects = 0;
  g_throws = 0;
  SetEventProc(throwing_echo, count_disconnect, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());

  BlockingClient survivor;
  ASSERT_TRUE(survivor.connect(port_));
  std::vector<uint8_t> got;
  ASSERT_TRUE(survivor.send_all("before"));
  ASSERT_TRUE(survivor.recv_exact(6, &got));

  int expected_throws = 0;
  for (const char* trigger : {"boom", "bang"}) {
    SCOPED_TRACE(trigger);
    BlockingClient victim;
    ASSERT_TRUE(victim.connect(port_));
    ASSERT_TRUE(victim.send_all(trigger));
    ++expected_throws;
    ASSERT_TRUE(victim.wait_closed(5s)) << "the link whose callback threw was not closed";
    EXPECT_EQ(g_throws.load(), expected_throws);
    ASSERT_TRUE(wait_until([&] { return g_disconnects.load() == expected_throws; }, 5s))
        << "OnDisconnect for the closed link";

    // The server is alive and the other link still served.
    EXPECT_EQ(IsTcpServerActive(), 1);
    ASSERT_TRUE(survivor.send_all("after"));
    ASSERT_TRUE(survivor.recv_exact(5, &got));
    EXPECT_EQ(std::string(got.begin(), got.end()), "after");
  }
  EXPECT_TRUE(log_contains("test exception from OnReceive")) << "the std::exception was not logged";
  EXPECT_EQ(GetLinkCount(), 1);
}

}  // namespace
