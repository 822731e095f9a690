// Socket-free tests of the read side of a link, written once in dll/src/core for every backend:
// the read gate (Server::read_gate: open, a close on its way, PauseReceive and the high-water
// mark, the pool running low), waiting for the pool (wait_for_pool and the pool's wake-up),
// and the read loop of a readiness backend (Server::read_until_blocked) fed by a scripted
// recv: the read budget, short reads, would-block, the end of the stream (with and without a
// message cut short), errors, and what OnReceive asks. A Server runs on the fake backend
// (fake_backend.h); the test thread is the link's owner worker.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/framing.h"
#include "fake_backend.h"

namespace {

using ts::Link;
using ts::ReadEnd;
using ts::ReadGate;
using tstest::LinkLifeTest;
using tstest::ScriptedRecv;

class ReadGateTest : public LinkLifeTest {
 protected:
  ReadEnd read(Link& link, ScriptedRecv& recv, bool until_eof = false) {
    return server->read_until_blocked(link, w, buf_.data(), buf_.size(), until_eof, recv);
  }
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(kBufferSize);
};

// ---- the gate ----

TEST_F(ReadGateTest, AnOpenLinkIsRead) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(server->read_gate(*link), ReadGate::kRead);
  EXPECT_FALSE(link->paused_by_pool.load());
}

TEST_F(ReadGateTest, ACloseRequestStopsReadingBeforeTheOwnerClosesTheLink) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  server->request_close(*link, link->pub.Id, TS_CLOSE_BY_APP, false);
  EXPECT_TRUE(link->open());
  EXPECT_EQ(server->read_gate(*link), ReadGate::kStop);
}

TEST_F(ReadGateTest, ALinkNotOpenIsNotRead) {
  Link* link = accept();  // accepted, OnConnect not yet run
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(server->read_gate(*link), ReadGate::kStop);
  ASSERT_TRUE(server->open_link(*link, w));
  queue_buffer(*link, 10);
  server->close_link(*link, w, TS_CLOSE_BY_APP, 0, false);  // closing: flushing its queue
  EXPECT_EQ(server->read_gate(*link), ReadGate::kStop);
  server->close_link(*link, w, TS_CLOSE_BY_APP, 0, true);
  EXPECT_EQ(server->read_gate(*link), ReadGate::kStop);
}

TEST_F(ReadGateTest, AHeldLinkIsNotReadUntilEveryReasonToHoldItIsGone) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  link->hold.fetch_or(ts::kHeldByApp);
  EXPECT_EQ(server->read_gate(*link), ReadGate::kHeld);
  link->hold.fetch_or(ts::kHeldByHighWater);
  EXPECT_EQ(server->read_gate(*link), ReadGate::kHeld);
  link->hold.fetch_and(static_cast<uint8_t>(~ts::kHeldByApp));
  EXPECT_EQ(server->read_gate(*link), ReadGate::kHeld) << "the high-water mark still holds it";
  link->hold.fetch_and(static_cast<uint8_t>(~ts::kHeldByHighWater));
  EXPECT_EQ(server->read_gate(*link), ReadGate::kRead);
}

TEST_F(ReadGateTest, PauseReceiveHoldsTheLinkAndResumeReceiveAsksTheOwnerToReadAgain) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  ASSERT_TRUE(server->set_receive_paused(&link->pub, true));
  EXPECT_EQ(server->read_gate(*link), ReadGate::kHeld);
  EXPECT_TRUE(backend->resume_reading_calls.empty());
  ASSERT_TRUE(server->set_receive_paused(&link->pub, false));
  EXPECT_EQ(server->read_gate(*link), ReadGate::kRead);
  ASSERT_EQ(backend->resume_reading_calls.size(), 1u);
  EXPECT_EQ(backend->resume_reading_calls[0].link, link);
  EXPECT_EQ(backend->resume_reading_calls[0].id, link->pub.Id);
}

