// Opening the listening socket for every backend (see core/listener.h). The starting thread.
#include "core/listener.h"

#include <cstring>

#include "core/errors.h"
#include "tcpserver.h"

#if !defined(_WIN32)
#include <arpa/inet.h>
#endif

namespace ts {

bool open_listener(const ListenSpec& spec, Listener* out) {
  sockaddr_storage addr;
  int len = 0;
  if (!parse_listen_address(spec.ip, spec.port, addr, len))
    return fail(TS_ERR_BAD_ADDRESS,
                "'%s' is not an IPv4 or IPv6 address literal (use e.g. 127.0.0.1, ::1, or an "
                "empty string for all interfaces)",
                spec.ip.c_str());
  socket_t s = open_tcp_socket(addr.ss_family);
  if (s == kNoSocket && spec.ip.empty()) {
    int e = last_socket_error();
    if (spec.ipv6_only)
      return fail(TS_ERR_SOCKET,
                  "TS_OPT_IPV6_ONLY=1 with an empty IP, but this machine has no IPv6 (%s); set "
                  "TS_OPT_IPV6_ONLY=0 or give an IPv4 address",
                  os_error_text(e));
    if (is_family_unsupported(e)) {  // no IPv6 here: IPv4 any
      auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
      std::memset(&addr, 0, sizeof addr);
      v4->sin_family = AF_INET;
      v4->sin_addr.s_addr = htonl(INADDR_ANY);
      v4->sin_port = htons(static_cast<uint16_t>(spec.port));
      len = sizeof *v4;
      s = open_tcp_socket(AF_INET);
    }
  }
  if (s == kNoSocket) {
    int e = last_socket_error();
    return fail(TS_ERR_SOCKET, "socket() failed: %s", os_error_text(e));
  }
  if (addr.ss_family == AF_INET6) set_ipv6_only(s, spec.ipv6_only);
  set_listener_reuse(s, spec.reuse_addr, spec.reuse_port);
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    int e = last_socket_error();
    close_socket(s, false);
    const char* shown = spec.ip.empty() ? "all interfaces" : spec.ip.c_str();
    if (is_address_in_use(e))
      return fail(TS_ERR_ADDRESS_IN_USE,
                  "port %u on %s is already in use: stop the program holding it or pick another "
                  "port (0 = any free port)",
                  spec.port, shown);
    if (is_address_unavailable(e))
      return fail(TS_ERR_BAD_ADDRESS, "%s is not an address of this machine", shown);
    return fail(TS_ERR_SOCKET, "bind(%s port %u) failed: %s%s", shown, spec.port, os_error_text(e),
                is_privileged_port_error(e) ? " (ports below 1024 need privileges)" : "");
  }
  if (::listen(s, spec.backlog) != 0) {
    int e = last_socket_error();
    close_socket(s, false);
    return fail(TS_ERR_SOCKET, "listen() failed: %s", os_error_text(e));
  }
  out->sock = s;
  out->family = addr.ss_family;
  out->port = bound_port(s);
  return true;
}

}  // namespace ts
