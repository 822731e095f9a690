// GetLocalIP: an IPv4 address of a local interface, read from the interface list (no
// lookups). Any thread.
#include "platform/local_ip.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/errors.h"
#include "tcpserver.h"

#if defined(_WIN32)
#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
#else
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#endif

namespace ts {
namespace {

bool is_private(uint32_t a) {  // host order
  return (a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8 ||  // RFC 1918
         (a >> 16) == 0xA9FE || (a >> 22) == (0x64400000u >> 22);          // link-local, CGNAT
}

// IPv4 addresses of up interfaces, loopback excluded, in host order.
std::vector<uint32_t> interface_addresses() {
  std::vector<uint32_t> out;
#if defined(_WIN32)
  ULONG size = 16 * 1024;
  std::vector<unsigned char> buf(size);
  auto* list = reinterpret_cast<IP_ADAPTER_ADDRESSES*>(buf.data());
  ULONG flags = GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER;
  if (GetAdaptersAddresses(AF_INET, flags, nullptr, list, &size) == ERROR_BUFFER_OVERFLOW) {
    buf.resize(size);
    list = reinterpret_cast<IP_ADAPTER_ADDRESSES*>(buf.data());
  }
  if (GetAdaptersAddresses(AF_INET, flags, nullptr, list, &size) != NO_ERROR) return out;
  for (auto* a = list; a; a = a->Next) {
    if (a->OperStatus != IfOperStatusUp) continue;
    for (auto* u = a->FirstUnicastAddress; u; u = u->Next) {
      auto* sin = reinterpret_cast<sockaddr_in*>(u->Address.lpSockaddr);
      uint32_t v = ntohl(sin->sin_addr.s_addr);
      if ((v >> 24) != 127) out.push_back(v);
    }
  }
#else
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    uint32_t v = ntohl(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
    if ((v >> 24) != 127) out.push_back(v);
  }
  freeifaddrs(list);
#endif
  return out;
}

}  // namespace

int32_t local_ip(bool internet, char* buf, int32_t buflen) {
  if (!buf || buflen <= 0) return fail(TS_ERR_INVALID_ARGUMENT, "GetLocalIP: no output buffer"), -1;
  std::vector<uint32_t> addrs = interface_addresses();
  uint32_t pick = 0x7F000001;  // 127.0.0.1 when there is nothing else
  bool found = false;
  for (uint32_t a : addrs)
    if (is_private(a) != internet) { pick = a; found = true; break; }
  if (!found && !addrs.empty()) pick = addrs.front();
  char text[16];
  std::snprintf(text, sizeof text, "%u.%u.%u.%u", pick >> 24, (pick >> 16) & 255, (pick >> 8) & 255,
                pick & 255);
  auto len = static_cast<int32_t>(std::strlen(text));
  if (len + 1 > buflen)
    return fail(TS_ERR_BUFFER_TOO_SMALL, "GetLocalIP: the buffer holds %d bytes, %d are needed",
                buflen, len + 1), -1;
  std::memcpy(buf, text, static_cast<size_t>(len) + 1);
  return len;
}

}  // namespace ts
