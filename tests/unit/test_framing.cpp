// Framing (TS_OPT_FRAMING = TS_FRAMING_LENGTH_PREFIXED): OnReceive gets whole messages however
// the bytes are split on the wire; zero-length messages are heartbeats; every send path adds
// the header (and the send-queue limit counts it); bad headers and a peer closing mid-message
// close the link with their own reason and count in TS_COUNTER_FRAMING_ERRORS.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "support/blocking_client.h"
#include "support/frames.h"
#include "support/multi_client.h"
#include "support/payload.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

constexpr int kBufferSize = 2048;  // TS_OPT_IO_BUFFER_SIZE default

std::mutex g_mu;
std::vector<std::vector<uint8_t>> g_messages;  // every OnReceive, in order
std::atomic<uint64_t> g_link_id{0};
std::atomic<int> g_disconnects{0};
std::atomic<int32_t> g_close_reason{-1};

int32_t TS_CALL record_message(TcpLink*, uint8_t* buf, int32_t len) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_messages.emplace_back(buf, buf + len);
  return 1;
}

int32_t TS_CALL remember_link(TcpLink* link) {
  g_link_id = link->Id;
  return 1;
}

void TS_CALL record_close(TcpLink* link) {
  g_close_reason = link->CloseReason;
  g_disconnects++;
}

size_t message_count() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_messages.size();
}

std::vector<uint8_t> pattern(uint64_t seed, size_t n) {
  std::vector<uint8_t> v(n);
  fill_pattern(seed, 0, v.data(), n);
  return v;
}

class FramingTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    {
      std::lock_guard<std::mutex> lock(g_mu);
      g_messages.clear();
    }
    g_link_id = 0;
    g_disconnects = 0;
    g_close_reason = -1;
    ASSERT_EQ(SetServerOption(TS_OPT_FRAMING, TS_FRAMING_LENGTH_PREFIXED), 1) << GetLastErrorText();
  }

  // Starts with record_message / record_close and connects one client.
  void start_recording(BlockingClient& client) {
    SetEventProc(record_message, record_close, nullptr, nullptr, nullptr);
    ASSERT_EQ(SetConnectProc(remember_link), 1);
    ASSERT_NO_FATAL_FAILURE(start_server());
    ASSERT_TRUE(client.connect(port_));
    ASSERT_TRUE(wait_until([] { return g_link_id.load() != 0; }, 5s));
  }
};

TEST_F(FramingTest, OneByteWritesGiveWholeMessagesAndHeartbeatsAreNotDelivered) {
  BlockingClient client;
  ASSERT_NO_FATAL_FAILURE(start_recording(client));
  const std::vector<size_t> sizes = {1, 0, kBufferSize - 1, kBufferSize, 0, kBufferSize + 1, 5000};
  std::vector<uint8_t> stream;
  std::vector<std::vector<uint8_t>> expected;
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto payload = pattern(i + 1, sizes[i]);
    auto f = framed(payload);
    stream.insert(stream.end(), f.begin(), f.end());
    if (sizes[i] != 0) expected.push_back(payload);
  }
  for (uint8_t byte : stream) ASSERT_TRUE(client.send_all(&byte, 1));
  ASSERT_TRUE(wait_until([&] { return message_count() >= expected.size(); }, 20s))
      << message_count() << " of " << expected.size() << " messages arrived";
  std::lock_guard<std::mutex> lock(g_mu);
  EXPECT_EQ(g_messages, expected);
}

TEST_F(FramingTest, ManyMessagesInOneWriteEachArriveOnce) {
  BlockingClient client;
  ASSERT_NO_FATAL_FAILURE(start_recording(client));
  std::vector<uint8_t> stream;
  std::vector<std::vector<uint8_t>> expected;
  for (int i = 0; i < 300; ++i) {
    auto payload = pattern(1000 + i, 1 + i % 37);
    auto f = framed(payload);
    stream.insert(stream.end(), f.begin(), f.end());
    expected.push_back(payload);
  }
  ASSERT_TRUE(client.send_all(stream.data(), stream.size()));
  ASSERT_TRUE(wait_until([&] { return message_count() >= expected.size(); }, 10s));
  std::lock_guard<std::mutex> lock(g_mu);
  EXPECT_EQ(g_messages, expected);
  EXPECT_EQ(GetServerCounter(TS_COUNTER_FRAMING_ERRORS), 0);
}

