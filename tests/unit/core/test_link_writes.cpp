// Socket-free tests of the write side of a link, written once in dll/src/core for every backend:
// the first write of a send (Server::write_now_locked, answered by the fake backend's script),
// what a backend's flush reports (consume_written_locked: finished items released, bytes and
// messages counted, the memory budget given back, the high-water hold lifted at the low-water
// mark). A Server runs on the fake backend (fake_backend.h).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "fake_backend.h"

namespace {

using ts::Link;
using ts::ReadGate;
using tstest::LinkLifeTest;

class LinkWritesTest : public LinkLifeTest {
 protected:
  void consume(Link& link, size_t n) {
    std::lock_guard<std::mutex> lock(link.mu);
    server->consume_written_locked(link, n);
  }
  size_t write_now(Link& link, const std::string& bytes, int* err) {
    std::lock_guard<std::mutex> lock(link.mu);
    return server->write_now_locked(link, reinterpret_cast<const uint8_t*>(bytes.data()),
                                    bytes.size(), err);
  }
};

TEST_F(LinkWritesTest, ConsumeWrittenReleasesFinishedItemsAndCountsBytesAndMessages) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  ts::IoBuf* a = queue_buffer(*link, 100, 'a');
  queue_buffer(*link, 50, 'b');
  queue_buffer(*link, 70, 'c');
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(counter(TS_COUNTER_MEMORY_IN_USE), 220);
  const uint32_t free_before = pool_free();

  consume(*link, 120);  // the first item and 20 bytes of the second
  EXPECT_EQ(pool_free(), free_before + 1);
  EXPECT_EQ(static_cast<ts::BufState>(a->state.load()), ts::BufState::kFree);
  EXPECT_EQ(link->queue.bytes(), 100u);
  ASSERT_NE(link->queue.front(), nullptr);
  EXPECT_EQ(link->queue.front()->left, 30u);
  EXPECT_EQ(link->queue.front()->data[0], 'b');
  EXPECT_EQ(counter(TS_COUNTER_BYTES_OUT), 120);
  EXPECT_EQ(counter(TS_COUNTER_MSGS_OUT), 1);
  EXPECT_EQ(counter(TS_COUNTER_MEMORY_IN_USE), 100);

  consume(*link, 100);  // the rest: two more items finished
  EXPECT_TRUE(link->queue.empty());
  EXPECT_EQ(pool_free(), free_before + 3);
  EXPECT_EQ(counter(TS_COUNTER_BYTES_OUT), 220);
  EXPECT_EQ(counter(TS_COUNTER_MSGS_OUT), 3);
  EXPECT_EQ(counter(TS_COUNTER_MEMORY_IN_USE), 0);
}

TEST_F(LinkWritesTest, AWriteNowThatTakesEverythingCountsOneMessage) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  int err = 0;
  EXPECT_EQ(write_now(*link, "hello", &err), 5u);
  EXPECT_EQ(err, 0);
  EXPECT_EQ(backend->written, "hello");
  EXPECT_EQ(counter(TS_COUNTER_BYTES_OUT), 5);
  EXPECT_EQ(counter(TS_COUNTER_MSGS_OUT), 1);
}

TEST_F(LinkWritesTest, AWriteNowThatTakesPartCountsItsBytesButNoMessage) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  backend->write_script = {{3, 0}};
  int err = 0;
  EXPECT_EQ(write_now(*link, "hello", &err), 3u);
  EXPECT_EQ(backend->written, "hel");
  EXPECT_EQ(counter(TS_COUNTER_BYTES_OUT), 3);
  EXPECT_EQ(counter(TS_COUNTER_MSGS_OUT), 0);
}

TEST_F(LinkWritesTest, AWriteNowBehindQueuedBytesWritesNothing) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  queue_buffer(*link, 10);
  int err = 0;
  EXPECT_EQ(write_now(*link, "later", &err), 0u) << "it would overtake what is queued";
  EXPECT_EQ(count_events("write_locked"), 0u);
  EXPECT_EQ(backend->written, "");
}

