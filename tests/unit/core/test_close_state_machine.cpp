// Socket-free tests of the close state machine, written once in dll/src/core/link_life.cpp for
// every backend: Server::close_link and its callers (close_for_error, finish_graceful_close,
// request_close, close_requested_link, write_failed_locked, open_link's refusal). A Server runs
// on the fake backend (fake_backend.h), which records what the core asks of a backend: closing
// the socket (with or without a reset), retiring the link, close requests to the owner. The
// test thread is the link's owner worker.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/send_queue.h"
#include "fake_backend.h"
#include "platform/clock.h"
#include "platform/socket.h"

namespace {

using ts::CloseStep;
using ts::Link;
using ts::LinkState;
using ts::ReadGate;
using tstest::LinkLifeTest;
using Events = std::vector<std::string>;

class CloseStateMachineTest : public LinkLifeTest {};

TEST_F(CloseStateMachineTest, TheFirstCloseReasonRecordedWins) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  const uint64_t id = link->pub.Id;
  queue_buffer(*link, 100);
  // CloseLink with a send pending records BY_APP and flushes first...
  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_BY_APP, 0, false), CloseStep::kFlushing);
  // ...and the flush then fails: the link closes, still for the application's reason.
  server->close_for_error(*link, w, tstest::other_error());
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].id, id);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_BY_APP);
  EXPECT_EQ(disconnects[0].error, 0) << "the error of a later reason reached CloseError";
  EXPECT_EQ(server->close_count(TS_CLOSE_BY_APP), 1);
  EXPECT_EQ(server->close_count(TS_CLOSE_ERROR), 0);
  EXPECT_EQ(counter(TS_COUNTER_CLOSED), 1);
}

TEST_F(CloseStateMachineTest, AGracefulCloseWithSendsQueuedFlushesThemBeforeClosing) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  const ts::socket_t sock = link->sock;
  queue_buffer(*link, 100, 'a');
  queue_buffer(*link, 60, 'b');
  const uint32_t free_before = pool_free();
  events.clear();

  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_BY_APP, 0, false), CloseStep::kFlushing);
  EXPECT_EQ(link->state_now(), LinkState::kClosing);
  EXPECT_EQ(server->read_gate(*link), ReadGate::kStop) << "a closing link is read no more";
  EXPECT_EQ(events, Events{}) << "no socket closed, no callback, nothing retired while flushing";
  EXPECT_EQ(link->queue.bytes(), 160u);
  // A second graceful close (the peer's FIN, say) must not drop what is still queued.
  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_PEER_CLOSED, 0, false), CloseStep::kFlushing);
  EXPECT_EQ(link->queue.bytes(), 160u);
  EXPECT_EQ(events, Events{});

  // The backend's flush writes everything, then finishes the close.
  {
    std::lock_guard<std::mutex> lock(link->mu);
    server->consume_written_locked(*link, 160);
  }
  EXPECT_TRUE(link->queue.empty());
  EXPECT_EQ(pool_free(), free_before + 2);
  server->finish_graceful_close(*link, w);
  EXPECT_EQ(events, (Events{"close_socket reset=0", "OnDisconnect", "retire"}));
  ASSERT_EQ(backend->close_socket_calls.size(), 1u);
  EXPECT_EQ(backend->close_socket_calls[0].sock, sock);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_BY_APP) << "the reason recorded when it began";
}

TEST_F(CloseStateMachineTest, AnAbortDropsTheQueueAndReleasesEveryItem) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  for (int i = 0; i < 3; ++i) queue_buffer(*link, 200);
  // A broadcast's item: a share of one block. The test keeps its own reference to watch it.
  const char text[] = "broadcast";
  ts::SharedBlock* block = ts::SharedBlock::create(text, sizeof text);
  ASSERT_NE(block, nullptr);
  {
    std::lock_guard<std::mutex> lock(link->mu);
    ASSERT_TRUE(link->queue.push(ts::SendItem::for_block(block, block->data(), sizeof text)));
  }
  EXPECT_EQ(block->refs.load(), 2);
  EXPECT_EQ(pool_free(), kBufferCount - 3);
  EXPECT_EQ(counter(TS_COUNTER_MEMORY_IN_USE), 3 * 200 + static_cast<int64_t>(sizeof text));

  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_BY_APP, 0, true), CloseStep::kClosed);
  EXPECT_EQ(pool_free(), kBufferCount) << "queued pool buffers went back to the pool";
  EXPECT_EQ(block->refs.load(), 1) << "the queue's share of the block was released";
  EXPECT_EQ(counter(TS_COUNTER_MEMORY_IN_USE), 0) << "the dropped bytes are no longer counted";
  EXPECT_EQ(events.back(), "retire");
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_BY_APP);
  block->unref();
}