TEST_F(FramingTest, EchoReturnsWholeFramedMessagesOfEdgeSizes) {
  ASSERT_NO_FATAL_FAILURE(start_server());  // NULL OnReceive: echo
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_));
  const int64_t msgs_in0 = GetServerCounter(TS_COUNTER_MSGS_IN);
  const std::vector<size_t> sizes = {1, kBufferSize - 1, kBufferSize, kBufferSize + 1, 4u << 20};
  for (size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE("payload of " + std::to_string(sizes[i]) + " bytes");
    auto payload = pattern(50 + i, sizes[i]);
    auto f = framed(payload);
    ASSERT_TRUE(client.send_all(f.data(), f.size(), 30s));
    std::vector<uint8_t> back;
    ASSERT_TRUE(read_frame(client, &back, 30s));
    EXPECT_TRUE(back == payload) << "echo differs";
  }
  // A heartbeat is not echoed: the next thing back is the message after it.
  std::vector<uint8_t> beat_then_one = framed({});
  auto one = framed({42});
  beat_then_one.insert(beat_then_one.end(), one.begin(), one.end());
  ASSERT_TRUE(client.send_all(beat_then_one.data(), beat_then_one.size()));
  std::vector<uint8_t> back;
  ASSERT_TRUE(read_frame(client, &back));
  EXPECT_EQ(back, std::vector<uint8_t>{42});
  EXPECT_EQ(GetServerCounter(TS_COUNTER_MSGS_IN) - msgs_in0, static_cast<int64_t>(sizes.size() + 1));
}

TEST_F(FramingTest, HeartbeatsKeepAnIdleLinkOpen) {
  ASSERT_EQ(SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, 400), 1);
  BlockingClient client;
  ASSERT_NO_FATAL_FAILURE(start_recording(client));
  const auto beat = framed({});
  const auto start = Clock::now();
  while (ms_since(start) < 1500) {  // well past the timeout, a heartbeat every 100 ms
    ASSERT_TRUE(client.send_all(beat.data(), beat.size()));
    ASSERT_FALSE(wait_until([] { return g_disconnects.load() != 0; }, 100ms))
        << "closed although heartbeats arrived (reason " << g_close_reason.load() << ")";
  }
  EXPECT_EQ(message_count(), 0u) << "a heartbeat was delivered to OnReceive";
  // Silence: now it times out.
  ASSERT_TRUE(wait_until([] { return g_disconnects.load() != 0; }, 5s));
  EXPECT_EQ(g_close_reason.load(), TS_CLOSE_IDLE);
}

struct BadHeaderCase {
  const char* name;
  uint32_t header;
  int32_t reason;
};

class FramingBadHeaderTest : public FramingTest,
                             public ::testing::WithParamInterface<BadHeaderCase> {};

TEST_P(FramingBadHeaderTest, ClosesWithItsReasonAndCounts) {
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_MESSAGE_SIZE, 1000), 1);
  BlockingClient client;
  ASSERT_NO_FATAL_FAILURE(start_recording(client));
  const int64_t errors0 = GetServerCounter(TS_COUNTER_FRAMING_ERRORS);
  // A good message first (the largest allowed): delivered; then the bad header.
  std::vector<uint8_t> stream = framed(pattern(7, 1000));
  append_header(stream, GetParam().header);
  stream.insert(stream.end(), 10, 0xAB);
  ASSERT_TRUE(client.send_all(stream.data(), stream.size()));
  ASSERT_TRUE(client.wait_closed(5s));
  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 1; }, 5s));
  EXPECT_EQ(g_close_reason.load(), GetParam().reason)
      << "closed with " << GetCloseReasonText(g_close_reason.load());
  EXPECT_EQ(GetServerCounter(TS_COUNTER_FRAMING_ERRORS) - errors0, 1);
  EXPECT_EQ(message_count(), 1u);
  EXPECT_STRNE(GetCloseReasonText(GetParam().reason), "unknown reason");
}