TEST_F(ReadGateTest, APoolRunningLowPausesTheLinkOnceAndCountsThePause) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  drain_pool_to_low();
  EXPECT_EQ(server->read_gate(*link), ReadGate::kPoolPaused);
  EXPECT_TRUE(link->paused_by_pool.load());
  EXPECT_EQ(counter(TS_COUNTER_RECV_PAUSES), 1);
  // Parked: the gate says stop (the backend resumes it), and counts nothing more.
  EXPECT_EQ(server->read_gate(*link), ReadGate::kStop);
  EXPECT_EQ(counter(TS_COUNTER_RECV_PAUSES), 1);
  give_back_pool_buffers();
  EXPECT_EQ(server->read_gate(*link), ReadGate::kStop) << "only the backend's resume unparks it";
  link->paused_by_pool.store(false);  // as the backend's resume does
  EXPECT_EQ(server->read_gate(*link), ReadGate::kRead);
}

TEST_F(ReadGateTest, ACloseRequestOrAHoldComesBeforeThePool) {
  Link* held = open();
  Link* closing = open();
  ASSERT_TRUE(held && closing);
  drain_pool_to_low();
  held->hold.fetch_or(ts::kHeldByApp);
  server->request_close(*closing, closing->pub.Id, TS_CLOSE_BY_APP, true);
  EXPECT_EQ(server->read_gate(*held), ReadGate::kHeld);
  EXPECT_EQ(server->read_gate(*closing), ReadGate::kStop);
  EXPECT_EQ(counter(TS_COUNTER_RECV_PAUSES), 0);
  EXPECT_FALSE(held->paused_by_pool.load());
  EXPECT_FALSE(closing->paused_by_pool.load());
  held->hold.store(0);
}

// ---- waiting for the pool ----

TEST_F(ReadGateTest, WaitForPoolResumesTheReadersWhenBuffersCameBackBeforeItLooked) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  drain_pool_to_low();
  ASSERT_EQ(server->read_gate(*link), ReadGate::kPoolPaused);
  give_back_pool_buffers();  // nobody waits yet: the pool calls nobody
  EXPECT_EQ(backend->resume_paused_readers_calls.load(), 0);
  server->wait_for_pool();  // the backend parked the link, then asks
  EXPECT_EQ(backend->resume_paused_readers_calls.load(), 1);
}

TEST_F(ReadGateTest, WaitForPoolLeavesTheLinkParkedWhileThePoolIsLowAndABufferBackWakesIt) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  drain_pool_to_low();
  ASSERT_EQ(server->read_gate(*link), ReadGate::kPoolPaused);
  server->wait_for_pool();
  EXPECT_EQ(backend->resume_paused_readers_calls.load(), 0) << "still low: stays parked";
  give_back_pool_buffers();  // the first above the reserve wakes the parked readers, once
  EXPECT_EQ(backend->resume_paused_readers_calls.load(), 1);
}

// ---- the read loop ----

TEST_F(ReadGateTest, TheReadBudgetEndsALongBurstSoOtherLinksGetTheirTurn) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  ScriptedRecv recv;
  recv.otherwise = ScriptedRecv::data(std::string(kBufferSize, 'x'));  // never drained
  EXPECT_EQ(read(*link, recv), ReadEnd::kBudget);
  EXPECT_EQ(recv.calls, ts::kReadBudget);
  EXPECT_EQ(receives, ts::kReadBudget);
  EXPECT_EQ(counter(TS_COUNTER_BYTES_IN), int64_t{ts::kReadBudget} * kBufferSize);
  EXPECT_EQ(counter(TS_COUNTER_MSGS_IN), ts::kReadBudget);
  EXPECT_TRUE(link->open());
}

TEST_F(ReadGateTest, AShortReadMeansTheSocketIsDrained) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  ScriptedRecv recv;
  recv.answers = {ScriptedRecv::data("hello"), ScriptedRecv::data("never read")};
  EXPECT_EQ(read(*link, recv), ReadEnd::kDrained);
  EXPECT_EQ(recv.calls, 1);
  EXPECT_EQ(received, "hello");
}

