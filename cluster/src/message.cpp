// Encoding and decoding of cluster messages (see message.h). Pure; any thread.
#include "message.h"

#include "tcpcluster.h"

namespace tc {
namespace {

void put_u64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

void put_name(std::string* out, const char* name, size_t len) {
  if (len > kMaxName) len = kMaxName;
  out->push_back(static_cast<char>(len));
  if (len) out->append(name, len);
}

class Reader {
 public:
  Reader(const uint8_t* buf, size_t len) : p_(buf), end_(buf + len) {}
  bool u8(uint8_t* v) {
    if (end_ - p_ < 1) return false;
    *v = *p_++;
    return true;
  }
  bool u64(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r = (r << 8) | p_[i];
    p_ += 8;
    *v = r;
    return true;
  }
  bool name(const char** s, size_t* len, bool allow_empty) {
    uint8_t n;
    if (!u8(&n) || (!allow_empty && n == 0) || end_ - p_ < n) return false;
    *s = reinterpret_cast<const char*>(p_);
    *len = n;
    p_ += n;
    return true;
  }
  const uint8_t* rest(size_t* len) const {
    *len = static_cast<size_t>(end_ - p_);
    return p_;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace

int32_t channel_of(MessageKind kind) {
  switch (kind) {
    case MessageKind::kBroadcast: return TC_CHANNEL_BROADCAST;
    case MessageKind::kTopic: return TC_CHANNEL_TOPIC;
    case MessageKind::kDirect:
    case MessageKind::kNack: return TC_CHANNEL_DIRECT;
  }
  return 0;
}

void encode_message(const Message& m, std::string* out) {
  out->clear();
  out->reserve(kMessageHeader + 20 + m.name_len + m.payload_len);
  out->push_back(static_cast<char>(kMessageVersion));
  out->push_back(static_cast<char>(m.kind));
  put_u64(out, m.publisher);
  put_u64(out, m.sequence);
  switch (m.kind) {
    case MessageKind::kBroadcast:
      break;
    case MessageKind::kTopic:
      put_name(out, m.name, m.name_len);
      break;
    case MessageKind::kDirect:
      put_u64(out, m.link);
      put_u64(out, m.tag);
      put_name(out, m.name, m.name_len);
      break;
    case MessageKind::kNack:
      put_u64(out, m.tag);
      out->push_back(static_cast<char>(m.reason));
      put_u64(out, m.target_node);
      put_u64(out, m.link);
      put_name(out, m.name, m.name_len);
      return;  // no payload
  }
  if (m.payload_len) out->append(reinterpret_cast<const char*>(m.payload), m.payload_len);
}

bool decode_message(const uint8_t* buf, size_t len, Message* m) {
  Reader r(buf, len);
  uint8_t version, kind;
  Message out;
  if (!r.u8(&version) || version != kMessageVersion || !r.u8(&kind)) return false;
  if (!r.u64(&out.publisher) || !r.u64(&out.sequence) || out.publisher == 0) return false;
  out.kind = static_cast<MessageKind>(kind);
  switch (out.kind) {
    case MessageKind::kBroadcast:
      break;
    case MessageKind::kTopic:
      if (!r.name(&out.name, &out.name_len, false)) return false;
      break;
    case MessageKind::kDirect:
      if (!r.u64(&out.link) || !r.u64(&out.tag) || !r.name(&out.name, &out.name_len, true))
        return false;
      break;
    case MessageKind::kNack: {
      uint8_t reason;
      if (!r.u64(&out.tag) || !r.u8(&reason) || !r.u64(&out.target_node) || !r.u64(&out.link) ||
          !r.name(&out.name, &out.name_len, true))
        return false;
      out.reason = reason;
      size_t left;
      r.rest(&left);
      if (left != 0) return false;
      break;
    }
    default:
      return false;
  }
  out.payload = r.rest(&out.payload_len);
  *m = out;
  return true;
}

}  // namespace tc