INSTANTIATE_TEST_SUITE_P(
    Headers, FramingBadHeaderTest,
    ::testing::Values(BadHeaderCase{"OneOverMax", 1001, TS_CLOSE_FRAME_TOO_LARGE},
                      BadHeaderCase{"TopBit", 0x80000005u, TS_CLOSE_BAD_FRAME},
                      BadHeaderCase{"AllOnes", 0xFFFFFFFFu, TS_CLOSE_BAD_FRAME}),
    [](const ::testing::TestParamInfo<BadHeaderCase>& info) { return std::string(info.param.name); });

struct EofCase {
  const char* name;
  size_t partial;  // bytes of "header(100) + payload" sent before the close
  int32_t reason;
};

class FramingEofTest : public FramingTest, public ::testing::WithParamInterface<EofCase> {};

TEST_P(FramingEofTest, PeerCloseMidMessageIsTruncated) {
  BlockingClient client;
  ASSERT_NO_FATAL_FAILURE(start_recording(client));
  const int64_t errors0 = GetServerCounter(TS_COUNTER_FRAMING_ERRORS);
  std::vector<uint8_t> stream = framed(pattern(8, 5));
  auto cut = framed(pattern(9, 100));
  stream.insert(stream.end(), cut.begin(), cut.begin() + static_cast<long>(GetParam().partial));
  ASSERT_TRUE(client.send_all(stream.data(), stream.size()));
  ASSERT_TRUE(wait_until([] { return message_count() == 1; }, 5s));
  client.close();
  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == 1; }, 5s));
  EXPECT_EQ(g_close_reason.load(), GetParam().reason);
  EXPECT_EQ(GetServerCounter(TS_COUNTER_FRAMING_ERRORS) - errors0,
            GetParam().reason == TS_CLOSE_FRAME_TRUNCATED ? 1 : 0);
  EXPECT_EQ(message_count(), 1u) << "a partial message was delivered";
}

INSTANTIATE_TEST_SUITE_P(
    Cuts, FramingEofTest,
    ::testing::Values(EofCase{"AtABoundary", 0, TS_CLOSE_PEER_CLOSED},
                      EofCase{"InTheHeader", 2, TS_CLOSE_FRAME_TRUNCATED},
                      EofCase{"AfterTheHeader", 4, TS_CLOSE_FRAME_TRUNCATED},
                      EofCase{"InThePayload", 60, TS_CLOSE_FRAME_TRUNCATED}),
    [](const ::testing::TestParamInfo<EofCase>& info) { return std::string(info.param.name); });

// Sends one message on every send path when it receives "go".
int32_t TS_CALL send_on_every_path(TcpLink* link, uint8_t*, int32_t) {
  void* mem = GetIOMem();
  if (!mem) return 0;
  std::memcpy(mem, "a", 1);
  if (!PostSend(link, mem, 1)) FreeIOMem(mem);
  SendBuffer(link, "bb", 2);
  PostBroadcast("ccc", 3);
  PostBroadcastExcept("dddd", 4, 0);
  mem = GetIOMem();
  if (!mem) return 0;
  std::memcpy(mem, "eeeee", 5);
  if (!PostSendById(link->Id, mem, 5)) FreeIOMem(mem);
  SendBufferById(link->Id, "ffffff", 6);
  std::vector<uint8_t> big(3 * kBufferSize + 1, 'g');  // chained pool buffers
  SendBuffer(link, big.data(), static_cast<int32_t>(big.size()));
  return 1;
}

TEST_F(FramingTest, EverySendPathAddsTheHeader) {
  SetEventProc(send_on_every_path, nullptr, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_));
  auto go = framed({'g', 'o'});
  ASSERT_TRUE(client.send_all(go.data(), go.size()));
  const std::vector<std::string> expected = {"a", "bb", "ccc", "dddd", "eeeee", "ffffff",
                                             std::string(3 * kBufferSize + 1, 'g')};
  for (const std::string& want : expected) {
    std::vector<uint8_t> got;
    ASSERT_TRUE(read_frame(client, &got)) << "expecting \"" << want.substr(0, 8) << "\"";
    EXPECT_EQ(std::string(got.begin(), got.end()), want);
  }
}

