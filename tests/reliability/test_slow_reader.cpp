// Fault: peers that send as fast as they can but do not read. With the high-water mark (the
// default), a link whose replies pile up to TS_OPT_SEND_HIGH_WATER stops being read: its queue
// stays near the mark, the peer feels TCP backpressure, and once it reads, the link is read
// again and every byte is echoed. With the mark off (TS_OPT_SEND_HIGH_WATER=0, the behaviour
// before API 1.3), the replies pile up to TS_OPT_SEND_QUEUE_LIMIT and the link is closed with
// TS_CLOSE_SEND_QUEUE_FULL. Either way the server's memory stays bounded.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "reliability_support.h"
#include "support/server_fixture.h"
#include "support/socket_compat.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

// Sanitizers keep shadow memory for every byte the process touches: RSS grows several times
// what the engine holds there, so the RSS bound gets that factor.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int64_t kRssFactor = 4;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr int64_t kRssFactor = 4;
#else
constexpr int64_t kRssFactor = 1;
#endif
#else
constexpr int64_t kRssFactor = 1;
#endif

constexpr int kLinks = 8;
constexpr int64_t kLimit = 4 << 20;
constexpr uint64_t kOffered = 64ull << 20;  // per link

std::atomic<int> g_disconnects{0};
std::atomic<int> g_queue_full{0};

void TS_CALL on_disconnect(TcpLink* link) {
  if (link->CloseReason == TS_CLOSE_SEND_QUEUE_FULL) g_queue_full++;
  g_disconnects++;
}

class SlowReaderTest : public ServerTest {};

