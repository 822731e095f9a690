// Fault: the client resets (SO_LINGER 0 close, RST) while the server is in the middle of
// sending it megabytes, and while another application thread keeps sending to the same links.
// The link closes as PEER_RESET (or ERROR with the reset's code), exactly once, nothing
// crashes, every send either succeeds or fails with TS_ERR_LINK_CLOSED, and all queued buffers
// return to the pool.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "support/blocking_client.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

constexpr int kLinks = 24;
constexpr int kReplyChunk = 1 << 20;
constexpr int kReplyChunks = 8;  // 8 MiB per request, under the 16 MiB queue limit

std::atomic<int> g_disconnects{0};
std::atomic<int> g_resets{0};
std::atomic<int> g_other_reason{-1};
std::mutex g_ids_mu;
std::vector<uint64_t> g_ids;

int32_t TS_CALL remember(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_ids_mu);
  g_ids.push_back(link->Id);
  return 1;
}

int32_t TS_CALL reply_megabytes(TcpLink* link, uint8_t*, int32_t) {
  static const std::vector<uint8_t> chunk(kReplyChunk, 'r');
  for (int i = 0; i < kReplyChunks; ++i)
    if (SendBuffer(link, chunk.data(), kReplyChunk) != 1) break;  // the reset came first
  return 1;
}

void TS_CALL on_disconnect(TcpLink* link) {
  if (link->CloseReason == TS_CLOSE_PEER_RESET ||
      (link->CloseReason == TS_CLOSE_ERROR && (link->CloseError == ECONNRESET || link->CloseError == EPIPE)))
    g_resets++;
  else
    g_other_reason = link->CloseReason;
  g_disconnects++;
}

class ResetDuringSendTest : public ServerTest {};

TEST_F(ResetDuringSendTest, LinkClosesAsResetAndEveryBufferComesBack) {
  g_disconnects = 0;
  g_resets = 0;
  g_other_reason = -1;
  g_ids.clear();
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  SetEventProc(reply_megabytes, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(remember), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());

  std::vector<BlockingClient> clients(kLinks);
  for (auto& c : clients) ASSERT_TRUE(c.connect(port_, /*rcvbuf=*/32 * 1024));
  ASSERT_TRUE(wait_until([] { std::lock_guard<std::mutex> l(g_ids_mu); return g_ids.size() == kLinks; }, 10s));

  // Another thread keeps sending to every link: sends racing the resets. 6 MiB at most per
  // link, so with the 8 MiB reply the queue stays under the 16 MiB limit; slow enough to go on
  // until after the last reset.
  std::atomic<bool> quit{false};
  std::atomic<long> sent{0}, refused{0}, wrong_error{0};
  std::thread sender([&] {
    std::vector<uint64_t> ids;
    {
      std::lock_guard<std::mutex> lock(g_ids_mu);
      ids = g_ids;
    }
    const std::vector<uint8_t> piece(1024, 's');
    std::vector<int> budget(ids.size(), 6 * 1024);
    while (!quit) {
      for (size_t i = 0; i < ids.size(); ++i) {
        if (budget[i] == 0) continue;
        if (SendBufferById(ids[i], piece.data(), static_cast<int32_t>(piece.size())) == 1) {
          sent++;
          --budget[i];
          continue;
        }
        if (GetLastErrorCode() != TS_ERR_LINK_CLOSED) wrong_error++;
        refused++;
      }
      std::this_thread::sleep_for(50us);  // pacing, not waiting for a condition
    }
  });

  // Each client asks for 8 MiB, reads a little of it (the transfer is under way), resets.
  for (size_t i = 0; i < clients.size(); ++i) {
    ASSERT_TRUE(clients[i].send_all("go"));
    std::vector<uint8_t> got;
    ASSERT_TRUE(clients[i].recv_exact(64 * 1024, &got, 10s)) << "client " << i;
    clients[i].reset();
  }
  EXPECT_TRUE(wait_until([] { return g_disconnects.load() == kLinks; }, 20s))
      << g_disconnects.load() << " of " << kLinks << " links reported closed";
  quit = true;
  sender.join();

  EXPECT_EQ(g_resets.load(), kLinks) << "a link closed for another reason: " << g_other_reason.load()
                                     << " (" << GetCloseReasonText(g_other_reason.load()) << ")";
  EXPECT_EQ(wrong_error.load(), 0) << "SendBufferById failed with a code other than TS_ERR_LINK_CLOSED";
  EXPECT_GT(refused.load(), 0) << "no send raced a closing link (the test did not test the race)";
  // Slots are released just after their OnDisconnect returns.
  EXPECT_TRUE(wait_until([] { return GetLinkCount() == 0; }, 5s)) << GetLinkCount() << " links still counted";
  // While still running: every pool buffer the queued replies took is back.
  EXPECT_TRUE(wait_until([] { return GetIOMemFree() == GetServerOption(TS_OPT_IO_BUFFER_COUNT); }, 5s))
      << GetIOMemFree() << " of " << GetServerOption(TS_OPT_IO_BUFFER_COUNT) << " IO buffers free";

  // The server still serves.
  BlockingClient after;
  ASSERT_TRUE(after.connect(port_));
  ASSERT_TRUE(after.send_all("x"));
  std::vector<uint8_t> got;
  EXPECT_TRUE(after.recv_exact(kReplyChunk, &got, 20s));
  std::printf("sends racing the resets: %ld made, %ld refused (link closed)\n", sent.load(), refused.load());
}

