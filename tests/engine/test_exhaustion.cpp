// Guarantee 6: an empty pool pauses receiving (no byte lost) and GetIOMem fails clearly; the
// link limit refuses and counts extra connections.
#include "support.h"

using namespace tst;

class Exhaustion : public ServerTest {};

TEST_F(Exhaustion, EmptyPoolPausesReceivingAndLosesNothing) {
  SetServerOption(TS_OPT_IO_BUFFER_COUNT, 64);
  uint32_t port = start();
  std::vector<void*> held;
  while (void* m = GetIOMem()) held.push_back(m);
  EXPECT_EQ(TS_ERR_POOL_EXHAUSTED, GetLastErrorCode());
  EXPECT_EQ(64u, held.size());
  EXPECT_EQ(0, GetIOMemFree());

  int64_t pauses0 = GetServerCounter(TS_COUNTER_RECV_PAUSES);
  int64_t bytes_in0 = GetServerCounter(TS_COUNTER_BYTES_IN);
  Client c(port);
  std::string data(200000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(pattern(9, i));
  ASSERT_TRUE(c.send_all(data.data(), data.size()));
  ASSERT_TRUE(wait_until([&] { return GetServerCounter(TS_COUNTER_RECV_PAUSES) > pauses0; }));
  EXPECT_EQ(bytes_in0, GetServerCounter(TS_COUNTER_BYTES_IN));  // nothing was taken off the socket

  for (void* m : held) ASSERT_EQ(1, FreeIOMem(m));
  EXPECT_EQ(data, c.recv_n(data.size()));  // resumed, every byte
}

TEST_F(Exhaustion, LinkLimitRefusesAndCountsExtraConnections) {
  SetServerOption(TS_OPT_MAX_LINKS, 5);
  uint32_t port = start();
  int64_t refused0 = GetServerCounter(TS_COUNTER_REFUSED);
  std::vector<std::unique_ptr<Client>> served;
  for (int i = 0; i < 5; ++i) {
    served.push_back(std::make_unique<Client>(port));
    ASSERT_TRUE(served.back()->send_str("hi"));
    ASSERT_EQ("hi", served.back()->recv_n(2));
  }
  std::vector<std::unique_ptr<Client>> extra;
  for (int i = 0; i < 5; ++i) extra.push_back(std::make_unique<Client>(port));
  for (auto& c : extra) EXPECT_TRUE(c->wait_closed());
  EXPECT_TRUE(wait_until([&] { return GetServerCounter(TS_COUNTER_REFUSED) == refused0 + 5; }));
  EXPECT_EQ(5, GetLinkCount());
  for (auto& c : served) {  // the served ones are untouched
    ASSERT_TRUE(c->send_str("still"));
    EXPECT_EQ("still", c->recv_n(5));
  }
}