TEST_F(CloseStateMachineTest, AnAbortResetsTheConnectionOnlyWhenTheApplicationDroppedItsSends) {
  struct Case {
    int32_t reason;
    bool reset;
  };
  const Case cases[] = {
      {TS_CLOSE_BY_APP, true},           {TS_CLOSE_SEND_QUEUE_FULL, true},
      {TS_CLOSE_PEER_CLOSED, false},     {TS_CLOSE_PEER_RESET, false},
      {TS_CLOSE_IDLE, false},            {TS_CLOSE_SERVER_STOP, false},
      {TS_CLOSE_ERROR, false},           {TS_CLOSE_FRAME_TOO_LARGE, false},
      {TS_CLOSE_BAD_FRAME, false},       {TS_CLOSE_FRAME_TRUNCATED, false},
  };
  for (const Case& c : cases) {
    Link* link = open();
    ASSERT_NE(link, nullptr);
    queue_buffer(*link, 10);
    const size_t before = backend->close_socket_calls.size();
    EXPECT_EQ(server->close_link(*link, w, c.reason, 0, true), CloseStep::kClosed);
    ASSERT_EQ(backend->close_socket_calls.size(), before + 1);
    EXPECT_EQ(backend->close_socket_calls.back().reset, c.reset) << "close reason " << c.reason;
  }
}

TEST_F(CloseStateMachineTest, AGracefulCloseNeverResets) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_BY_APP, 0, false), CloseStep::kClosed)
      << "nothing queued: a graceful close closes at once";
  ASSERT_EQ(backend->close_socket_calls.size(), 1u);
  EXPECT_FALSE(backend->close_socket_calls[0].reset);
}

TEST_F(CloseStateMachineTest, AWriteStillInFlightKeepsItsItemsForTheCompletion) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  queue_buffer(*link, 100);
  queue_buffer(*link, 100);
  backend->in_flight = true;          // an overlapped send holds pointers into the items
  backend->release_on_retire = false;  // as IOCP: the slot waits for the completion
  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_PEER_RESET, 0, true), CloseStep::kClosed);
  EXPECT_EQ(events.back(), "retire");
  EXPECT_EQ(link->queue.bytes(), 200u) << "the kernel still reads these: not released";
  EXPECT_EQ(pool_free(), kBufferCount - 2);

  // The completion arrives: the backend releases the items, then the slot.
  ts::SendItem* items;
  {
    std::lock_guard<std::mutex> lock(link->mu);
    items = link->queue.take_all();
  }
  while (items) {
    ts::SendItem* next = items->next;
    ts::release_item(server->pool(), items);
    items = next;
  }
  server->release_link(*link);
  EXPECT_EQ(pool_free(), kBufferCount);
}

TEST_F(CloseStateMachineTest, ACloseWithoutNotifyCallsNoOnDisconnect) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  events.clear();
  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_SERVER_STOP, 0, true, false), CloseStep::kClosed);
  EXPECT_EQ(events, (Events{"close_socket reset=0", "retire"}));
  EXPECT_TRUE(disconnects.empty());
  EXPECT_EQ(counter(TS_COUNTER_CLOSED), 0) << "a link closed without its callback is not counted";
}

TEST_F(CloseStateMachineTest, ALinkRefusedByOnConnectIsClosedWithoutAnyOtherCallback) {
  connect_result = 0;
  Link* link = accept();
  ASSERT_NE(link, nullptr);
  EXPECT_FALSE(server->open_link(*link, w));
  EXPECT_EQ(events, (Events{"OnConnect", "close_socket reset=0", "retire"}));
  EXPECT_TRUE(disconnects.empty());
  EXPECT_EQ(counter(TS_COUNTER_REFUSED), 1);
  EXPECT_EQ(counter(TS_COUNTER_ACCEPTS), 0);
  EXPECT_EQ(server->link_count(), 0);
}

