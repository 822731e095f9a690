// Admission of new connections (see core/admission.h). Any thread.
#include "core/admission.h"

#include <algorithm>
#include <cstring>

namespace ts {

AddressKey address_key(const sockaddr* addr) {
  AddressKey k;
  if (!addr) return k;
  if (addr->sa_family == AF_INET) {
    uint32_t v4;
    std::memcpy(&v4, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, 4);
    k.value = (uint64_t{1} << 32) | v4;
    k.family = 4;
  } else if (addr->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr.s6_addr;
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a, kMapped, 12) == 0) {  // a dual-stack IPv4 peer counts as that IPv4
      uint32_t v4;
      std::memcpy(&v4, a + 12, 4);
      k.value = (uint64_t{1} << 32) | v4;
      k.family = 4;
    } else {  // one /64: what one subscriber usually holds
      std::memcpy(&k.value, a, 8);
      k.family = 6;
    }
  }
  return k;
}

bool AddressLimits::try_add(const AddressKey& key, uint32_t limit, uint32_t* held) {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t& n = counts_[key];
  if (n >= limit) {
    *held = n;
    if (n == 0) counts_.erase(key);
    return false;
  }
  ++n;
  return true;
}

void AddressLimits::remove(const AddressKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(key);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

size_t AddressLimits::addresses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_.size();
}

void AcceptRate::set_rate(uint32_t per_second) {
  std::lock_guard<std::mutex> lock(mu_);
  rate_ = per_second;
  tokens_ = per_second;
  last_ms_ = 0;
}

bool AcceptRate::try_take(uint64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (rate_ == 0) return true;
  if (last_ms_ != 0 && now_ms > last_ms_)
    tokens_ = std::min<double>(rate_, tokens_ + (now_ms - last_ms_) * (rate_ / 1000.0));
  last_ms_ = now_ms;
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

}  // namespace ts
