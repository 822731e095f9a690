// Admission of new connections against floods: connections per remote address
// (TS_OPT_MAX_LINKS_PER_ADDRESS; IPv4 per address, IPv6 per /64, IPv4-mapped IPv6 as IPv4) and
// connections accepted per second (TS_OPT_ACCEPT_RATE, a token bucket with a burst of one
// second's worth). Owned by the Server; accepting workers ask, a link's owner gives its address
// back when the link is released. Any thread (one mutex each, off the data path).
#pragma once
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "platform/socket.h"

namespace ts {

// A remote address as counted: IPv4 (or mapped) in the low 32 bits with bit 32 set, or the top
// 64 bits of an IPv6 address; 0 for an address that is not counted (no family).
struct AddressKey {
  uint64_t value = 0;
  uint8_t family = 0;  // 4, 6, or 0
  bool operator==(const AddressKey& o) const { return value == o.value && family == o.family; }
};
AddressKey address_key(const sockaddr* addr);

class AddressLimits {
 public:
  // Counts one more link for `key` if it holds fewer than `limit`; false if it is at the limit
  // (then `held` tells how many it holds).
  bool try_add(const AddressKey& key, uint32_t limit, uint32_t* held);
  void remove(const AddressKey& key);
  size_t addresses() const;

 private:
  struct Hash {
    size_t operator()(const AddressKey& k) const { return std::hash<uint64_t>()(k.value) ^ k.family; }
  };
  mutable std::mutex mu_;
  std::unordered_map<AddressKey, uint32_t, Hash> counts_;
};

class AcceptRate {
 public:
  void set_rate(uint32_t per_second);  // 0 = no limit; resets the bucket to full
  // Takes one token at `now_ms`; false when the bucket is empty.
  bool try_take(uint64_t now_ms);

 private:
  std::mutex mu_;
  uint32_t rate_ = 0;
  double tokens_ = 0;
  uint64_t last_ms_ = 0;
};

}  // namespace ts
