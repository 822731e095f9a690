// Guarantee 7 for buffers, sends and links: each bad call returns its failure value, sets a
// specific error code and a text, and changes nothing (pool, links, what the peer receives).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

#include "support/blocking_client.h"
#include "support/error_check.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::atomic<TcpLink*> g_last_link{nullptr};
std::atomic<uint64_t> g_last_id{0};
std::atomic<int> g_connects{0};
std::atomic<int> g_disconnects{0};

int32_t TS_CALL remember_link(TcpLink* link) {
  g_last_link = link;
  g_last_id = link->Id;
  g_connects++;
  return 1;
}
void TS_CALL count_disconnect(TcpLink*) { g_disconnects++; }

// A running echo server with one open link (link_/id_), and a pool buffer the test owns.
class BadBufferInputTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_last_link = nullptr;
    g_last_id = 0;
    g_connects = 0;
    g_disconnects = 0;
    SetEventProc(nullptr, count_disconnect, nullptr, nullptr, nullptr);
    ASSERT_EQ(SetConnectProc(remember_link), 1);
    ASSERT_NO_FATAL_FAILURE(start_server());
    ASSERT_TRUE(client_.connect(port_));
    ASSERT_TRUE(wait_until([] { return g_connects.load() == 1; }, 5s));
    link_ = g_last_link;
    id_ = g_last_id;
    mem_ = GetIOMem();
    ASSERT_NE(mem_, nullptr) << GetLastErrorText();
    std::memset(mem_, 'm', 100);
    snapshot();
  }
  void TearDown() override {
    if (mem_) {
      EXPECT_EQ(FreeIOMem(mem_), 1) << "the test's buffer should still be ours: " << GetLastErrorText();
    }
    ServerTest::TearDown();
  }

  // State that a failing call must leave alone.
  void snapshot() {
    free_ = GetIOMemFree();
    links_ = GetLinkCount();
    bytes_out_ = GetServerCounter(TS_COUNTER_BYTES_OUT);
  }
  void expect_unchanged() {
    EXPECT_EQ(GetIOMemFree(), free_);
    EXPECT_EQ(GetLinkCount(), links_);
    EXPECT_EQ(GetServerCounter(TS_COUNTER_BYTES_OUT), bytes_out_) << "something was sent";
    EXPECT_EQ(g_disconnects.load(), 0) << "the open link was closed";
    EXPECT_EQ(IsTcpServerActive(), 1);
  }
  // Connects and closes a second client; returns its (now stale) link record and id.
  void make_closed_link(TcpLink** link, uint64_t* id) {
    BlockingClient other;
    ASSERT_TRUE(other.connect(port_));
    ASSERT_TRUE(wait_until([] { return g_connects.load() == 2; }, 5s));
    *link = g_last_link;
    *id = g_last_id;
    other.close();
    ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 1; }, 5s));
    g_disconnects = 0;
    snapshot();
  }

  BlockingClient client_;
  TcpLink* link_ = nullptr;
  uint64_t id_ = 0;
  void* mem_ = nullptr;
  int free_ = 0;
  int links_ = 0;
  int64_t bytes_out_ = 0;
};

TEST_F(BadBufferInputTest, FreeNull) {
  EXPECT_CALL_FAILS(FreeIOMem(nullptr), 0, TS_ERR_INVALID_ARGUMENT);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, FreeStackMemory) {
  char local[256];
  EXPECT_CALL_FAILS(FreeIOMem(local), 0, TS_ERR_NOT_A_BUFFER);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, FreeHeapMemory) {
  auto heap = std::make_unique<char[]>(4096);
  EXPECT_CALL_FAILS(FreeIOMem(heap.get()), 0, TS_ERR_NOT_A_BUFFER);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, FreePointerIntoTheMiddleOfABuffer) {
  EXPECT_CALL_FAILS(FreeIOMem(static_cast<char*>(mem_) + 1), 0, TS_ERR_NOT_A_BUFFER);
  EXPECT_CALL_FAILS(FreeIOMem(static_cast<char*>(mem_) + 100), 0, TS_ERR_NOT_A_BUFFER);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, DoubleFree) {
  void* mem = GetIOMem();
  ASSERT_NE(mem, nullptr);
  ASSERT_EQ(FreeIOMem(mem), 1);
  snapshot();
  EXPECT_CALL_FAILS(FreeIOMem(mem), 0, TS_ERR_BUFFER_NOT_OWNED);
  expect_unchanged();
  // The pool is intact: the buffer is handed out once more, and only once.
  void* again = GetIOMem();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(GetIOMemFree(), free_ - 1);
  EXPECT_EQ(FreeIOMem(again), 1);
}

