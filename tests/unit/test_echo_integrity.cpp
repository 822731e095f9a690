// Every byte, every link: 200 clients each push 1 MiB in random chunks (1..64 KiB) and verify
// the echo byte by byte — with the built-in echo, with the original's GetIOMem + PostSend
// echo, and with replies larger than one IO buffer sent through SendBuffer.
//
// They wait on progress, not on a time budget: a run ends when every link is done, and fails
// when no byte has moved on any link for kNoProgress (a stall: a lost completion, a link never
// read again). Under Wine on a loaded 2-core machine BuiltInEcho takes minutes where a quiet one
// takes 40 s, with bytes moving all along; natively it takes about a second.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support/multi_client.h"
#include "support/payload.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

constexpr size_t kLinks = 200;
constexpr size_t kBytesPerLink = 1024 * 1024;
constexpr size_t kMaxChunk = 64 * 1024;
constexpr auto kNoProgress = 60s;

std::atomic<int> g_pool_empty{0};    // GetIOMem returned NULL inside OnReceive
std::atomic<int> g_send_failed{0};   // PostSend / SendBuffer returned 0

// The original sample's echo: copy into a pool buffer, PostSend it, free it if refused.
int32_t TS_CALL pool_echo(TcpLink* link, uint8_t* buf, int32_t len) {
  void* mem = GetIOMem();
  if (!mem) {  // should not happen (the engine keeps a reserve); still, lose nothing
    g_pool_empty++;
    if (!SendBuffer(link, buf, len)) g_send_failed++;
    return 1;
  }
  std::memcpy(mem, buf, static_cast<size_t>(len));
  if (!PostSend(link, mem, len)) {
    g_send_failed++;
    FreeIOMem(mem);
  }
  return 1;
}

class EchoIntegrityTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_pool_empty = 0;
    g_send_failed = 0;
    // A link done early waits, silent, for the slowest: on a slow machine that can outlast the
    // default 60 s idle timeout, which would close it in the middle of the test.
    ASSERT_EQ(SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, 0), 1) << GetLastErrorText();
  }

  // Runs kLinks clients through the echo and checks every byte of every link.
  void run_echo(uint64_t seed_base) {
    MultiClient clients(port_);
    ASSERT_TRUE(clients.open(kLinks, 30s));
    std::mt19937 rng(static_cast<uint32_t>(seed_base));
    std::vector<size_t> sent(kLinks, 0);
    std::vector<uint64_t> bad(kLinks, UINT64_MAX);
    for (size_t i = 0; i < kLinks; ++i) {
      const uint64_t seed = seed_base + i;  // each link its own stream: crossed links show
      clients.at(i).on_writable = [&, i, seed](MultiClient::Conn& c) {
        if (sent[i] >= kBytesPerLink) return;
        size_t n = std::min<size_t>(1 + rng() % kMaxChunk, kBytesPerLink - sent[i]);
        c.out.resize(n);
        fill_pattern(seed, sent[i], c.out.data(), n);
        sent[i] += n;
      };
      clients.at(i).on_data = [&, i, seed](MultiClient::Conn& c, const uint8_t* p, size_t n) {
        const uint64_t at = c.bytes_in - n;
        if (bad[i] != UINT64_MAX) return;
        if (c.bytes_in > kBytesPerLink) bad[i] = kBytesPerLink;  // more than was sent
        size_t k = pattern_mismatch(seed, at, p, n);
        if (k != n) bad[i] = at + k;
      };
    }
    auto t0 = Clock::now();
    auto finished = [&](const MultiClient::Conn& c) { return c.bytes_in >= kBytesPerLink || c.ended(); };
    bool done = clients.run_while_progressing(
        [&] {
          for (size_t i = 0; i < kLinks; ++i)
            if (!finished(clients.at(i))) return false;
          return true;
        },
        kNoProgress);
    ASSERT_TRUE(done) << "the echo stalled: no byte moved for " << kNoProgress.count() << " s, "
                      << ms_since(t0) << " ms after the start; "
                      << clients.describe_unfinished(finished);
    for (size_t i = 0; i < kLinks; ++i) {
      const auto& c = clients.at(i);
      ASSERT_FALSE(c.ended()) << "link " << i << " was closed (error " << c.error << ")";
      ASSERT_EQ(c.bytes_in, kBytesPerLink) << "link " << i;
      ASSERT_EQ(bad[i], UINT64_MAX) << "link " << i << ": wrong byte at offset " << bad[i];
    }
    std::printf("%zu links x %zu bytes echoed in %lld ms (longest pause in progress: %lld ms)\n",
                kLinks, kBytesPerLink, ms_since(t0), clients.longest_pause_ms());
  }
};