TEST_F(LinkWritesTest, AWriteNowThatFailsReturnsNothingAndHasTheLinkClosed) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  backend->write_script = {{-1, tstest::reset_error()}};
  int err = 0;
  EXPECT_EQ(write_now(*link, "hello", &err), 0u);
  EXPECT_EQ(err, tstest::reset_error());
  EXPECT_EQ(counter(TS_COUNTER_BYTES_OUT), 0);
  ASSERT_EQ(backend->post_close_calls.size(), 1u);
  EXPECT_EQ(backend->post_close_calls[0].reason, TS_CLOSE_PEER_RESET);
  EXPECT_TRUE(backend->post_close_calls[0].abort);
}

TEST_F(LinkWritesTest, ASendTheSocketDoesNotTakeIsQueuedAndTheBackendToldToFlush) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  backend->write_script = {{4, 0}};  // the socket takes 4 bytes, then is full
  backend->socket_full = true;
  const std::string text = "0123456789";
  ASSERT_TRUE(server->send_buffer(&link->pub, text.data(), static_cast<int32_t>(text.size())))
      << ts::last_error_text();
  EXPECT_EQ(backend->written, "0123");
  EXPECT_EQ(link->queue.bytes(), 6u);
  ASSERT_EQ(backend->queued_calls.size(), 1u);
  EXPECT_EQ(backend->queued_calls[0], link);
  consume(*link, 6);  // the backend's flush wrote the rest
  EXPECT_TRUE(link->queue.empty());
  EXPECT_EQ(counter(TS_COUNTER_BYTES_OUT), 10);
  EXPECT_EQ(counter(TS_COUNTER_MSGS_OUT), 1);
}

// The socket is asked once per send: what it did not take of a SendBuffer or a broadcast is
// queued for the backend without a second write that could only find it full (one wasted
// system call, EAGAIN, every time a socket filled).
TEST_F(LinkWritesTest, ASendBufferTheSocketTakesInPartIsWrittenOnceThenQueued) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  backend->write_script = {{4, 0}};
  backend->socket_full = true;
  const std::string text = "0123456789";
  ASSERT_TRUE(server->send_buffer(&link->pub, text.data(), static_cast<int32_t>(text.size())))
      << ts::last_error_text();
  EXPECT_EQ(count_events("write_locked"), 1u);
  EXPECT_EQ(backend->written, "0123");
  EXPECT_EQ(link->queue.bytes(), 6u);
  ASSERT_EQ(backend->queued_calls.size(), 1u);
}

TEST_F(LinkWritesTest, ABroadcastTheSocketTakesInPartIsWrittenOnceThenQueued) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  backend->write_script = {{3, 0}};
  backend->socket_full = true;
  const std::string text = "broadcast";
  EXPECT_EQ(server->broadcast(text.data(), static_cast<int32_t>(text.size())), 1);
  EXPECT_EQ(count_events("write_locked"), 1u);
  EXPECT_EQ(backend->written, "bro");
  EXPECT_EQ(link->queue.bytes(), 6u);
  ASSERT_EQ(backend->queued_calls.size(), 1u);
}

class HighWaterTest : public LinkWritesTest {
 protected:
  void Configure() override { set_option(TS_OPT_SEND_HIGH_WATER, 200); }
};

TEST_F(HighWaterTest, DrainingToTheLowWaterMarkLetsTheLinkBeReadAgain) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  backend->socket_full = true;
  const std::string hundred(100, 'h');
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(server->send_buffer(&link->pub, hundred.data(), 100)) << ts::last_error_text();
  EXPECT_EQ(link->queue.bytes(), 300u);
  EXPECT_EQ(server->read_gate(*link), ReadGate::kHeld) << "the queue reached the high-water mark";
  EXPECT_EQ(counter(TS_COUNTER_HIGH_WATER_PAUSES), 1);
  EXPECT_EQ(counter(TS_COUNTER_LINKS_HELD), 1);

  consume(*link, 150);  // 150 left: above half the mark
  EXPECT_EQ(server->read_gate(*link), ReadGate::kHeld);
  EXPECT_TRUE(backend->resume_reading_calls.empty());
  consume(*link, 50);  // 100 left: the low-water mark
  EXPECT_EQ(server->read_gate(*link), ReadGate::kRead);
  EXPECT_EQ(counter(TS_COUNTER_LINKS_HELD), 0);
  ASSERT_EQ(backend->resume_reading_calls.size(), 1u);
  EXPECT_EQ(backend->resume_reading_calls[0].id, link->pub.Id);
  consume(*link, 100);
}

}  // namespace
