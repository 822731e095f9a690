// Address text <-> sockaddr, the same on every OS (inet_pton / inet_ntop exist on both).
#include "platform/socket.h"

#include <cstdio>
#include <cstring>

#if !defined(_WIN32)
#include <arpa/inet.h>
#endif

namespace ts {

bool parse_listen_address(const std::string& ip, uint32_t port, sockaddr_storage& addr, int& len) {
  std::memset(&addr, 0, sizeof addr);
  std::string text = ip;
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  auto nport = htons(static_cast<uint16_t>(port));
  if (text.empty()) {  // all interfaces: IPv6 any with IPv4 mapped in (dual stack)
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_any;
    v6->sin6_port = nport;
    len = sizeof *v6;
    return true;
  }
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = nport;
    len = sizeof *v4;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = nport;
    len = sizeof *v6;
    return true;
  }
  return false;
}

void format_address(const sockaddr* addr, char* text, size_t text_size, uint32_t* port) {
  char buf[INET6_ADDRSTRLEN] = "";
  uint16_t p = 0;
  if (addr && addr->sa_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    p = ntohs(a->sin_port);
  } else if (addr && addr->sa_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(addr);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))  // show dual-stack IPv4 peers as IPv4
      inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], buf, sizeof buf);
    else
      inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    p = ntohs(a->sin6_port);
  }
  std::snprintf(text, text_size, "%s", buf);
  *port = p;
}

}  // namespace ts
