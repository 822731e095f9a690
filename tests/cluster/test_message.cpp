// The wire form of cluster messages (cluster/src/message.h): every kind survives a round trip,
// and anything short, foreign or malformed is refused instead of misread.
#include <gtest/gtest.h>

#include <string>

#include "message.h"
#include "tcpcluster.h"

using tc::Message;
using tc::MessageKind;

namespace {

// The Message points into wire: keep wire alive while it is read.
Message decode_ok(const std::string& wire) {
  Message m;
  EXPECT_TRUE(tc::decode_message(reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), &m));
  return m;
}

std::string payload_of(const Message& m) {
  return std::string(reinterpret_cast<const char*>(m.payload), m.payload_len);
}

std::string encode(MessageKind kind, const std::string& name, const std::string& payload) {
  Message m;
  m.kind = kind;
  m.publisher = 0x0102030405060708ull;
  m.sequence = 42;
  m.link = 77;
  m.tag = 0xFFFFFFFFFFFFFFFFull;
  m.target_node = 99;
  m.reason = TC_SEND_LINK_GONE;
  m.name = name.data();
  m.name_len = name.size();
  m.payload = reinterpret_cast<const uint8_t*>(payload.data());
  m.payload_len = payload.size();
  std::string wire;
  tc::encode_message(m, &wire);
  return wire;
}

}  // namespace

TEST(MessageTest, BroadcastRoundTripKeepsPublisherSequenceAndPayload) {
  std::string wire = encode(MessageKind::kBroadcast, "", std::string("a\0b\n", 4));
  EXPECT_EQ(wire.size(), tc::kMessageHeader + 4);
  Message m = decode_ok(wire);
  EXPECT_EQ(m.kind, MessageKind::kBroadcast);
  EXPECT_EQ(m.publisher, 0x0102030405060708ull);
  EXPECT_EQ(m.sequence, 42u);
  EXPECT_EQ(payload_of(m), std::string("a\0b\n", 4));
  EXPECT_EQ(tc::channel_of(m.kind), TC_CHANNEL_BROADCAST);
}

TEST(MessageTest, TopicRoundTripCarriesTheTopic) {
  const std::string wire = encode(MessageKind::kTopic, "prices/eur", "1.08");
  Message m = decode_ok(wire);
  EXPECT_EQ(std::string(m.name, m.name_len), "prices/eur");
  EXPECT_EQ(payload_of(m), "1.08");
  EXPECT_EQ(tc::channel_of(m.kind), TC_CHANNEL_TOPIC);
}

TEST(MessageTest, DirectRoundTripCarriesLinkTagAndKey) {
  const std::string wire = encode(MessageKind::kDirect, "alice", "hello");
  Message m = decode_ok(wire);
  EXPECT_EQ(m.link, 77u);
  EXPECT_EQ(m.tag, 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(std::string(m.name, m.name_len), "alice");
  EXPECT_EQ(payload_of(m), "hello");
  const std::string wire2 = encode(MessageKind::kDirect, "", "x");
  Message no_key = decode_ok(wire2);
  EXPECT_EQ(no_key.name_len, 0u);
  EXPECT_EQ(tc::channel_of(m.kind), TC_CHANNEL_DIRECT);
}

TEST(MessageTest, NackRoundTripCarriesReasonAndTargetWithoutPayload) {
  const std::string wire = encode(MessageKind::kNack, "bob", "ignored");
  Message m = decode_ok(wire);
  EXPECT_EQ(m.reason, TC_SEND_LINK_GONE);
  EXPECT_EQ(m.target_node, 99u);
  EXPECT_EQ(m.link, 77u);
  EXPECT_EQ(m.tag, 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(std::string(m.name, m.name_len), "bob");
  EXPECT_EQ(m.payload_len, 0u);
  EXPECT_EQ(tc::channel_of(m.kind), TC_CHANNEL_DIRECT);
}

TEST(MessageTest, EveryTruncationIsRefused) {
  for (MessageKind kind : {MessageKind::kTopic, MessageKind::kDirect, MessageKind::kNack}) {
    std::string wire = encode(kind, "key", "");
    for (size_t len = 0; len < wire.size(); ++len) {
      Message m;
      EXPECT_FALSE(tc::decode_message(reinterpret_cast<const uint8_t*>(wire.data()), len, &m))
          << "kind " << int(kind) << " cut to " << len << " of " << wire.size() << " bytes";
    }
  }
  std::string bcast = encode(MessageKind::kBroadcast, "", "");
  Message m;
  EXPECT_FALSE(tc::decode_message(reinterpret_cast<const uint8_t*>(bcast.data()), bcast.size() - 1, &m));
}

TEST(MessageTest, ForeignVersionKindPublisherOrShapeIsRefused) {
  Message m;
  std::string wire = encode(MessageKind::kBroadcast, "", "x");
  std::string bad = wire;
  bad[0] = 2;  // another version
  EXPECT_FALSE(tc::decode_message(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), &m));
  bad = wire;
  bad[1] = 9;  // unknown kind
  EXPECT_FALSE(tc::decode_message(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), &m));
  bad = wire;
  for (int i = 2; i < 10; ++i) bad[i] = 0;  // publisher 0 is never a node
  EXPECT_FALSE(tc::decode_message(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), &m));
  bad = encode(MessageKind::kTopic, "t", "x");
  bad[tc::kMessageHeader] = 0;  // a topic of no bytes
  EXPECT_FALSE(tc::decode_message(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), &m));
  bad = encode(MessageKind::kNack, "k", "") + "extra";  // a notice has no payload
  EXPECT_FALSE(tc::decode_message(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), &m));
  const std::string text = "hello from something else on our channel";
  EXPECT_FALSE(tc::decode_message(reinterpret_cast<const uint8_t*>(text.data()), text.size(), &m));
}

TEST(MessageTest, LongestNameFitsAndLongerIsCut) {
  std::string longest(tc::kMaxName, 'k');
  const std::string wire = encode(MessageKind::kTopic, longest, "p");
  Message m = decode_ok(wire);
  EXPECT_EQ(std::string(m.name, m.name_len), longest);
  EXPECT_EQ(payload_of(m), "p");
  const std::string wire2 = encode(MessageKind::kTopic, longest + "zz", "p");
  Message cut = decode_ok(wire2);
  EXPECT_EQ(cut.name_len, tc::kMaxName);
  EXPECT_EQ(payload_of(cut), "p");
}
