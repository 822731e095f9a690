// The Windows half of platform/socket.h: Winsock calls and error meanings. Stateless; any
// thread.
//
// Listener options: Windows rebinds a port held by TIME_WAIT connections without SO_REUSEADDR
// (whose Windows meaning is "share the port"), so TS_OPT_REUSEADDR needs nothing here; the
// listener takes the port exclusively (SO_EXCLUSIVEADDRUSE) unless TS_OPT_REUSEPORT asks for
// sharing, which is SO_REUSEADDR on Windows.
#include "platform/socket.h"

#include <mstcpip.h>
#include <windows.h>

namespace ts {

socket_t open_tcp_socket(int family) {
  SOCKET s = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL)  // before Windows 7 SP1
    s = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
  return s;
}

void reset_on_close(socket_t s) {
  linger lg{1, 0};
  setsockopt(s, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&lg), sizeof lg);
}

void close_socket(socket_t s, bool reset) {
  if (reset) reset_on_close(s);
  closesocket(s);
}

int last_socket_error() { return WSAGetLastError(); }

uint32_t bound_port(socket_t s) {
  sockaddr_storage bound{};
  int len = sizeof bound;
  if (getsockname(s, reinterpret_cast<sockaddr*>(&bound), &len) != 0) return 0;
  return ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                          : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
}

void set_listener_reuse(socket_t s, bool reuse_addr, bool reuse_port) {
  (void)reuse_addr;  // see the top of the file
  DWORD one = 1;
  setsockopt(s, SOL_SOCKET, reuse_port ? SO_REUSEADDR : SO_EXCLUSIVEADDRUSE,
             reinterpret_cast<const char*>(&one), sizeof one);
}

void set_ipv6_only(socket_t s, bool on) {
  DWORD v = on ? 1 : 0;  // explicit either way (Windows defaults to IPv6 only)
  setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, reinterpret_cast<const char*>(&v), sizeof v);
}

// SO_KEEPALIVE with the server's timing. SIO_KEEPALIVE_VALS (every Windows) sets the idle time
// and the interval; the probe count is a socket option only from Windows 10 1703 (before, the
// OS uses 10), so its failure on older systems is expected and ignored.
void apply_link_options(socket_t s, const LinkSocketOptions& o) {
  DWORD one = 1;
  if (o.no_delay)
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one), sizeof one);
  if (!o.keep_alive) return;
  setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, reinterpret_cast<const char*>(&one), sizeof one);
  tcp_keepalive vals{};
  vals.onoff = 1;
  vals.keepalivetime = static_cast<ULONG>(o.keep_alive_idle_s) * 1000;
  vals.keepaliveinterval = static_cast<ULONG>(o.keep_alive_interval_s) * 1000;
  DWORD bytes = 0;
  WSAIoctl(s, SIO_KEEPALIVE_VALS, &vals, sizeof vals, nullptr, 0, &bytes, nullptr, nullptr);
#if defined(TCP_KEEPCNT)
  DWORD probes = static_cast<DWORD>(o.keep_alive_count);
  setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, reinterpret_cast<const char*>(&probes), sizeof probes);
#endif
}

bool is_family_unsupported(int err) { return err == WSAEAFNOSUPPORT || err == WSAEPROTONOSUPPORT; }
// WSAEACCES: another socket holds the port exclusively.
bool is_address_in_use(int err) { return err == WSAEADDRINUSE || err == WSAEACCES; }
bool is_address_unavailable(int err) { return err == WSAEADDRNOTAVAIL; }
bool is_privileged_port_error(int) { return false; }
bool is_reset_error(int err) {
  return err == WSAECONNRESET || err == WSAECONNABORTED || err == WSAENETRESET ||
         err == WSAEDISCON || err == WSAESHUTDOWN;
}

}  // namespace ts
