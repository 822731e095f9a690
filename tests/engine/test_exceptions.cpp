// Guarantee 8: an exception thrown by a callback never unwinds into the engine; that link is
// closed and the server keeps serving.
#include <cstring>
#include <stdexcept>

#include "support.h"

using namespace tst;

namespace {
std::atomic<int32_t> g_reason{-1};
int32_t TS_CALL throw_on_request(TcpLink* l, uint8_t* buf, int32_t len) {
  if (len >= 5 && std::memcmp(buf, "THROW", 5) == 0) throw std::runtime_error("handler failed");
  SendBuffer(l, buf, len);
  return 1;
}
void TS_CALL record(TcpLink* l) {
  if (l->CloseReason == TS_CLOSE_BY_APP) g_reason = l->CloseReason;
}
}  // namespace

class Exceptions : public ServerTest {};

TEST_F(Exceptions, ThrowingOnReceiveClosesOnlyThatLink) {
  SetEventProc(throw_on_request, record, nullptr, nullptr, nullptr);
  uint32_t port = start();
  Client bystander(port), thrower(port);
  ASSERT_TRUE(thrower.send_str("THROW"));
  EXPECT_TRUE(thrower.wait_closed());
  ASSERT_TRUE(wait_until([] { return g_reason.load() == TS_CLOSE_BY_APP; }));
  ASSERT_TRUE(bystander.send_str("alive"));
  EXPECT_EQ("alive", bystander.recv_n(5));
  Client newcomer(port);
  ASSERT_TRUE(newcomer.send_str("new"));
  EXPECT_EQ("new", newcomer.recv_n(3));
}
