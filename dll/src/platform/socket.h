// Sockets as the core and the backends use them, one interface for every OS: the handle type,
// opening, closing, the options of listening and accepted sockets, address text, and what an OS
// error code means. The POSIX part is platform/socket_posix.cpp, the Windows part
// platform/socket_win.cpp; addresses (platform/socket_address.cpp) are common. Stateless
// functions: any thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#if defined(_WIN32)
// kernel32's GetVersion (in <windows.h>, which winsock2.h includes) clashes with tcpserver.h's:
// hide it while including.
#define GetVersion GetVersion_kernel32
#include <winsock2.h>
#include <ws2tcpip.h>
#undef GetVersion
#else
#include <netinet/in.h>
#include <sys/socket.h>
#endif

namespace ts {

#if defined(_WIN32)
using socket_t = uintptr_t;  // SOCKET
constexpr socket_t kNoSocket = ~static_cast<uintptr_t>(0);
#else
using socket_t = int;
constexpr socket_t kNoSocket = -1;
#endif

// ---- addresses (platform/socket_address.cpp) ----

// "" = all interfaces (IPv6 any, dual stack); IPv4 or IPv6 literal, IPv6 optionally in [].
// False if the text is neither.
bool parse_listen_address(const std::string& ip, uint32_t port, sockaddr_storage& addr, int& len);
// A peer address as text (IPv4-mapped IPv6 peers shown as IPv4) and its port; "" and 0 for
// an unknown family.
void format_address(const sockaddr* addr, char* text, size_t text_size, uint32_t* port);

// ---- sockets (socket_posix.cpp / socket_win.cpp) ----

// A TCP socket for listening or accepting: non-blocking and close-on-exec on POSIX; overlapped
// and not inherited on Windows. kNoSocket on failure (last_socket_error() tells why).
socket_t open_tcp_socket(int family);
// Closes `s`; with `reset`, SO_LINGER {on, 0} first, so the peer gets a reset instead of the
// data still unsent (the application asked to drop what is pending).
void close_socket(socket_t s, bool reset);
// SO_LINGER {on, 0}: closing `s` then resets the connection (close_socket's `reset`, for a
// backend that closes the descriptor another way).
void reset_on_close(socket_t s);
int last_socket_error();
// The port a bound socket listens on.
uint32_t bound_port(socket_t s);

// The listener's address reuse, with each OS's meaning (see socket_win.cpp: Windows takes the
// port exclusively unless sharing is asked for).
void set_listener_reuse(socket_t s, bool reuse_addr, bool reuse_port);
void set_ipv6_only(socket_t s, bool on);

struct LinkSocketOptions {
  bool no_delay = true;
  bool keep_alive = false;
  int keep_alive_idle_s = 60;
  int keep_alive_interval_s = 10;
  int keep_alive_count = 5;
};
// TCP_NODELAY and keep-alive with its timing, on an accepted socket.
void apply_link_options(socket_t s, const LinkSocketOptions& o);

// ---- what an OS error code means ----
bool is_family_unsupported(int err);  // no IPv6 on this machine, say
bool is_address_in_use(int err);      // bind: the port is taken
bool is_address_unavailable(int err); // bind: not an address of this machine
bool is_privileged_port_error(int err);  // bind: ports below 1024 need privileges
// The peer reset or aborted the connection (or a send found it gone).
bool is_reset_error(int err);

}  // namespace ts
