// Guarantee 8: a C++ exception thrown by OnReceive never unwinds into the engine. The process
// lives, the exception is logged, that link is closed, the other links keep being served.
#include <gtest/gtest.h>

#ifndef _WIN32
#include <pthread.h>
#include <unistd.h>
#endif

#include <atomic>
#include <thread>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/blocking_client.h"
#include "support/proc_stats.h"
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

#ifndef _WIN32
namespace {
std::atomic<bool> g_thread_exiting{false};
int32_t TS_CALL exit_thread_in_callback(TcpLink*, uint8_t*, int32_t) {
  g_thread_exiting = true;
  pthread_exit(nullptr);  // glibc unwinds the thread with a "forced unwind" exception
}
}  // namespace

// Regression: the engine's catch-all swallowed glibc's forced unwind, and the process died
// with "FATAL: exception not rethrown" (seen when Python ends engine threads at exit).
#if defined(__SANITIZE_THREAD__)
#define TS_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TS_UNDER_TSAN 1
#endif
#endif

TEST(CallbackThreadExit, AThreadEndingInsideACallbackDoesNotAbortTheProcess) {
#ifdef TS_UNDER_TSAN
  GTEST_SKIP() << "under ThreadSanitizer: the worker ended on purpose is never joined before "
                  "_exit, which TSan reports as a thread leak (exit code 66)";
#endif
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        SetServerOption(TS_OPT_WORKER_THREADS, 1);
        SetEventProc(exit_thread_in_callback, nullptr, nullptr, nullptr, nullptr);
        if (!StartTcpServer("127.0.0.1", 0)) _exit(3);
        int threads = thread_count();
        BlockingClient client;
        if (!client.connect(static_cast<uint16_t>(GetServerPort())) || !client.send_all("x", 1)) _exit(4);
        // The worker is gone (not aborted mid-unwind) once the thread count drops.
        _exit(wait_until([&] { return g_thread_exiting.load() && thread_count() == threads - 1; }, 5s)
                  ? 0 : 5);
      },
      ::testing::ExitedWithCode(0), "");
}
#else
TEST(CallbackThreadExit, AThreadEndingInsideACallbackDoesNotAbortTheProcess) {
  GTEST_SKIP() << "POSIX only: pthread_exit's forced unwind is glibc's; a Windows thread that "
                  "calls ExitThread inside a callback does not unwind through the engine";
}
#endif
