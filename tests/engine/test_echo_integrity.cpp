// Echo integrity: 200 connections x 1 MiB, random client chunking, every byte verified —
// through the built-in echo, through the original unit's GetIOMem/PostSend pattern, and with
// messages larger than an IO buffer through SendBuffer.
#include <cstring>

#include "support.h"

using namespace tst;

class EchoIntegrity : public ServerTest {};

TEST_F(EchoIntegrity, BuiltInEcho200ConnectionsOneMiBEach) {
  uint32_t port = start();
  EchoResult r = echo_many(port, 200, 1 << 20, 64 * 1024, 120000);
  EXPECT_EQ(0, r.errors) << r.first_error;
  EXPECT_EQ(200ull << 20, r.verified);
}

namespace {
// The original unit's sample: copy into a pool buffer, PostSend it, free it if refused.
int32_t TS_CALL original_echo(TcpLink* l, uint8_t* buf, int32_t len) {
  void* mem = GetIOMem();
  if (!mem) return 0;  // would lose data: close, so the test sees it
  std::memcpy(mem, buf, static_cast<size_t>(len));
  if (!PostSend(l, mem, len)) FreeIOMem(mem);
  return 1;
}
}  // namespace

TEST_F(EchoIntegrity, PoolBufferEcho200ConnectionsOneMiBEach) {
  SetEventProc(original_echo, nullptr, nullptr, nullptr, nullptr);
  uint32_t port = start();
  EchoResult r = echo_many(port, 200, 1 << 20, 64 * 1024, 120000);
  EXPECT_EQ(0, r.errors) << r.first_error;
  EXPECT_EQ(200ull << 20, r.verified);
  EXPECT_TRUE(wait_until([] { return GetIOMemFree() == GetServerOption(TS_OPT_IO_BUFFER_COUNT); }));
}

namespace {
constexpr size_t kReply = 100 * 1024;  // 50 IO buffers
int32_t TS_CALL big_replies(TcpLink* l, uint8_t*, int32_t len) {
  static const std::string payload = [] {
    std::string s(kReply, '\0');
    for (size_t i = 0; i < kReply; ++i) s[i] = static_cast<char>(pattern(5, i));
    return s;
  }();
  for (int32_t i = 0; i < len; ++i)  // one reply per request byte
    if (!SendBuffer(l, payload.data(), static_cast<int32_t>(payload.size()))) return 0;
  return 1;
}
}  // namespace

TEST_F(EchoIntegrity, MessagesLargerThanAnIoBufferThroughSendBuffer) {
  SetEventProc(big_replies, nullptr, nullptr, nullptr, nullptr);
  uint32_t port = start();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 50; ++i) clients.push_back(std::make_unique<Client>(port));
  for (auto& c : clients) ASSERT_TRUE(c->send_str("GGGG"));  // 4 replies each
  for (size_t k = 0; k < clients.size(); ++k) {
    std::string got = clients[k]->recv_n(4 * kReply);
    ASSERT_EQ(4 * kReply, got.size()) << "client " << k;
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(static_cast<char>(pattern(5, i % kReply)), got[i]) << "client " << k << " byte " << i;
  }
}