TEST_F(CloseStateMachineTest, EveryClosePathAfterTheFirstRetiresNothingMore) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  const uint64_t id = link->pub.Id;
  backend->release_on_retire = false;  // as epoll: the slot goes back after the event batch
  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_PEER_CLOSED, 0, false), CloseStep::kClosed);
  EXPECT_EQ(link->state_now(), LinkState::kClosed);
  // Late events of the same batch name the link again, each through another path.
  server->close_for_error(*link, w, tstest::reset_error());
  server->finish_graceful_close(*link, w);
  server->close_requested_link(*link, w, TS_CLOSE_BY_APP, true);
  server->close_link(*link, w, TS_CLOSE_ERROR, tstest::other_error(), true);
  server->request_close(*link, id, TS_CLOSE_BY_APP, false);  // a CloseLink that came late
  server->close_requested_link(*link, w, TS_CLOSE_BY_APP, false);
  EXPECT_EQ(backend->retire_calls.size(), 1u);
  EXPECT_EQ(backend->close_socket_calls.size(), 1u);
  EXPECT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_PEER_CLOSED);
  server->release_link(*link);
}

TEST_F(CloseStateMachineTest, ASecondCloseOfAClosedLinkIsNone) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  backend->release_on_retire = false;
  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_BY_APP, 0, true), CloseStep::kClosed);
  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_BY_APP, 0, true), CloseStep::kNone);
  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_PEER_CLOSED, 0, false), CloseStep::kNone);
  server->release_link(*link);  // and once its slot is free again
  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_BY_APP, 0, true), CloseStep::kNone);
  EXPECT_EQ(backend->retire_calls.size(), 1u);
}

TEST_F(CloseStateMachineTest, ACloseRequestStopsDeliveryAtOnceAndTheOwnerClosesLater) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  const uint64_t id = link->pub.Id;
  server->request_close(*link, id, TS_CLOSE_BY_APP, false);  // CloseLink, from any thread
  ASSERT_EQ(backend->post_close_calls.size(), 1u);
  EXPECT_EQ(backend->post_close_calls[0].id, id);
  EXPECT_EQ(backend->post_close_calls[0].reason, TS_CLOSE_BY_APP);
  EXPECT_FALSE(backend->post_close_calls[0].abort);
  EXPECT_EQ(server->read_gate(*link), ReadGate::kStop) << "no OnReceive after CloseLink";
  EXPECT_TRUE(link->open()) << "the owner closes it, when the request arrives";
  server->close_requested_link(*link, w, TS_CLOSE_BY_APP, false);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_BY_APP);
}

TEST_F(CloseStateMachineTest, AStaleCloseRequestDoesNotStopTheSlotsNextLink) {
  Link* first = open();
  ASSERT_NE(first, nullptr);
  const uint64_t old_id = first->pub.Id;
  server->close_link(*first, w, TS_CLOSE_PEER_CLOSED, 0, false);
  Link* next = open();  // the same slot, a new id (slots come back last in, first out)
  ASSERT_EQ(next, first);
  server->request_close(*next, old_id, TS_CLOSE_BY_APP, true);
  EXPECT_EQ(server->read_gate(*next), ReadGate::kRead) << "a request for the old id stopped it";
}

// ---- the scan's requests are questions: the owner checks again ----

class ScanCloseTest : public LinkLifeTest {
 protected:
  static constexpr int64_t kTimeoutMs = 1000;
  void Configure() override {
    set_option(TS_OPT_IDLE_TIMEOUT_MS, kTimeoutMs);
    set_option(TS_OPT_FRAMING, TS_FRAMING_LENGTH_PREFIXED);
    set_option(TS_OPT_MESSAGE_TIMEOUT_MS, kTimeoutMs);
  }
  // As the service thread's scan asks for the close (idle_scanner.cpp).
  void scan_asks(Link& link, int32_t reason) {
    link.scan_requested.store(true);
    server->request_close(link, link.pub.Id, reason, true);
  }
  static void quiet_since(Link& link, uint64_t ms) { link.last_active_ms.store(ts::now_ms() - ms); }
};