// ---- A reset that a send meets first ----
// The kernel hands a reset to the first call that asks: when that is a send (from any thread),
// the worker's next read sees a plain end of stream. The link must still close as a reset, not
// as PEER_CLOSED. The soak met this once in 1.1 million connections; here the only worker is
// kept busy until a send has met the reset, so it happens every time.

std::atomic<bool> g_blocked{false};
std::atomic<bool> g_release{false};
std::mutex g_reasons_mu;
std::map<uint64_t, int> g_reasons;

int32_t TS_CALL block_on_request(TcpLink*, uint8_t* buf, int32_t len) {
  if (len == 5 && std::memcmp(buf, "block", 5) == 0) {
    g_blocked = true;
    wait_until([] { return g_release.load(); }, 10s);
  }
  return 1;
}

void TS_CALL record_reason(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_reasons_mu);
  g_reasons[link->Id] = link->CloseReason;
}

// True while the kernel still lists a TCP socket from local port `local` to `remote`
// (/proc/net/tcp; a socket that took a reset is no longer listed).
bool tcp_socket_listed(uint16_t local, uint16_t remote) {
  FILE* f = std::fopen("/proc/net/tcp", "r");
  if (!f) return false;
  char line[512];
  bool found = false;
  while (!found && std::fgets(line, sizeof line, f)) {
    unsigned lp = 0, rp = 0;
    if (std::sscanf(line, " %*d: %*8x:%4x %*8x:%4x", &lp, &rp) == 2) found = lp == local && rp == remote;
  }
  std::fclose(f);
  return found;
}

TEST_F(ResetDuringSendTest, ResetMetFirstByASendIsStillReportedAsAReset) {
  g_ids.clear();
  g_blocked = false;
  g_release = false;
  g_reasons.clear();
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 1), 1);
  SetEventProc(block_on_request, record_reason, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(remember), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient reset_one, blocker;
  ASSERT_TRUE(reset_one.connect(port_));
  ASSERT_TRUE(wait_until([] { std::lock_guard<std::mutex> l(g_ids_mu); return g_ids.size() == 1; }, 5s));
  const uint64_t id = [] {  // under the lock: the next OnConnect may grow the vector
    std::lock_guard<std::mutex> l(g_ids_mu);
    return g_ids[0];
  }();
  ASSERT_TRUE(blocker.connect(port_));
  ASSERT_TRUE(blocker.send_all("block"));
  ASSERT_TRUE(wait_until([] { return g_blocked.load(); }, 5s)) << "the worker never got the request";

  // The worker is busy: the reset waits in its socket, unread.
  const uint16_t client_port = reset_one.local_port();
  reset_one.reset();
  ASSERT_TRUE(wait_until([&] { return !tcp_socket_listed(port_, client_port); }, 5s))
      << "the server's socket never took the reset";
  // This send meets the reset (the link is still open as far as the engine knows).
  EXPECT_EQ(SendBufferById(id, "x", 1), 1) << GetLastErrorText();

  g_release = true;
  ASSERT_TRUE(wait_until([&] { std::lock_guard<std::mutex> l(g_reasons_mu); return g_reasons.count(id) == 1; }, 5s));
  std::lock_guard<std::mutex> lock(g_reasons_mu);
  EXPECT_EQ(g_reasons[id], TS_CLOSE_PEER_RESET) << "closed as " << GetCloseReasonText(g_reasons[id]);
}

}  // namespace
