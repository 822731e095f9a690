// The POSIX half of platform/socket.h: socket calls and error meanings on Linux. Stateless;
// any thread.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "platform/socket.h"

namespace ts {

socket_t open_tcp_socket(int family) {
  return ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

void reset_on_close(socket_t s) {
  linger lg{1, 0};
  ::setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

void close_socket(socket_t s, bool reset) {
  if (reset) reset_on_close(s);
  ::close(s);
}

int last_socket_error() { return errno; }

uint32_t bound_port(socket_t s) {
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(s, reinterpret_cast<sockaddr*>(&bound), &len) != 0) return 0;
  return ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                          : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
}

void set_listener_reuse(socket_t s, bool reuse_addr, bool reuse_port) {
  int one = 1;
  if (reuse_addr) ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) ::setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
}

void set_ipv6_only(socket_t s, bool on) {
  int v = on ? 1 : 0;  // explicit either way: the system default (net.ipv6.bindv6only) may differ
  ::setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v);
}

void apply_link_options(socket_t s, const LinkSocketOptions& o) {
  int one = 1;
  if (o.no_delay) ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!o.keep_alive) return;
  ::setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  ::setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &o.keep_alive_idle_s, sizeof o.keep_alive_idle_s);
  ::setsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &o.keep_alive_interval_s,
               sizeof o.keep_alive_interval_s);
  ::setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &o.keep_alive_count, sizeof o.keep_alive_count);
}

bool is_family_unsupported(int err) { return err == EAFNOSUPPORT || err == EPROTONOSUPPORT; }
bool is_address_in_use(int err) { return err == EADDRINUSE; }
bool is_address_unavailable(int err) { return err == EADDRNOTAVAIL; }
bool is_privileged_port_error(int err) { return err == EACCES; }
bool is_reset_error(int err) { return err == ECONNRESET || err == EPIPE; }

}  // namespace ts