TEST_F(BadBufferInputTest, FreeAfterSuccessfulPostSend) {
  void* mem = GetIOMem();
  ASSERT_NE(mem, nullptr);
  std::memcpy(mem, "hello", 5);
  ASSERT_EQ(PostSend(link_, mem, 5), 1) << GetLastErrorText();
  EXPECT_CALL_FAILS(FreeIOMem(mem), 0, TS_ERR_BUFFER_NOT_OWNED);
  std::vector<uint8_t> got;
  ASSERT_TRUE(client_.recv_exact(5, &got));
  EXPECT_EQ(std::string(got.begin(), got.end()), "hello");
  // The engine, not the failed FreeIOMem, returned it: exactly once.
  EXPECT_TRUE(wait_until([&] { return GetIOMemFree() == free_; }, 5s)) << GetIOMemFree() << " vs " << free_;
}

TEST_F(BadBufferInputTest, PostSendNullLink) {
  EXPECT_CALL_FAILS(PostSend(nullptr, mem_, 10), 0, TS_ERR_INVALID_ARGUMENT);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, PostSendForeignLink) {
  TcpLink fake{};  // a record that is not in the engine's table, even with a real id, is not a link
  fake.Id = id_;
  EXPECT_CALL_FAILS(PostSend(&fake, mem_, 10), 0, TS_ERR_NOT_A_LINK);
  auto* inside = reinterpret_cast<TcpLink*>(reinterpret_cast<char*>(link_) + 8);
  EXPECT_CALL_FAILS(PostSend(inside, mem_, 10), 0, TS_ERR_NOT_A_LINK);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, PostSendNullMem) {
  EXPECT_CALL_FAILS(PostSend(link_, nullptr, 10), 0, TS_ERR_INVALID_ARGUMENT);
  EXPECT_CALL_FAILS(PostSendById(id_, nullptr, 10), 0, TS_ERR_INVALID_ARGUMENT);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, PostSendForeignMem) {
  char local[64] = "not a pool buffer";
  EXPECT_CALL_FAILS(PostSend(link_, local, 10), 0, TS_ERR_NOT_A_BUFFER);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, PostSendNegativeLength) {
  EXPECT_CALL_FAILS(PostSend(link_, mem_, -1), 0, TS_ERR_BAD_LENGTH);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, PostSendZeroLength) {
  EXPECT_CALL_FAILS(PostSend(link_, mem_, 0), 0, TS_ERR_BAD_LENGTH);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, PostSendLongerThanTheBuffer) {
  const auto size = static_cast<int32_t>(GetServerOption(TS_OPT_IO_BUFFER_SIZE));
  EXPECT_CALL_FAILS(PostSend(link_, mem_, size + 1), 0, TS_ERR_BAD_LENGTH);
  EXPECT_CALL_FAILS(PostSendById(id_, mem_, size + 1), 0, TS_ERR_BAD_LENGTH);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, PostSendOnClosedLink) {
  TcpLink* closed = nullptr;
  uint64_t closed_id = 0;
  ASSERT_NO_FATAL_FAILURE(make_closed_link(&closed, &closed_id));
  EXPECT_CALL_FAILS(PostSend(closed, mem_, 10), 0, TS_ERR_LINK_CLOSED);
  expect_unchanged();
}