TEST_F(ReadGateTest, AFullReadReadsAgainUntilTheSocketWouldBlock) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  ScriptedRecv recv;
  recv.answers = {ScriptedRecv::data(std::string(kBufferSize, 'a')),
                  ScriptedRecv::data(std::string(kBufferSize, 'b')), ScriptedRecv::would_block()};
  EXPECT_EQ(read(*link, recv), ReadEnd::kDrained);
  EXPECT_EQ(recv.calls, 3);
  EXPECT_EQ(received, std::string(kBufferSize, 'a') + std::string(kBufferSize, 'b'));
  EXPECT_TRUE(link->open());
}

TEST_F(ReadGateTest, AfterThePeerHungUpShortReadsGoOnToTheEndOfTheStream) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  ScriptedRecv recv;
  recv.answers = {ScriptedRecv::data("ab"), ScriptedRecv::data("cd"), ScriptedRecv::eof()};
  EXPECT_EQ(read(*link, recv, /*until_eof=*/true), ReadEnd::kStopped);
  EXPECT_EQ(recv.calls, 3);
  EXPECT_EQ(received, "abcd");
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_PEER_CLOSED);
}

TEST_F(ReadGateTest, TheEndOfTheStreamClosesTheLinkAsPeerClosed) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  ScriptedRecv recv;
  recv.answers = {ScriptedRecv::eof()};
  EXPECT_EQ(read(*link, recv), ReadEnd::kStopped);
  EXPECT_EQ(events.back(), "retire");
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_PEER_CLOSED);
  EXPECT_EQ(disconnects[0].error, 0);
  ASSERT_EQ(backend->close_socket_calls.size(), 1u);
  EXPECT_FALSE(backend->close_socket_calls[0].reset);
}

TEST_F(ReadGateTest, TheEndOfTheStreamWithRepliesQueuedFlushesThemFirst) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  queue_buffer(*link, 30);
  ScriptedRecv recv;
  recv.answers = {ScriptedRecv::eof()};
  EXPECT_EQ(read(*link, recv), ReadEnd::kStopped);
  EXPECT_EQ(link->state_now(), ts::LinkState::kClosing);
  EXPECT_TRUE(disconnects.empty());
  {
    std::lock_guard<std::mutex> lock(link->mu);
    server->consume_written_locked(*link, 30);
  }
  server->finish_graceful_close(*link, w);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_PEER_CLOSED);
}

TEST_F(ReadGateTest, WouldBlockMeansDrained) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  ScriptedRecv recv;
  recv.answers = {ScriptedRecv::would_block()};
  EXPECT_EQ(read(*link, recv), ReadEnd::kDrained);
  EXPECT_EQ(recv.calls, 1);
  EXPECT_EQ(receives, 0);
  EXPECT_TRUE(link->open());
}

TEST_F(ReadGateTest, AResetErrorClosesTheLinkAsPeerReset) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  queue_buffer(*link, 40);  // replies the peer will never read: dropped
  ScriptedRecv recv;
  recv.answers = {ScriptedRecv::error(tstest::reset_error())};
  EXPECT_EQ(read(*link, recv), ReadEnd::kStopped);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_PEER_RESET);
  EXPECT_EQ(disconnects[0].error, 0);
  ASSERT_EQ(backend->close_socket_calls.size(), 1u);
  EXPECT_FALSE(backend->close_socket_calls[0].reset) << "the peer reset it: no reset of ours";
  EXPECT_EQ(pool_free(), kBufferCount);
}

TEST_F(ReadGateTest, AnotherErrorClosesTheLinkAsErrorWithItsCode) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  ScriptedRecv recv;
  recv.answers = {ScriptedRecv::data(std::string(kBufferSize, 'z')),
                  ScriptedRecv::error(tstest::other_error())};
  EXPECT_EQ(read(*link, recv), ReadEnd::kStopped);
  EXPECT_EQ(receives, 1);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_ERROR);
  EXPECT_EQ(disconnects[0].error, tstest::other_error());
}