TEST_F(ScanCloseTest, AnIdleCloseIsIgnoredWhenTheLinkSpokeSinceTheScan) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  quiet_since(*link, 2 * kTimeoutMs);
  scan_asks(*link, TS_CLOSE_IDLE);
  EXPECT_EQ(server->read_gate(*link), ReadGate::kRead) << "an idle request is only a question";
  quiet_since(*link, 0);  // bytes arrived before the request reached the owner
  server->close_requested_link(*link, w, TS_CLOSE_IDLE, true);
  EXPECT_TRUE(link->open());
  EXPECT_TRUE(disconnects.empty());
  EXPECT_FALSE(link->scan_requested.load()) << "the next scan must be able to ask again";
  EXPECT_TRUE(backend->close_socket_calls.empty());
}

TEST_F(ScanCloseTest, AnIdleCloseClosesALinkThatIsStillIdle) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  quiet_since(*link, 2 * kTimeoutMs);
  scan_asks(*link, TS_CLOSE_IDLE);
  server->close_requested_link(*link, w, TS_CLOSE_IDLE, true);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_TRUE(disconnects[0].idle) << "OnLinkIdleOvertime, not OnDisconnect";
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_IDLE);
  EXPECT_EQ(counter(TS_COUNTER_IDLE_CLOSED), 1);
  ASSERT_EQ(backend->close_socket_calls.size(), 1u);
  EXPECT_FALSE(backend->close_socket_calls[0].reset);
}

TEST_F(ScanCloseTest, AMessageTimeoutIsIgnoredOnceTheMessageIsNoLongerPending) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  quiet_since(*link, 2 * kTimeoutMs);
  link->message_pending.store(true);
  scan_asks(*link, TS_CLOSE_MESSAGE_TIMEOUT);
  EXPECT_EQ(server->read_gate(*link), ReadGate::kRead);
  link->message_pending.store(false);  // the message completed before the request arrived
  server->close_requested_link(*link, w, TS_CLOSE_MESSAGE_TIMEOUT, true);
  EXPECT_TRUE(link->open());
  EXPECT_FALSE(link->scan_requested.load());
  EXPECT_TRUE(disconnects.empty());
}

// ---- the scan's clock reading is older than what links store meanwhile ----

// The service thread reads the clock once per scan; a link that speaks, or a connection whose
// handshake (here: its PROXY header wait) begins, while the scan runs stores a later time.
// Neither is due: before, `now - later` wrapped around and closed a handshake as it began
// (seen under Wine: a stalled TLS handshake closed 1 s after its connect, timeout 4 s).
class ScanClockTest : public LinkLifeTest {
 protected:
  void Configure() override { set_option(TS_OPT_IDLE_TIMEOUT_MS, 1000); }
};

class ScanHandshakeClockTest : public LinkLifeTest {
 protected:
  void Configure() override {
    set_option(TS_OPT_PROXY_PROTOCOL, 1);  // a connection waits for its header: a handshake
    set_option(TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS, 2000);
  }
};

TEST_F(ScanHandshakeClockTest, AHandshakeThatBeganAfterTheScanReadTheClockIsNotDue) {
  Link* link = accept();
  ASSERT_NE(link, nullptr);
  ASSERT_TRUE(server->open_link(*link, w));
  const uint64_t started = link->handshake_started_ms.load();
  ASSERT_NE(started, 0u) << "the connection waits for its PROXY header";
  server->scan_links(started - 5);
  EXPECT_TRUE(backend->post_close_calls.empty()) << "closed as its handshake began";
  EXPECT_FALSE(link->scan_requested.load());
  server->scan_links(started + 2000);  // its deadline: asked to close
  EXPECT_EQ(backend->post_close_calls.size(), 1u);
}

TEST_F(ScanClockTest, ALinkThatSpokeAfterTheScanReadTheClockIsNotIdle) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  const uint64_t spoke = ts::now_ms() + 50;
  link->last_active_ms.store(spoke);
  server->scan_links(spoke - 5);
  EXPECT_TRUE(backend->post_close_calls.empty()) << "closed as idle while it spoke";
  EXPECT_FALSE(link->scan_requested.load());
}

// ---- a write that fails ----