// Regression (found by tests/fuzz): PostRecv returned the buffer to the pool and only then
// found the link closed, so it failed while the caller no longer owned the buffer.
TEST_F(BadBufferInputTest, PostRecvOnClosedLinkLeavesTheBufferWithTheCaller) {
  TcpLink* closed = nullptr;
  uint64_t closed_id = 0;
  ASSERT_NO_FATAL_FAILURE(make_closed_link(&closed, &closed_id));
  EXPECT_CALL_FAILS(PostRecv(closed, mem_), 0, TS_ERR_LINK_CLOSED);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, PostSendByIdStale) {
  TcpLink* closed = nullptr;
  uint64_t closed_id = 0;
  ASSERT_NO_FATAL_FAILURE(make_closed_link(&closed, &closed_id));
  EXPECT_CALL_FAILS(PostSendById(closed_id, mem_, 10), 0, TS_ERR_LINK_CLOSED);
  EXPECT_CALL_FAILS(PostSendById(id_ + (uint64_t(1) << 40), mem_, 10), 0, TS_ERR_LINK_CLOSED);  // never issued
  expect_unchanged();
}

TEST_F(BadBufferInputTest, PostSendByIdZero) {
  // Id 0 is never a link. Either "stale" or "invalid argument" names the problem.
  prime_last_error(TS_ERR_LINK_CLOSED);
  EXPECT_EQ(PostSendById(0, mem_, 10), 0);
  int code = GetLastErrorCode();
  EXPECT_TRUE(code == TS_ERR_LINK_CLOSED || code == TS_ERR_INVALID_ARGUMENT) << code << " " << GetLastErrorText();
  EXPECT_STRNE(GetLastErrorText(), "");
  expect_unchanged();
}

TEST_F(BadBufferInputTest, SendBufferNullData) {
  EXPECT_CALL_FAILS(SendBuffer(link_, nullptr, 10), 0, TS_ERR_INVALID_ARGUMENT);
  EXPECT_CALL_FAILS(SendBufferById(id_, nullptr, 10), 0, TS_ERR_INVALID_ARGUMENT);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, SendBufferNegativeLength) {
  char data[16] = {};
  EXPECT_CALL_FAILS(SendBuffer(link_, data, -5), 0, TS_ERR_BAD_LENGTH);
  EXPECT_CALL_FAILS(SendBufferById(id_, data, -5), 0, TS_ERR_BAD_LENGTH);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, SendBufferNullLink) {
  char data[16] = {};
  EXPECT_CALL_FAILS(SendBuffer(nullptr, data, 16), 0, TS_ERR_INVALID_ARGUMENT);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, CloseLinkByIdStale) {
  TcpLink* closed = nullptr;
  uint64_t closed_id = 0;
  ASSERT_NO_FATAL_FAILURE(make_closed_link(&closed, &closed_id));
  EXPECT_CALL_FAILS(CloseLinkById(closed_id), 0, TS_ERR_LINK_CLOSED);
  EXPECT_CALL_FAILS(CloseLink(closed), 0, TS_ERR_LINK_CLOSED);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, PostBroadcastBadArguments) {
  EXPECT_CALL_FAILS(PostBroadcast(nullptr, 10), -1, TS_ERR_INVALID_ARGUMENT);
  EXPECT_CALL_FAILS(PostBroadcast("x", -1), -1, TS_ERR_BAD_LENGTH);
  expect_unchanged();
}

TEST_F(BadBufferInputTest, FailedCallsLeaveTheLinkWorking) {
  // After a string of bad calls, the link and the buffer still work.
  FreeIOMem(nullptr);
  PostSend(link_, mem_, -1);
  PostSend(nullptr, mem_, 5);
  std::memcpy(mem_, "still ok", 8);
  ASSERT_EQ(PostSend(link_, mem_, 8), 1) << GetLastErrorText();
  mem_ = nullptr;  // the engine owns it now
  std::vector<uint8_t> got;
  ASSERT_TRUE(client_.recv_exact(8, &got));
  EXPECT_EQ(std::string(got.begin(), got.end()), "still ok");
}

}  // namespace
