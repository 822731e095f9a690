// Guarantee 7: bad input gets a clear error code and text and changes nothing. One test per
// case; each checks the return value, the code, that there is a text, and that the pool and
// link counts did not move.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "support.h"

using namespace tst;

namespace {
std::atomic<TcpLink*> g_link{nullptr};
std::atomic<uint64_t> g_id{0};
int32_t TS_CALL keep(TcpLink* l) {
  g_link = l;
  g_id = l->Id;
  return 1;
}
}  // namespace

class BadInput : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    g_link = nullptr;
    g_id = 0;
    SetConnectProc(keep);
  }
  // Starts and connects one client; the link is g_link / g_id.
  void connect_one() {
    port_ = start();
    client_ = std::make_unique<Client>(port_);
    ASSERT_TRUE(wait_until([] { return g_id.load() != 0; }));
  }
  void snapshot() {
    free0_ = GetIOMemFree();
    links0_ = GetLinkCount();
  }
  void expect_error(int64_t got, int64_t want_ret, int32_t want_code) {
    EXPECT_EQ(want_ret, got);
    EXPECT_EQ(want_code, GetLastErrorCode()) << GetLastErrorText();
    EXPECT_GT(std::strlen(GetLastErrorText()), 10u);
    EXPECT_EQ(free0_, GetIOMemFree());
    EXPECT_EQ(links0_, GetLinkCount());
  }
  uint32_t port_ = 0;
  std::unique_ptr<Client> client_;
  int free0_ = 0, links0_ = 0;
};

