// Fault: the client half-closes (shutdown SHUT_WR) right after its last bytes, without reading
// anything yet. The server still receives every byte, its replies are queued (the client's
// receive buffer is full), the FIN closes the link as PEER_CLOSED only after that queue has
// been flushed, and the client reads every reply byte, in order, before the server's FIN.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "support/blocking_client.h"
#include "support/payload.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::atomic<int> g_disconnects{0};
std::atomic<int> g_peer_closed{0};
std::atomic<long long> g_received{0};

// The reply to each chunk: its length (4 bytes), the chunk, then the chunk ^ 0x5A three times
// ("what it sends before closing" is larger than what the peer sent, so it cannot all sit in
// the socket buffers). One SendBuffer, so the client can take it apart.
int32_t TS_CALL echo_and_more(TcpLink* link, uint8_t* buf, int32_t len) {
  g_received += len;
  const size_t n = static_cast<size_t>(len);
  std::vector<uint8_t> reply(4 + 4 * n);
  std::memcpy(reply.data(), &len, 4);
  std::memcpy(reply.data() + 4, buf, n);
  for (size_t k = 0; k < 3 * n; ++k) reply[4 + n + k] = static_cast<uint8_t>(buf[k % n] ^ 0x5A);
  return SendBuffer(link, reply.data(), static_cast<int32_t>(reply.size()));
}

void TS_CALL on_disconnect(TcpLink* link) {
  if (link->CloseReason == TS_CLOSE_PEER_CLOSED) g_peer_closed++;
  g_disconnects++;
}

class HalfCloseTest : public ServerTest {};

TEST_F(HalfCloseTest, EverythingBeforeTheFinIsServedAndTheRepliesArriveBeforeTheClose) {
  // From 1 byte to 1 MiB, around the IO buffer size.
  const std::vector<size_t> sizes = {1, 100, 2047, 2048, 2049, 65536, 300000, 1 << 20};
  g_disconnects = 0;
  g_peer_closed = 0;
  g_received = 0;
  ASSERT_EQ(SetServerOption(TS_OPT_WORKER_THREADS, 2), 1);
  // The clients read nothing until the server has every byte, so their replies must be allowed
  // to pile up: the high-water mark would (rightly) stop reading them first.
  ASSERT_EQ(SetServerOption(TS_OPT_SEND_HIGH_WATER, 0), 1);
  SetEventProc(echo_and_more, on_disconnect, nullptr, nullptr, nullptr);
  ASSERT_NO_FATAL_FAILURE(start_server());

  std::vector<BlockingClient> clients(sizes.size());
  long long total = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    ASSERT_TRUE(clients[i].connect(port_, /*rcvbuf=*/8192)) << "client " << i;
    std::vector<uint8_t> data(sizes[i]);
    fill_pattern(i, 0, data.data(), data.size());
    ASSERT_TRUE(clients[i].send_all(data.data(), data.size())) << "client " << i;
    clients[i].shutdown_send();
    total += static_cast<long long>(sizes[i]);
  }
  // Nothing read yet: the server has everything, and closes only once its queue is flushed.
  EXPECT_TRUE(wait_until([&] { return g_received.load() == total; }, 20s))
      << "the server received " << g_received.load() << " of " << total << " bytes";

  for (size_t i = 0; i < sizes.size(); ++i) {
    std::vector<uint8_t> got;
    ASSERT_TRUE(clients[i].wait_closed(30s, &got)) << "client " << i << ": no FIN from the server";
    // Take the replies apart: every byte echoed once, in order, each chunk's extra bytes after it.
    size_t at = 0, echoed = 0;
    bool ok = true;
    while (ok && at + 4 <= got.size()) {
      int32_t len = 0;
      std::memcpy(&len, got.data() + at, 4);
      const size_t n = static_cast<size_t>(len);
      ok = len > 0 && at + 4 + 4 * n <= got.size() &&
           pattern_mismatch(i, echoed, got.data() + at + 4, n) == n;
      for (size_t k = 0; ok && k < 3 * n; ++k)
        ok = got[at + 4 + n + k] == static_cast<uint8_t>(got[at + 4 + k % n] ^ 0x5A);
      at += 4 + 4 * n;
      echoed += n;
    }
    EXPECT_TRUE(ok && at == got.size() && echoed == sizes[i])
        << "client " << i << ": " << got.size() << " reply bytes, " << echoed << " of " << sizes[i]
        << " echoed in order, wrong near byte " << at;
  }
  EXPECT_TRUE(wait_until([&] { return g_disconnects.load() == static_cast<int>(sizes.size()); }, 10s));
  EXPECT_EQ(g_peer_closed.load(), static_cast<int>(sizes.size()));
  EXPECT_TRUE(wait_until([] { return GetIOMemFree() == GetServerOption(TS_OPT_IO_BUFFER_COUNT); }, 5s));
}

}  // namespace