TEST_F(SlowReaderTest, WithoutTheHighWaterMarkTheQueueReachesItsCapAndTheLinkCloses) {
  g_disconnects = 0;
  g_queue_full = 0;
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_HIGH_WATER, 0), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_LIMIT, kLimit), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_QUEUE_POLICY, TS_QUEUE_CLOSE_LINK), 1);
  SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);  // built-in echo
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t drops0 = GetServerCounter(TS_COUNTER_SEND_QUEUE_DROPS);
  const int64_t rss0 = tsrel::rss_bytes();
  ASSERT_GT(rss0, 0);

  // The clients only write: they poll for POLLOUT alone and never recv.
  struct Writer {
    int fd = -1;
    uint64_t pushed = 0;
    bool closed = false;  // the server reset it
  };
  std::vector<Writer> writers(kLinks);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (Writer& w : writers) {
    w.fd = tcp_socket(AF_INET, /*nonblocking=*/false);
    ASSERT_GE(w.fd, 0);
    set_receive_buffer(w.fd, 4096);
    ASSERT_EQ(::connect(w.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    fcntl(w.fd, F_SETFL, fcntl(w.fd, F_GETFL) | O_NONBLOCK);
  }
  std::vector<uint8_t> block(256 * 1024, 'w');
  int64_t rss_max = rss0;
  int64_t queued_max = 0;  // the most any link had queued, as the engine reports it
  auto all_closed = [&] {
    for (const Writer& w : writers)
      if (!w.closed && w.pushed < kOffered) return false;
    return true;
  };
  const auto deadline = Clock::now() + 60s;
  while (!all_closed() && Clock::now() < deadline) {
    std::vector<pollfd> pfds;
    std::vector<Writer*> who;
    for (Writer& w : writers) {
      if (w.closed || w.pushed >= kOffered) continue;
      pfds.push_back(poll_entry(w.fd, POLLOUT));
      who.push_back(&w);
    }
    if (poll(pfds.data(), pfds.size(), 20) < 0 && errno != EINTR) break;
    for (size_t k = 0; k < pfds.size(); ++k) {
      if (!pfds[k].revents) continue;
      const ssize_t n = ::send(who[k]->fd, block.data(), block.size(), MSG_NOSIGNAL);
      if (n > 0) who[k]->pushed += static_cast<uint64_t>(n);
      else if (n < 0 && errno != EAGAIN && errno != EINTR) who[k]->closed = true;
    }
    rss_max = std::max(rss_max, tsrel::rss_bytes());
    uint64_t ids[kLinks];
    const int open = GetLinkIds(ids, kLinks);
    for (int i = 0; i < std::min(open, kLinks); ++i)
      queued_max = std::max(queued_max, GetSendQueueBytesById(ids[i]));  // -1 once closed
  }
  uint64_t pushed = 0;
  for (size_t i = 0; i < writers.size(); ++i) {
    EXPECT_TRUE(writers[i].closed) << "link " << i << " took all " << writers[i].pushed
                                   << " bytes and was not closed: nothing capped its queue";
    pushed = std::max(pushed, writers[i].pushed);
    ::close(writers[i].fd);
  }
  ASSERT_TRUE(wait_until([] { return g_disconnects.load() == kLinks; }, 10s));
  EXPECT_EQ(g_queue_full.load(), kLinks) << "links closed for another reason than the queue limit";
  EXPECT_GE(GetServerCounter(TS_COUNTER_SEND_QUEUE_DROPS) - drops0, kLinks);
  // The bounds: no queue above the limit; the process grew by about the queues, plus slack for
  // pool pages, the allocator and the clients.
  EXPECT_GT(queued_max, 0) << "no queue was seen: the readers were not slow";
  EXPECT_LE(queued_max, kLimit);
  const int64_t grown = rss_max - rss0;
  EXPECT_LT(grown, (kLinks * kLimit + (48 << 20)) * kRssFactor)
      << "the process grew by " << (grown >> 20) << " MiB";
  EXPECT_TRUE(wait_until([] { return GetIOMemFree() == GetServerOption(TS_OPT_IO_BUFFER_COUNT); }, 5s));
  std::printf("slow readers: at most %.1f of %.0f MiB offered went in per link, %.1f MiB queued at "
              "most (limit %.0f); RSS grew %.1f MiB\n",
              pushed / 1048576.0, kOffered / 1048576.0, queued_max / 1048576.0, kLimit / 1048576.0,
              grown / 1048576.0);
}

// The default: the slow readers are held, not closed, and served in full once they read.
TEST_F(SlowReaderTest, SlowReadersAreHeldAtTheHighWaterMarkAndServedOnceTheyRead) {
  constexpr int64_t kHighWater = 256 * 1024;
  constexpr uint64_t kEach = 16ull << 20;  // offered per link, all of it echoed in the end
  g_disconnects = 0;
  g_queue_full = 0;
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_HIGH_WATER, kHighWater), 1);
  ASSERT_EQ(SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, 0), 1);  // held links are silent a while
  SetEventProc(nullptr, on_disconnect, nullptr, nullptr, nullptr);  // built-in echo
  ASSERT_NO_FATAL_FAILURE(start_server());
  const int64_t pauses0 = GetServerCounter(TS_COUNTER_HIGH_WATER_PAUSES);

  struct Peer {
    int fd = -1;
    uint64_t pushed = 0, got = 0;
  };
  std::vector<Peer> peers(kLinks);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (Peer& p : peers) {
    p.fd = tcp_socket(AF_INET, /*nonblocking=*/false);
    ASSERT_GE(p.fd, 0);
    set_receive_buffer(p.fd, 4096);
    ASSERT_EQ(::connect(p.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    fcntl(p.fd, F_SETFL, fcntl(p.fd, F_GETFL) | O_NONBLOCK);
  }
  std::vector<uint8_t> block(64 * 1024, 'h'), sink(256 * 1024);
  // pump(read): one round of writes (and reads if asked) on every peer.
  auto pump = [&](bool read) {
    std::vector<pollfd> pfds;
    for (Peer& p : peers) pfds.push_back(poll_entry(p.fd, static_cast<short>(
        (p.pushed < kEach ? POLLOUT : 0) | (read ? POLLIN : 0))));
    if (poll(pfds.data(), pfds.size(), 20) < 0 && errno != EINTR) return;
    for (size_t k = 0; k < peers.size(); ++k) {
      Peer& p = peers[k];
      if ((pfds[k].revents & POLLOUT) && p.pushed < kEach) {
        const ssize_t n = ::send(p.fd, block.data(),
                                 std::min<uint64_t>(block.size(), kEach - p.pushed), MSG_NOSIGNAL);
        if (n > 0) p.pushed += static_cast<uint64_t>(n);
      }
      if (read && (pfds[k].revents & POLLIN)) {
        const ssize_t n = ::recv(p.fd, sink.data(), sink.size(), 0);
        if (n > 0) p.got += static_cast<uint64_t>(n);
      }
    }
  };
  // Writing only: every link gets held, and stays held while its peer does not read.
  int64_t queued_max = 0;
  ASSERT_TRUE(wait_until([&] {
    pump(false);
    uint64_t ids[kLinks];
    const int open = GetLinkIds(ids, kLinks);
    for (int i = 0; i < std::min(open, kLinks); ++i)
      queued_max = std::max(queued_max, GetSendQueueBytesById(ids[i]));
    return GetServerCounter(TS_COUNTER_LINKS_HELD) == kLinks;
  }, 60s)) << GetServerCounter(TS_COUNTER_LINKS_HELD) << " of " << kLinks << " links held";
  EXPECT_GE(GetServerCounter(TS_COUNTER_HIGH_WATER_PAUSES) - pauses0, kLinks);
  EXPECT_EQ(GetLinkCount(), kLinks) << "held links must stay open";
  // A link stops being read once its queue reaches the mark; what was already read is still
  // echoed, so a queue ends at most one read (an IO buffer) above it.
  const int64_t bound = kHighWater + GetServerOption(TS_OPT_IO_BUFFER_SIZE);
  EXPECT_GE(queued_max, kHighWater);
  EXPECT_LE(queued_max, bound);
  EXPECT_LE(GetServerCounter(TS_COUNTER_MEMORY_IN_USE), kLinks * bound);
  // Now the peers read: every link is read again, and every byte comes back.
  ASSERT_TRUE(wait_until([&] {
    pump(true);
    for (const Peer& p : peers)
      if (p.got < kEach) return false;
    return true;
  }, 120s)) << "not every byte came back after the peers started reading";
  for (const Peer& p : peers) {
    EXPECT_EQ(p.got, kEach);
    ::close(p.fd);
  }
  EXPECT_TRUE(wait_until([] { return g_disconnects.load() == kLinks; }, 10s));
  EXPECT_EQ(g_queue_full.load(), 0);
  EXPECT_EQ(GetServerCounter(TS_COUNTER_LINKS_HELD), 0);
  EXPECT_TRUE(wait_until([] { return GetServerCounter(TS_COUNTER_MEMORY_IN_USE) == 0; }, 5s));
  std::printf("held slow readers: %d links, at most %.1f KiB queued (mark %.0f KiB)\n", kLinks,
              queued_max / 1024.0, kHighWater / 1024.0);
}

}  // namespace