TEST_F(BadInput, FreeIOMemNull) {
  snapshot();
  expect_error(FreeIOMem(nullptr), 0, TS_ERR_INVALID_ARGUMENT);
}
TEST_F(BadInput, FreeIOMemStackPointer) {
  void* mem = GetIOMem();  // make sure the pool exists
  ASSERT_NE(nullptr, mem);
  snapshot();
  char local[64];
  expect_error(FreeIOMem(local), 0, TS_ERR_NOT_A_BUFFER);
  FreeIOMem(mem);
}
TEST_F(BadInput, FreeIOMemHeapPointer) {
  void* mem = GetIOMem();
  snapshot();
  auto heap = std::make_unique<char[]>(4096);
  expect_error(FreeIOMem(heap.get()), 0, TS_ERR_NOT_A_BUFFER);
  FreeIOMem(mem);
}
TEST_F(BadInput, FreeIOMemPointerIntoTheMiddleOfABuffer) {
  auto* mem = static_cast<char*>(GetIOMem());
  snapshot();
  expect_error(FreeIOMem(mem + 16), 0, TS_ERR_NOT_A_BUFFER);
  EXPECT_EQ(1, FreeIOMem(mem));
}
TEST_F(BadInput, DoubleFreeIOMem) {
  void* mem = GetIOMem();
  ASSERT_EQ(1, FreeIOMem(mem));
  snapshot();
  expect_error(FreeIOMem(mem), 0, TS_ERR_BUFFER_NOT_OWNED);
}
TEST_F(BadInput, FreeIOMemOfABufferHandedToPostSend) {
  connect_one();
  void* mem = GetIOMem();
  std::memset(mem, 'a', 100);
  SetServerOption(TS_OPT_LOG_LEVEL, TS_LOG_ERROR);
  ASSERT_EQ(1, PostSendById(g_id, mem, 100));
  ASSERT_EQ(100u, client_->recv_n(100).size());
  snapshot();
  // The engine freed it after sending: freeing it again is an ownership error.
  expect_error(FreeIOMem(mem), 0, TS_ERR_BUFFER_NOT_OWNED);
}
TEST_F(BadInput, PostSendNullLink) {
  connect_one();
  void* mem = GetIOMem();
  snapshot();
  expect_error(PostSend(nullptr, mem, 10), 0, TS_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(1, FreeIOMem(mem));
}
TEST_F(BadInput, PostSendForeignLinkPointer) {
  connect_one();
  void* mem = GetIOMem();
  snapshot();
  TcpLink fake{};
  expect_error(PostSend(&fake, mem, 10), 0, TS_ERR_NOT_A_LINK);
  EXPECT_EQ(1, FreeIOMem(mem));
}
TEST_F(BadInput, PostSendNullBuffer) {
  connect_one();
  snapshot();
  expect_error(PostSend(g_link, nullptr, 10), 0, TS_ERR_INVALID_ARGUMENT);
}
TEST_F(BadInput, PostSendForeignBuffer) {
  connect_one();
  snapshot();
  char local[16] = "x";
  expect_error(PostSend(g_link, local, 1), 0, TS_ERR_NOT_A_BUFFER);
}
TEST_F(BadInput, PostSendNegativeLength) {
  connect_one();
  void* mem = GetIOMem();
  snapshot();
  expect_error(PostSend(g_link, mem, -1), 0, TS_ERR_BAD_LENGTH);
  EXPECT_EQ(1, FreeIOMem(mem));
}
TEST_F(BadInput, PostSendZeroLength) {
  connect_one();
  void* mem = GetIOMem();
  snapshot();
  expect_error(PostSend(g_link, mem, 0), 0, TS_ERR_BAD_LENGTH);
  EXPECT_EQ(1, FreeIOMem(mem));
}
TEST_F(BadInput, PostSendLongerThanTheBuffer) {
  connect_one();
  void* mem = GetIOMem();
  snapshot();
  expect_error(PostSend(g_link, mem, 2049), 0, TS_ERR_BAD_LENGTH);
  EXPECT_EQ(1, FreeIOMem(mem));
}
TEST_F(BadInput, PostSendOnAClosedLink) {
  connect_one();
  TcpLink* link = g_link;
  client_.reset();
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 0; }));
  void* mem = GetIOMem();
  snapshot();
  expect_error(PostSend(link, mem, 10), 0, TS_ERR_LINK_CLOSED);
  EXPECT_EQ(1, FreeIOMem(mem));
}
TEST_F(BadInput, PostSendByIdStaleId) {
  connect_one();
  uint64_t id = g_id;
  client_.reset();
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 0; }));
  void* mem = GetIOMem();
  snapshot();
  expect_error(PostSendById(id, mem, 10), 0, TS_ERR_LINK_CLOSED);
  EXPECT_EQ(1, FreeIOMem(mem));
}
TEST_F(BadInput, PostSendByIdZero) {
  connect_one();
  void* mem = GetIOMem();
  snapshot();
  expect_error(PostSendById(0, mem, 10), 0, TS_ERR_LINK_CLOSED);
  EXPECT_EQ(1, FreeIOMem(mem));
}
TEST_F(BadInput, SendBufferNullData) {
  connect_one();
  snapshot();
  expect_error(SendBuffer(g_link, nullptr, 10), 0, TS_ERR_INVALID_ARGUMENT);
}
TEST_F(BadInput, SendBufferNegativeLength) {
  connect_one();
  snapshot();
  expect_error(SendBuffer(g_link, "x", -5), 0, TS_ERR_BAD_LENGTH);
}
TEST_F(BadInput, CloseLinkByIdStaleId) {
  connect_one();
  uint64_t id = g_id;
  client_.reset();
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 0; }));
  snapshot();
  expect_error(CloseLinkById(id), 0, TS_ERR_LINK_CLOSED);
}
TEST_F(BadInput, CloseLinkUnknownFlags) {
  connect_one();
  snapshot();
  expect_error(CloseLinkEx(g_link, 0x40), 0, TS_ERR_INVALID_ARGUMENT);
}
TEST_F(BadInput, StartWithAnOutOfRangeIPv4Text) {
  snapshot();
  expect_error(StartTcpServer("300.1.1.1", 0), 0, TS_ERR_BAD_ADDRESS);
  EXPECT_EQ(0, IsTcpServerActive());
}
TEST_F(BadInput, StartWithNonsenseIPText) {
  snapshot();
  expect_error(StartTcpServer("abc", 0), 0, TS_ERR_BAD_ADDRESS);
}
TEST_F(BadInput, StartOnAPortInUse) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(0, bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a));
  ASSERT_EQ(0, listen(fd, 1));
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  snapshot();
  expect_error(StartTcpServer("127.0.0.1", ntohs(a.sin_port)), 0, TS_ERR_ADDRESS_IN_USE);
  EXPECT_EQ(0, IsTcpServerActive());
  close(fd);
}
TEST_F(BadInput, StartWithPortAbove65535) {
  snapshot();
  expect_error(StartTcpServer("127.0.0.1", 70000), 0, TS_ERR_INVALID_ARGUMENT);
}
TEST_F(BadInput, StartTwice) {
  uint32_t port = start();
  snapshot();
  expect_error(StartTcpServer("127.0.0.1", 0), 0, TS_ERR_ALREADY_ACTIVE);
  EXPECT_EQ(port, GetServerPort());
}
TEST_F(BadInput, CallsBeforeStart) {
  snapshot();
  expect_error(PostBroadcast("x", 1), -1, TS_ERR_NOT_ACTIVE);
  expect_error(CloseLinkById(12345), 0, TS_ERR_NOT_ACTIVE);
  EXPECT_EQ(0u, GetServerPort());
  EXPECT_EQ(0, GetWorkerCount());
}
TEST_F(BadInput, CallsAfterStop) {
  connect_one();
  uint64_t id = g_id;
  ASSERT_EQ(1, StopTcpServer());
  snapshot();
  expect_error(PostBroadcast("x", 1), -1, TS_ERR_NOT_ACTIVE);
  expect_error(SendBufferById(id, "x", 1), 0, TS_ERR_NOT_ACTIVE);
  EXPECT_EQ(0u, GetServerPort());
}
TEST_F(BadInput, PostBroadcastNegativeLength) {
  start();
  snapshot();
  expect_error(PostBroadcast("x", -3), -1, TS_ERR_BAD_LENGTH);
}
TEST_F(BadInput, SetUnknownOption) {
  snapshot();
  expect_error(SetServerOption(9999, 1), 0, TS_ERR_UNKNOWN_OPTION);
  expect_error(GetServerOption(9999), -1, TS_ERR_UNKNOWN_OPTION);
}
TEST_F(BadInput, SetOptionOutOfRange) {
  int64_t lo = 0, hi = 0;
  ASSERT_EQ(1, GetServerOptionRange(TS_OPT_MAX_LINKS, &lo, &hi));
  int64_t before = GetServerOption(TS_OPT_MAX_LINKS);
  snapshot();
  expect_error(SetServerOption(TS_OPT_MAX_LINKS, hi + 1), 0, TS_ERR_OPTION_RANGE);
  expect_error(SetServerOption(TS_OPT_MAX_LINKS, lo - 1), 0, TS_ERR_OPTION_RANGE);
  EXPECT_EQ(before, GetServerOption(TS_OPT_MAX_LINKS));
}
TEST_F(BadInput, SetOptionWhileRunning) {
  start();
  snapshot();
  expect_error(SetServerOption(TS_OPT_MAX_LINKS, 10), 0, TS_ERR_ALREADY_ACTIVE);
  EXPECT_EQ(3000, GetServerOption(TS_OPT_MAX_LINKS));
}
TEST_F(BadInput, GetLocalIPBufferTooSmall) {
  char buf[4];
  snapshot();
  expect_error(GetLocalIP(0, buf, sizeof buf), -1, TS_ERR_BUFFER_TOO_SMALL);
}
TEST_F(BadInput, WorkerIndexOutOfRange) {
  start();
  snapshot();
  expect_error(GetWorkerID(0), 0, TS_ERR_INVALID_ARGUMENT);
  expect_error(GetWorkerID(GetWorkerCount() + 1), 0, TS_ERR_INVALID_ARGUMENT);
  uint32_t ticks = 0;
  expect_error(GetWorkerExecInfo(0, &ticks), -1, TS_ERR_INVALID_ARGUMENT);
}
TEST_F(BadInput, UnknownCounter) {
  snapshot();
  expect_error(GetServerCounter(999), -1, TS_ERR_INVALID_ARGUMENT);
}
