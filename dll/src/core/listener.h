// Opening the listening socket, the same for every backend: address parsing, the IPv6 to IPv4
// fallback for "all interfaces", the reuse and IPv6-only options, bind and listen, and the
// error texts. Called by Server::start (the starting thread).
#pragma once
#include <cstdint>
#include <string>

#include "platform/socket.h"

namespace ts {

struct ListenSpec {
  std::string ip;  // empty = all interfaces
  uint32_t port = 0;
  int backlog = 1024;
  bool reuse_addr = true;
  bool reuse_port = false;
  bool ipv6_only = false;  // IPV6_V6ONLY for an IPv6 or empty ip
};

struct Listener {
  socket_t sock = kNoSocket;
  int family = 0;     // AF_INET or AF_INET6: accepted sockets are of the same family
  uint32_t port = 0;  // the bound port (the ephemeral one for port 0)
};

// A bound, listening socket; false with the error set (TS_ERR_BAD_ADDRESS,
// TS_ERR_ADDRESS_IN_USE, TS_ERR_SOCKET) and nothing left open.
bool open_listener(const ListenSpec& spec, Listener* out);

}  // namespace ts