TEST_F(FramingTest, SendQueueLimitCountsHeaders) {
  constexpr int64_t kLimit = 64 * 1024;
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_LIMIT, kLimit), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_POLICY, TS_QUEUE_REFUSE_SEND), 1);
  BlockingClient client;
  ASSERT_NO_FATAL_FAILURE(start_recording(client));
  const uint64_t id = g_link_id;
  // The client reads nothing: fill the socket, then the queue, with 1000-byte messages.
  std::vector<uint8_t> chunk(1000, 'x');
  int sent = 0;
  while (sent < 100000 && SendBufferById(id, chunk.data(), 1000) == 1) ++sent;
  ASSERT_EQ(GetLastErrorCode(), TS_ERR_SEND_QUEUE_FULL) << GetLastErrorText();
  int64_t queued = GetSendQueueBytesById(id);
  ASSERT_GT(queued, 0);
  ASSERT_LE(queued, kLimit);
  EXPECT_GT(queued + 1000 + 4, kLimit);
  // Fill to the byte: a payload of (room - 4) fits exactly with its header.
  if (kLimit - queued >= 5) {
    ASSERT_EQ(SendBufferById(id, chunk.data(), static_cast<int32_t>(kLimit - queued - 4)), 1)
        << GetLastErrorText();
    EXPECT_EQ(GetSendQueueBytesById(id), kLimit);
    queued = kLimit;
  }
  // Any payload that would fit without its header is refused now.
  int32_t room = static_cast<int32_t>(std::max<int64_t>(1, kLimit - queued));
  prime_last_error(TS_ERR_SEND_QUEUE_FULL);
  EXPECT_EQ(SendBufferById(id, chunk.data(), room), 0);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_SEND_QUEUE_FULL);
  void* mem = GetIOMem();
  ASSERT_NE(mem, nullptr);
  EXPECT_EQ(PostSendById(id, mem, room), 0);
  EXPECT_EQ(GetLastErrorCode(), TS_ERR_SEND_QUEUE_FULL);
  EXPECT_EQ(FreeIOMem(mem), 1);
  EXPECT_EQ(GetSendQueueBytesById(id), queued);
}

// ---- acceptance: many messages of random sizes across many links, every byte checked ----

// Message k of connection c: a size from a log-uniform distribution (1 byte .. 4 MiB), so
// every scale is covered while the total stays a few GB.
size_t message_size(size_t c, size_t k) {
  uint64_t r = splitmix64(c * 1000003u + k);
  double u = static_cast<double>(r >> 11) / 9007199254740992.0;  // [0, 1)
  return static_cast<size_t>(std::exp(u * std::log(4.0 * 1024 * 1024)));
}
uint64_t message_seed(size_t c, size_t k) { return (uint64_t{c} << 32) | k; }

// Receives echoed frames of one connection and checks each against what was sent, in order,
// as the bytes come (nothing is stored).
struct EchoChecker {
  size_t conn = 0;
  size_t next = 0;        // index of the message being received
  uint8_t header[4] = {};
  int header_have = 0;
  size_t size = 0;        // payload size of the message being received
  size_t have = 0;        // payload bytes of it received
  std::string error;

  void feed(const uint8_t* p, size_t n) {
    while (n > 0 && error.empty()) {
      if (header_have < 4) {
        header[header_have++] = *p++;
        --n;
        if (header_have < 4) continue;
        size = (size_t{header[0]} << 24) | (size_t{header[1]} << 16) | (size_t{header[2]} << 8) | header[3];
        have = 0;
        if (size != message_size(conn, next))
          error = "message " + std::to_string(next) + " came back with " + std::to_string(size) +
                  " bytes, sent " + std::to_string(message_size(conn, next));
        continue;
      }
      size_t take = std::min(n, size - have);
      size_t bad = pattern_mismatch(message_seed(conn, next), have, p, take);
      if (bad != take) error = "message " + std::to_string(next) + ": wrong byte at " + std::to_string(have + bad);
      have += take;
      p += take;
      n -= take;
      if (have == size) {
        ++next;
        header_have = 0;
      }
    }
  }
};