TEST_F(EchoIntegrityTest, BuiltInEcho) {
  ASSERT_NO_FATAL_FAILURE(start_server());  // NULL OnReceive echoes
  const int64_t in0 = GetServerCounter(TS_COUNTER_BYTES_IN);
  ASSERT_NO_FATAL_FAILURE(run_echo(1000));
  EXPECT_EQ(GetServerCounter(TS_COUNTER_BYTES_IN) - in0, static_cast<int64_t>(kLinks * kBytesPerLink));
}

TEST_F(EchoIntegrityTest, PoolBufferEchoThroughPostSend) {
  SetEventProc(pool_echo, nullptr, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  ASSERT_NO_FATAL_FAILURE(run_echo(2000));
  EXPECT_EQ(g_send_failed.load(), 0) << "PostSend refused an echo";
  EXPECT_EQ(g_pool_empty.load(), 0) << "GetIOMem returned NULL in OnReceive: the read reserve did not hold";
  EXPECT_TRUE(wait_until([] { return GetIOMemFree() == GetServerOption(TS_OPT_IO_BUFFER_COUNT); }, 30s));
}

// ---- The waiting rule itself ----

std::atomic<uint32_t> g_stalled_port{0};  // the client port of the link the server stops reading

int32_t TS_CALL echo_all_but_one(TcpLink* link, uint8_t* buf, int32_t len) {
  if (link->RemotePort == g_stalled_port.load()) {  // a stall: this link is never read again
    PauseReceive(link);
    return 1;
  }
  if (!SendBuffer(link, buf, len)) g_send_failed++;
  return 1;
}

// A link whose bytes stop while the others finish ends the wait once nothing has moved for the
// stall limit (here 2 s), and the failure names it: what a lost completion or a link never
// read again does to the echo tests above.
TEST_F(EchoIntegrityTest, AStalledLinkEndsTheWaitOnceNothingMovesAndIsNamed) {
  constexpr size_t kFew = 8, kBytes = 64 * 1024, kStalled = 3;
  SetEventProc(echo_all_but_one, nullptr, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());
  MultiClient clients(port_);
  ASSERT_TRUE(clients.open(kFew, 30s));
  g_stalled_port = clients.at(kStalled).local_port;
  std::vector<uint8_t> data(kBytes);
  for (size_t i = 0; i < kFew; ++i) {
    fill_pattern(3000 + i, 0, data.data(), kBytes);
    clients.send(i, data.data(), kBytes);
  }
  auto finished = [&](const MultiClient::Conn& c) { return c.bytes_in >= kBytes || c.ended(); };
  const auto t0 = Clock::now();
  const bool done = clients.run_while_progressing(
      [&] {
        for (size_t i = 0; i < kFew; ++i)
          if (!finished(clients.at(i))) return false;
        return true;
      },
      2s);
  EXPECT_FALSE(done);
  EXPECT_GE(ms_since(t0), 2000);
  EXPECT_GE(clients.longest_pause_ms(), 2000);
  EXPECT_EQ(clients.at(kStalled).bytes_in, 0u);
  const std::string why = clients.describe_unfinished(finished);
  EXPECT_NE(why.find("link 3: "), std::string::npos) << why;
  EXPECT_NE(why.find(" 0 received, last byte moved "), std::string::npos) << why;
  g_stalled_port = 0;
}

// ---- Replies larger than an IO buffer, through SendBuffer ----

constexpr size_t kReplySize = 100 * 1024;
constexpr int kReplyKinds = 16;  // request byte r (0..15) asks for reply r
std::vector<std::vector<uint8_t>> g_replies;

uint64_t reply_seed(int kind) { return 7000 + static_cast<uint64_t>(kind); }

int32_t TS_CALL big_replies(TcpLink* link, uint8_t* buf, int32_t len) {
  for (int32_t k = 0; k < len; ++k) {
    const auto& reply = g_replies[buf[k] % kReplyKinds];
    if (!SendBuffer(link, reply.data(), static_cast<int32_t>(reply.size()))) g_send_failed++;
  }
  return 1;
}

TEST_F(EchoIntegrityTest, RepliesLargerThanABufferThroughSendBuffer) {
  constexpr size_t kReplyLinks = 100;
  constexpr size_t kRequests = 10;  // per link: 10 x 100 KiB
  g_replies.assign(kReplyKinds, std::vector<uint8_t>(kReplySize));
  for (int r = 0; r < kReplyKinds; ++r) fill_pattern(reply_seed(r), 0, g_replies[r].data(), kReplySize);
  ASSERT_GT(kReplySize, static_cast<size_t>(GetServerOption(TS_OPT_IO_BUFFER_SIZE)));
  SetEventProc(big_replies, nullptr, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());

  MultiClient clients(port_);
  ASSERT_TRUE(clients.open(kReplyLinks, 30s));
  std::mt19937 rng(99);
  std::vector<std::vector<uint8_t>> asked(kReplyLinks);
  std::vector<uint64_t> bad(kReplyLinks, UINT64_MAX);
  for (size_t i = 0; i < kReplyLinks; ++i) {
    for (size_t k = 0; k < kRequests; ++k) asked[i].push_back(static_cast<uint8_t>(rng() % kReplyKinds));
    // Requests go out in random groups; replies come back as one stream to check.
    size_t pos = 0;
    clients.at(i).on_writable = [&, i, pos](MultiClient::Conn& c) mutable {
      if (pos >= kRequests) return;
      size_t n = std::min<size_t>(1 + rng() % 3, kRequests - pos);
      c.out.assign(asked[i].begin() + pos, asked[i].begin() + pos + n);
      pos += n;
    };
    clients.at(i).on_data = [&, i](MultiClient::Conn& c, const uint8_t* p, size_t n) {
      uint64_t at = c.bytes_in - n;
      while (n > 0 && bad[i] == UINT64_MAX) {
        size_t request = at / kReplySize;
        size_t within = at % kReplySize;
        if (request >= kRequests) {
          bad[i] = at;  // more than was asked for
          break;
        }
        size_t take = std::min(n, kReplySize - within);
        size_t k = pattern_mismatch(reply_seed(asked[i][request]), within, p, take);
        if (k != take) bad[i] = at + k;
        at += take;
        p += take;
        n -= take;
      }
    };
  }
  const uint64_t expected = kRequests * kReplySize;
  auto finished = [&](const MultiClient::Conn& c) { return c.bytes_in >= expected || c.ended(); };
  bool done = clients.run_while_progressing(
      [&] {
        for (size_t i = 0; i < kReplyLinks; ++i)
          if (!finished(clients.at(i))) return false;
        return true;
      },
      kNoProgress);
  ASSERT_TRUE(done) << "the replies stalled: no byte moved for " << kNoProgress.count() << " s; "
                    << clients.describe_unfinished(finished);
  EXPECT_EQ(g_send_failed.load(), 0) << "SendBuffer refused a reply";
  for (size_t i = 0; i < kReplyLinks; ++i) {
    ASSERT_FALSE(clients.at(i).ended()) << "link " << i;
    ASSERT_EQ(clients.at(i).bytes_in, expected) << "link " << i;
    ASSERT_EQ(bad[i], UINT64_MAX) << "link " << i << ": wrong byte at offset " << bad[i];
  }
  EXPECT_TRUE(wait_until([] { return GetIOMemFree() == GetServerOption(TS_OPT_IO_BUFFER_COUNT); }, 30s));
}

}  // namespace
