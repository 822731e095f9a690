// Socket addresses, the same for both backends: listen-address text to sockaddr, and a peer's
// sockaddr to TcpLink.RemoteIP / RemotePort.
#pragma once
#include <cstdint>
#include <string>

#if defined(_WIN32)
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include "core/link.h"

namespace ts {

// "" = all interfaces (IPv6 any, dual stack); IPv4 or IPv6 literal, IPv6 optionally in [].
// False if the text is neither.
bool parse_listen_address(const std::string& ip, uint32_t port, sockaddr_storage& addr, int& len);

// RemoteIP as text (IPv4-mapped IPv6 peers shown as IPv4) and RemotePort.
void fill_remote(Link& link, const sockaddr* addr);

}  // namespace ts
