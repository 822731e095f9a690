// ProxyHeaderParser (core/proxy_protocol.h): PROXY protocol v1 and v2 headers. Pure; one
// thread at a time.
#include "core/proxy_protocol.h"

#include <cstdio>
#include <cstring>

#if !defined(_WIN32)
#include <arpa/inet.h>
#endif

namespace ts {
namespace {
const uint8_t kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
const char kV1Prefix[] = "PROXY ";
constexpr size_t kV1Max = 107;
}  // namespace

ProxyHeaderParser::Result ProxyHeaderParser::invalid(const char* why) {
  error_ = why;
  return Result{Status::kInvalid, 0};
}

ProxyHeaderParser::Result ProxyHeaderParser::feed(const uint8_t* data, size_t len) {
  const size_t before = buf_.size();
  // Take at most what a header can be; the parsers give back what belongs to the connection.
  size_t take = len < kMaxHeader - before ? len : kMaxHeader - before;
  buf_.append(reinterpret_cast<const char*>(data), take);
  const size_t have = buf_.size();
  // Which version: decided by the first bytes, as soon as they tell.
  const size_t v2_seen = have < sizeof kV2Signature ? have : sizeof kV2Signature;
  const size_t v1_seen = have < sizeof kV1Prefix - 1 ? have : sizeof kV1Prefix - 1;
  const bool maybe_v2 = std::memcmp(buf_.data(), kV2Signature, v2_seen) == 0;
  const bool maybe_v1 = std::memcmp(buf_.data(), kV1Prefix, v1_seen) == 0;
  if (!maybe_v1 && !maybe_v2)
    return invalid("the connection does not start with a PROXY protocol header (v1 or v2): it did "
                   "not come through the load balancer, or the balancer does not send one");
  if (maybe_v2 && have >= sizeof kV2Signature) return parse_v2(before);
  if (maybe_v1 && have >= sizeof kV1Prefix - 1) return parse_v1(before);
  return Result{Status::kNeedMore, take};
}

ProxyHeaderParser::Result ProxyHeaderParser::parse_v1(size_t before) {
  const size_t end = buf_.find("\r\n");
  if (end == std::string::npos) {
    if (buf_.size() >= kV1Max) return invalid("a PROXY v1 header longer than 107 bytes");
    return Result{Status::kNeedMore, buf_.size() - before};
  }
  if (end + 2 > kV1Max) return invalid("a PROXY v1 header longer than 107 bytes");
  version_ = 1;
  std::string line = buf_.substr(0, end);
  const size_t consumed = end + 2 - before;
  char proto[8] = "", src[64] = "", dst[64] = "";
  unsigned sport = 0, dport = 0;
  if (line.compare(0, 13, "PROXY UNKNOWN") == 0) return Result{Status::kDone, consumed};
  if (std::sscanf(line.c_str(), "PROXY %7s %63s %63s %u %u", proto, src, dst, &sport, &dport) != 5 ||
      sport > 65535 || dport > 65535)
    return invalid("a malformed PROXY v1 header");
  std::memset(&addr_, 0, sizeof addr_);
  if (std::strcmp(proto, "TCP4") == 0) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr_);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(sport));
    if (inet_pton(AF_INET, src, &a->sin_addr) != 1) return invalid("a PROXY v1 header with a bad IPv4 address");
  } else if (std::strcmp(proto, "TCP6") == 0) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr_);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(sport));
    if (inet_pton(AF_INET6, src, &a->sin6_addr) != 1) return invalid("a PROXY v1 header with a bad IPv6 address");
  } else {
    return invalid("a PROXY v1 header with an unknown protocol (TCP4, TCP6 or UNKNOWN)");
  }
  has_address_ = true;
  return Result{Status::kDone, consumed};
}

ProxyHeaderParser::Result ProxyHeaderParser::parse_v2(size_t before) {
  if (buf_.size() < 16) return Result{Status::kNeedMore, buf_.size() - before};
  const auto* p = reinterpret_cast<const uint8_t*>(buf_.data());
  if ((p[12] >> 4) != 2) return invalid("a PROXY v2 header with a version other than 2");
  const unsigned command = p[12] & 0x0F;
  const unsigned family = p[13];
  const size_t length = (static_cast<size_t>(p[14]) << 8) | p[15];
  if (16 + length > kMaxHeader) return invalid("a PROXY v2 header longer than 4 KiB");
  if (buf_.size() < 16 + length) return Result{Status::kNeedMore, buf_.size() - before};
  version_ = 2;
  const size_t consumed = 16 + length - before;
  if (command == 0x0) return Result{Status::kDone, consumed};  // LOCAL: the balancer itself
  if (command != 0x1) return invalid("a PROXY v2 header with an unknown command");
  std::memset(&addr_, 0, sizeof addr_);
  if (family == 0x11 && length >= 12) {  // TCP over IPv4: src, dst, sport, dport
    auto* a = reinterpret_cast<sockaddr_in*>(&addr_);
    a->sin_family = AF_INET;
    std::memcpy(&a->sin_addr, p + 16, 4);
    std::memcpy(&a->sin_port, p + 24, 2);
    has_address_ = true;
  } else if (family == 0x21 && length >= 36) {  // TCP over IPv6
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr_);
    a->sin6_family = AF_INET6;
    std::memcpy(&a->sin6_addr, p + 16, 16);
    std::memcpy(&a->sin6_port, p + 48, 2);
    has_address_ = true;
  } else if (family != 0x00) {  // UNSPEC: keep the connection's address; others are not TCP
    return invalid("a PROXY v2 header for something other than TCP over IPv4/IPv6");
  }
  return Result{Status::kDone, consumed};
}

}  // namespace ts
