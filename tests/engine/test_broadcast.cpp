// Guarantee 4: PostBroadcast reaches every open link, exactly once, in order.
#include <cstdio>

#include "support.h"

using namespace tst;

class Broadcast : public ServerTest {};

TEST_F(Broadcast, FiveHundredLinksGetEveryBroadcastOnceInOrder) {
  uint32_t port = start();
  constexpr int kLinks = 500, kMessages = 50;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kLinks; ++i) {
    clients.push_back(std::make_unique<Client>(port));
    ASSERT_TRUE(clients.back()->ok());
  }
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == kLinks; }));
  std::string expected;
  for (int m = 0; m < kMessages; ++m) {
    char line[32];
    int n = std::snprintf(line, sizeof line, "broadcast %04d\n", m);
    ASSERT_EQ(kLinks, PostBroadcast(line, n)) << GetLastErrorText();
    expected += line;
  }
  for (int i = 0; i < kLinks; ++i) {
    ASSERT_EQ(expected, clients[static_cast<size_t>(i)]->recv_n(expected.size())) << "link " << i;
  }
  // Exactly once: nothing more is pending on any link.
  PostBroadcast("end\n", 4);
  for (auto& c : clients) ASSERT_EQ("end\n", c->recv_n(4));
}

TEST_F(Broadcast, LargerThanOneIoBufferArrivesWhole) {
  uint32_t port = start();
  Client a(port), b(port);
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 2; }));
  std::string big(300000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(pattern(3, i));
  ASSERT_EQ(2, PostBroadcast(big.data(), static_cast<int32_t>(big.size())));
  EXPECT_EQ(big, a.recv_n(big.size()));
  EXPECT_EQ(big, b.recv_n(big.size()));
}