TEST_F(ReadGateTest, OnReceiveReturningFalseClosesTheLinkByTheApplication) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  receive_result = 0;
  ScriptedRecv recv;
  recv.otherwise = ScriptedRecv::data(std::string(kBufferSize, 'x'));
  EXPECT_EQ(read(*link, recv), ReadEnd::kStopped);
  EXPECT_EQ(recv.calls, 1);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_BY_APP);
  ASSERT_EQ(backend->close_socket_calls.size(), 1u);
  EXPECT_FALSE(backend->close_socket_calls[0].reset) << "a graceful close";
}

TEST_F(ReadGateTest, CloseLinkInsideOnReceiveStopsTheNextRead) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  on_receive_action = [this](Link& l) {
    EXPECT_TRUE(server->close_by_app(&l.pub, 0)) << ts::last_error_text();
  };
  ScriptedRecv recv;
  recv.otherwise = ScriptedRecv::data(std::string(kBufferSize, 'x'));
  EXPECT_EQ(read(*link, recv), ReadEnd::kStopped);
  EXPECT_EQ(recv.calls, 1) << "read on after CloseLink";
  EXPECT_EQ(receives, 1);
  ASSERT_EQ(backend->post_close_calls.size(), 1u);
  EXPECT_EQ(backend->post_close_calls[0].reason, TS_CLOSE_BY_APP);
  EXPECT_FALSE(backend->post_close_calls[0].abort);
  server->close_requested_link(*link, w, TS_CLOSE_BY_APP, false);  // the request arrives
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_BY_APP);
}

TEST_F(ReadGateTest, TheReadLoopStopsWhereTheGateSays) {
  Link* held = open();
  Link* starved = open();
  ASSERT_TRUE(held && starved);
  held->hold.fetch_or(ts::kHeldByApp);
  ScriptedRecv recv;
  recv.otherwise = ScriptedRecv::data("never read");
  EXPECT_EQ(read(*held, recv), ReadEnd::kHeld);
  drain_pool_to_low();
  EXPECT_EQ(read(*starved, recv), ReadEnd::kPoolPaused);
  EXPECT_TRUE(starved->paused_by_pool.load());
  EXPECT_EQ(read(*starved, recv), ReadEnd::kStopped) << "already parked";
  EXPECT_EQ(recv.calls, 0);
  EXPECT_EQ(counter(TS_COUNTER_RECV_PAUSES), 1);
  held->hold.store(0);
}

// ---- with length-prefixed framing ----

class FramedReadTest : public ReadGateTest {
 protected:
  void Configure() override { set_option(TS_OPT_FRAMING, TS_FRAMING_LENGTH_PREFIXED); }
  static std::string frame(const std::string& payload, uint32_t announced) {
    uint8_t header[ts::kFrameHeaderSize];
    ts::put_frame_header(header, announced);
    return std::string(reinterpret_cast<const char*>(header), sizeof header) + payload;
  }
};

TEST_F(FramedReadTest, TheEndOfTheStreamBetweenMessagesIsPeerClosed) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  ScriptedRecv recv;
  recv.answers = {ScriptedRecv::data(frame("xyz", 3)), ScriptedRecv::eof()};
  EXPECT_EQ(read(*link, recv, /*until_eof=*/true), ReadEnd::kStopped);
  EXPECT_EQ(received, "xyz");
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_PEER_CLOSED);
  EXPECT_EQ(counter(TS_COUNTER_FRAMING_ERRORS), 0);
}

TEST_F(FramedReadTest, TheEndOfTheStreamInsideAMessageIsFrameTruncated) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  ScriptedRecv recv;
  recv.answers = {ScriptedRecv::data(frame("abc", 10))};  // 3 of 10 bytes
  EXPECT_EQ(read(*link, recv), ReadEnd::kDrained);
  EXPECT_EQ(receives, 0) << "a part of a message is not delivered";
  recv.answers = {ScriptedRecv::eof()};
  EXPECT_EQ(read(*link, recv), ReadEnd::kStopped);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_FRAME_TRUNCATED);
  EXPECT_EQ(counter(TS_COUNTER_FRAMING_ERRORS), 1);
}

}  // namespace
