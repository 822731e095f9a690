// The PROXY protocol header parser (core/proxy_protocol.h), socket-free: v1 and v2 headers as a
// balancer sends them, in one piece and byte by byte, the bytes after the header left for the
// connection, and what is refused (not a header, malformed, too long).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/proxy_protocol.h"

#if !defined(_WIN32)
#include <arpa/inet.h>
#endif

namespace {

using ts::ProxyHeaderParser;
using Status = ProxyHeaderParser::Status;

std::vector<uint8_t> bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

std::vector<uint8_t> v2(uint8_t command, uint8_t family, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> h = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
                            static_cast<uint8_t>(0x20 | command), family,
                            static_cast<uint8_t>(body.size() >> 8),
                            static_cast<uint8_t>(body.size() & 0xFF)};
  h.insert(h.end(), body.begin(), body.end());
  return h;
}

std::string ip_of(const ProxyHeaderParser& p, unsigned* port) {
  char text[64] = "";
  const sockaddr* a = p.address();
  if (a->sa_family == AF_INET) {
    auto* v4 = reinterpret_cast<const sockaddr_in*>(a);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    *port = ntohs(v4->sin_port);
  } else {
    auto* v6 = reinterpret_cast<const sockaddr_in6*>(a);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    *port = ntohs(v6->sin6_port);
  }
  return text;
}

TEST(ProxyProtocolTest, AV1HeaderGivesTheClientAndLeavesTheRest) {
  ProxyHeaderParser p;
  auto in = bytes("PROXY TCP4 192.0.2.7 198.51.100.1 51234 443\r\nHELLO");
  auto r = p.feed(in.data(), in.size());
  ASSERT_EQ(r.status, Status::kDone);
  EXPECT_EQ(r.consumed, in.size() - 5);
  ASSERT_TRUE(p.has_address());
  unsigned port = 0;
  EXPECT_EQ(ip_of(p, &port), "192.0.2.7");
  EXPECT_EQ(port, 51234u);
  EXPECT_EQ(p.version(), 1);
}

TEST(ProxyProtocolTest, AV1Tcp6HeaderByteByByte) {
  ProxyHeaderParser p;
  auto in = bytes("PROXY TCP6 2001:db8::5 2001:db8::1 40000 80\r\n");
  for (size_t i = 0; i + 1 < in.size(); ++i) {
    auto r = p.feed(&in[i], 1);
    ASSERT_EQ(r.status, Status::kNeedMore) << "at byte " << i;
    ASSERT_EQ(r.consumed, 1u);
  }
  auto r = p.feed(&in.back(), 1);
  ASSERT_EQ(r.status, Status::kDone);
  EXPECT_EQ(r.consumed, 1u);
  unsigned port = 0;
  EXPECT_EQ(ip_of(p, &port), "2001:db8::5");
  EXPECT_EQ(port, 40000u);
}

TEST(ProxyProtocolTest, AV1UnknownNamesNobody) {
  ProxyHeaderParser p;
  auto in = bytes("PROXY UNKNOWN\r\n");
  EXPECT_EQ(p.feed(in.data(), in.size()).status, Status::kDone);
  EXPECT_FALSE(p.has_address());
}

TEST(ProxyProtocolTest, AV2Ipv4HeaderWithTlvsGivesTheClient) {
  std::vector<uint8_t> body = {192, 0, 2, 9, 203, 0, 113, 1, 0xC3, 0x50, 0x01, 0xBB,
                               0x04, 0x00, 0x02, 'a', 'b'};  // + a TLV, skipped
  auto in = v2(0x1, 0x11, body);
  in.push_back('X');
  ProxyHeaderParser p;
  for (size_t i = 0; i < 15; ++i) ASSERT_EQ(p.feed(&in[i], 1).status, Status::kNeedMore);
  auto r = p.feed(&in[15], in.size() - 15);
  ASSERT_EQ(r.status, Status::kDone);
  EXPECT_EQ(r.consumed, in.size() - 15 - 1);  // 'X' belongs to the connection
  unsigned port = 0;
  EXPECT_EQ(ip_of(p, &port), "192.0.2.9");
  EXPECT_EQ(port, 50000u);
  EXPECT_EQ(p.version(), 2);
}

TEST(ProxyProtocolTest, AV2Ipv6Header) {
  std::vector<uint8_t> body(36, 0);
  body[0] = 0x20, body[1] = 0x01, body[2] = 0x0d, body[3] = 0xb8, body[15] = 0x07;
  body[32] = 0x1F, body[33] = 0x90;  // source port 8080
  auto in = v2(0x1, 0x21, body);
  ProxyHeaderParser p;
  ASSERT_EQ(p.feed(in.data(), in.size()).status, Status::kDone);
  unsigned port = 0;
  EXPECT_EQ(ip_of(p, &port), "2001:db8::7");
  EXPECT_EQ(port, 8080u);
}

TEST(ProxyProtocolTest, AV2LocalCommandKeepsTheConnectionsAddress) {
  auto in = v2(0x0, 0x00, {});
  ProxyHeaderParser p;
  EXPECT_EQ(p.feed(in.data(), in.size()).status, Status::kDone);
  EXPECT_FALSE(p.has_address());
}

TEST(ProxyProtocolTest, WhatIsNoHeaderIsRefusedWithAReason) {
  const std::vector<std::string> bad = {
      "GET / HTTP/1.1\r\n",                       // not through the balancer
      "PROXY TCP4 1.2.3.4\r\n",                   // v1: fields missing
      "PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n",     // v1: bad address
      "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",       // v1: not TCP
      "PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n",   // v1: port out of range
      "PROXY TCP4 " + std::string(120, '1'),      // v1: longer than 107 bytes
  };
  for (const std::string& text : bad) {
    ProxyHeaderParser p;
    auto in = bytes(text);
    EXPECT_EQ(p.feed(in.data(), in.size()).status, Status::kInvalid) << text;
    EXPECT_FALSE(p.error().empty());
  }
  ProxyHeaderParser p2;
  auto in = v2(0x1, 0x11, {});
  in[12] = 0x31;  // version 3
  EXPECT_EQ(p2.feed(in.data(), in.size()).status, Status::kInvalid);
  ProxyHeaderParser p3;
  auto udp = v2(0x1, 0x12, std::vector<uint8_t>(12, 0));  // UDP over IPv4
  EXPECT_EQ(p3.feed(udp.data(), udp.size()).status, Status::kInvalid);
}

}  // namespace
