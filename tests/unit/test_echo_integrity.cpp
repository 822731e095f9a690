// Every byte, every link: 200 clients each push 1 MiB in random chunks (1..64 KiB) and verify
// the echo byte by byte — with the built-in echo, with the original's GetIOMem + PostSend
// echo, and with replies larger than one IO buffer sent through SendBuffer.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
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
    bool done = clients.run_until(
        [&] {
          for (size_t i = 0; i < kLinks; ++i)
            if (clients.at(i).bytes_in < kBytesPerLink && !clients.at(i).ended()) return false;
          return true;
        },
        90s);
    ASSERT_TRUE(done) << "the echo did not complete within 90 s";
    for (size_t i = 0; i < kLinks; ++i) {
      const auto& c = clients.at(i);
      ASSERT_FALSE(c.ended()) << "link " << i << " was closed (error " << c.error << ")";
      ASSERT_EQ(c.bytes_in, kBytesPerLink) << "link " << i;
      ASSERT_EQ(bad[i], UINT64_MAX) << "link " << i << ": wrong byte at offset " << bad[i];
    }
    std::printf("%zu links x %zu bytes echoed in %lld ms\n", kLinks, kBytesPerLink, ms_since(t0));
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
  EXPECT_TRUE(wait_until([] { return GetIOMemFree() == GetServerOption(TS_OPT_IO_BUFFER_COUNT); }, 5s));
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
  bool done = clients.run_until(
      [&] {
        for (size_t i = 0; i < kReplyLinks; ++i)
          if (clients.at(i).bytes_in < expected && !clients.at(i).ended()) return false;
        return true;
      },
      60s);
  ASSERT_TRUE(done) << "the replies did not arrive within 60 s";
  EXPECT_EQ(g_send_failed.load(), 0) << "SendBuffer refused a reply";
  for (size_t i = 0; i < kReplyLinks; ++i) {
    ASSERT_FALSE(clients.at(i).ended()) << "link " << i;
    ASSERT_EQ(clients.at(i).bytes_in, expected) << "link " << i;
    ASSERT_EQ(bad[i], UINT64_MAX) << "link " << i << ": wrong byte at offset " << bad[i];
  }
  EXPECT_TRUE(wait_until([] { return GetIOMemFree() == GetServerOption(TS_OPT_IO_BUFFER_COUNT); }, 5s));
}

}  // namespace
