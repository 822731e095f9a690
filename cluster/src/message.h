// The wire form of a cluster message (the payload of one Redis PUBLISH). Pure: encode and
// decode, no I/O. Called on the publishing thread (encode) and the subscribing thread (decode).
//
// Every message starts with the same 18 bytes, integers big-endian:
//   u8 version (1) | u8 kind | u64 publisher node id | u64 sequence
// then, by kind:
//   kBroadcast: payload
//   kTopic:     u8 topic length (1..255) | topic | payload
//   kDirect:    u64 link id | u64 tag | u8 key length (0..255) | key | payload
//               (a send to a key carries the key it was resolved from)
//   kNack:      u64 tag | u8 reason (TC_SEND_*) | u64 target node | u64 link id |
//               u8 key length | key        (no payload: "your send with this tag failed")
// The sequence counts per (publisher, channel): one for broadcasts, one for topics, one per
// target node for kDirect and kNack together (they travel on that node's channel).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace tc {

enum class MessageKind : uint8_t { kBroadcast = 1, kTopic = 2, kDirect = 3, kNack = 4 };

constexpr uint8_t kMessageVersion = 1;
constexpr size_t kMessageHeader = 18;
constexpr size_t kMaxName = 255;  // topics and keys

struct Message {
  MessageKind kind = MessageKind::kBroadcast;
  uint64_t publisher = 0;
  uint64_t sequence = 0;
  uint64_t link = 0;         // kDirect, kNack
  uint64_t tag = 0;          // kDirect, kNack
  uint64_t target_node = 0;  // kNack: the node the failed send was meant for
  int32_t reason = 0;        // kNack
  const char* name = nullptr;  // topic (kTopic) or key (kDirect, kNack); not NUL-terminated
  size_t name_len = 0;
  const uint8_t* payload = nullptr;  // points into the decoded buffer
  size_t payload_len = 0;
};

// The TC_CHANNEL_* a kind travels on.
int32_t channel_of(MessageKind kind);

// Appends the encoded message to *out (cleared first). name/payload come from m; a name over
// kMaxName bytes is a programming error (callers check) and is cut.
void encode_message(const Message& m, std::string* out);

// Reads buf; on success fills *m (pointing into buf) and returns true. False for a short or
// unknown message (another version, a foreign publisher on our channel).
bool decode_message(const uint8_t* buf, size_t len, Message* m);

}  // namespace tc