TEST_F(CloseStateMachineTest, AFailedWriteRecordsAResetAndAsksTheOwnerForAnAbortiveClose) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  const uint64_t id = link->pub.Id;
  {
    std::lock_guard<std::mutex> lock(link->mu);  // as on a sending thread
    server->write_failed_locked(*link, tstest::reset_error());
  }
  EXPECT_EQ(link->close_reason, TS_CLOSE_PEER_RESET);
  EXPECT_EQ(link->close_error, 0);
  ASSERT_EQ(backend->post_close_calls.size(), 1u);
  EXPECT_EQ(backend->post_close_calls[0].id, id);
  EXPECT_EQ(backend->post_close_calls[0].reason, TS_CLOSE_PEER_RESET);
  EXPECT_TRUE(backend->post_close_calls[0].abort);
  EXPECT_EQ(server->read_gate(*link), ReadGate::kStop);
  EXPECT_TRUE(disconnects.empty()) << "the owner closes it";
  // The owner's next read sees a plain end of stream: the reset the send met is still reported.
  server->close_link(*link, w, server->eof_reason(*link), 0, false);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_PEER_RESET);
}

TEST_F(CloseStateMachineTest, AFailedWriteWithAnotherErrorRecordsErrorAndItsCode) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  {
    std::lock_guard<std::mutex> lock(link->mu);
    server->write_failed_locked(*link, tstest::other_error());
  }
  ASSERT_EQ(backend->post_close_calls.size(), 1u);
  EXPECT_EQ(backend->post_close_calls[0].reason, TS_CLOSE_ERROR);
  EXPECT_TRUE(backend->post_close_calls[0].abort);
  server->close_requested_link(*link, w, TS_CLOSE_ERROR, true);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_ERROR);
  EXPECT_EQ(disconnects[0].error, tstest::other_error());
}

TEST_F(CloseStateMachineTest, AFailedWriteDoesNotReplaceAReasonAlreadyRecorded) {
  Link* link = open();
  ASSERT_NE(link, nullptr);
  queue_buffer(*link, 50);
  EXPECT_EQ(server->close_link(*link, w, TS_CLOSE_BY_APP, 0, false), CloseStep::kFlushing);
  {
    std::lock_guard<std::mutex> lock(link->mu);  // the flush fails
    server->write_failed_locked(*link, tstest::other_error());
  }
  EXPECT_EQ(link->close_reason, TS_CLOSE_BY_APP);
  EXPECT_EQ(link->close_error, 0);
  server->close_requested_link(*link, w, TS_CLOSE_ERROR, true);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].reason, TS_CLOSE_BY_APP);
}

// TS_OPT_MAX_LINKS_PER_ADDRESS counts open links: a closed link's address is free from its
// OnDisconnect on, though the backend releases its slot only after its last events (the fake
// keeps it here). Before, the address was given back with the slot, so a client that
// reconnected as soon as it was told of the close could be refused.
class PerAddressCloseTest : public LinkLifeTest {
 protected:
  void Configure() override { set_option(TS_OPT_MAX_LINKS_PER_ADDRESS, 1); }
  // Server::accept_link for a connection from 127.0.0.1 (accept_fake_connection expects it
  // admitted; this may be refused).
  Link* try_accept(int n) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(41000 + n));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return server->accept_link(static_cast<ts::socket_t>(0x7ffe0000 + n),
                               reinterpret_cast<const sockaddr*>(&addr));
  }
};

TEST_F(PerAddressCloseTest, AClosedLinksAddressIsFreeFromItsOnDisconnectOn) {
  backend->release_on_retire = false;  // the backend's last events are still to come
  Link* a = open();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(try_accept(1), nullptr) << "a second link from 127.0.0.1 while the first is open";
  EXPECT_EQ(counter(TS_COUNTER_ADDRESS_REFUSED), 1);

  EXPECT_EQ(server->close_link(*a, w, TS_CLOSE_BY_APP, 0, false), CloseStep::kClosed);
  ASSERT_EQ(disconnects.size(), 1u);
  ASSERT_EQ(backend->retire_calls.size(), 1u);
  EXPECT_EQ(a->state_now(), LinkState::kClosed) << "not released yet: the test holds it";
  // The client reconnects at once: admitted.
  Link* b = try_accept(2);
  ASSERT_NE(b, nullptr) << ts::last_error_text();
  EXPECT_EQ(counter(TS_COUNTER_ADDRESS_REFUSED), 1);
  ASSERT_TRUE(server->open_link(*b, w));
  // The first link's release later gives back nothing twice: a third connection is refused.
  server->release_link(*a);
  EXPECT_EQ(try_accept(3), nullptr) << "the address counted once for the open link";
  EXPECT_EQ(counter(TS_COUNTER_ADDRESS_REFUSED), 2);
}

}  // namespace