TEST_F(FramingTest, AcceptanceRandomSizesAcrossManyLinksArriveWholeExactlyOnce) {
#ifdef _WIN32
  size_t total = 1000;  // Wine moves about 12 MiB/s here (20 s); TS_FRAMING_MESSAGES raises it
#else
  size_t total = 10000;
#endif
  if (const char* env = std::getenv("TS_FRAMING_MESSAGES")) total = std::strtoul(env, nullptr, 10);
  constexpr size_t kConns = 100;
  constexpr size_t kWindow = 2;  // messages in flight per link: bounds the server's queues
  const size_t per_conn = std::max<size_t>(1, total / kConns);
  ASSERT_EQ(SetServerOption(TS_OPT_MAX_MESSAGE_SIZE, 4 * 1024 * 1024), 1);
  g_close_reason = -1;
  SetEventProc(nullptr, record_close, nullptr, nullptr, nullptr);  // says why, if a link closes
  ASSERT_NO_FATAL_FAILURE(start_server());  // NULL OnReceive: echo of whole messages
  const int64_t msgs_in0 = GetServerCounter(TS_COUNTER_MSGS_IN);

  MultiClient clients(port_);
  ASSERT_TRUE(clients.open(kConns));
  std::vector<EchoChecker> checkers(kConns);
  std::vector<size_t> next_to_send(kConns, 0), sent_bytes_of_current(kConns, 0);
  uint64_t total_bytes = 0;
  for (size_t c = 0; c < kConns; ++c) {
    checkers[c].conn = c;
    for (size_t k = 0; k < per_conn; ++k) total_bytes += message_size(c, k);
    clients.at(c).on_data = [&checkers, c](MultiClient::Conn&, const uint8_t* p, size_t n) {
      checkers[c].feed(p, n);
    };
    // Writes the current message in pieces of up to 256 KiB, header first.
    clients.at(c).on_writable = [&, c](MultiClient::Conn& conn) {
      size_t k = next_to_send[c];
      if (k >= per_conn || k >= checkers[c].next + kWindow) return;
      const size_t size = message_size(c, k);
      size_t& done = sent_bytes_of_current[c];
      if (done == 0) append_header(conn.out, static_cast<uint32_t>(size));
      size_t n = std::min<size_t>(size - done, 256 * 1024);
      size_t at = conn.out.size();
      conn.out.resize(at + n);
      fill_pattern(message_seed(c, k), done, conn.out.data() + at, n);
      done += n;
      if (done == size) {
        done = 0;
        ++next_to_send[c];
      }
    };
  }
  auto finished = [&] {
    for (size_t c = 0; c < kConns; ++c) {
      if (!checkers[c].error.empty() || clients.at(c).ended()) return true;
      if (checkers[c].next < per_conn) return false;
    }
    return true;
  };
  const auto start = Clock::now();
  bool done = clients.run_until(finished, std::chrono::seconds(1200));
  for (size_t c = 0; c < kConns; ++c) {
    ASSERT_EQ(checkers[c].error, "") << "link " << c;
    ASSERT_FALSE(clients.at(c).ended())
        << "link " << c << " was closed (a server-side close reason: " << g_close_reason.load() << ")";
    ASSERT_EQ(checkers[c].next, per_conn) << "link " << c << ": messages echoed whole";
    EXPECT_EQ(checkers[c].header_have, 0) << "link " << c << ": bytes after the last message";
  }
  ASSERT_TRUE(done);
  EXPECT_EQ(GetServerCounter(TS_COUNTER_MSGS_IN) - msgs_in0, static_cast<int64_t>(per_conn * kConns));
  EXPECT_EQ(GetServerCounter(TS_COUNTER_FRAMING_ERRORS), 0);
  std::printf("acceptance: %zu messages, %.1f MiB each way, %lld ms\n", per_conn * kConns,
              static_cast<double>(total_bytes) / (1024 * 1024), ms_since(start));
}

}  // namespace
