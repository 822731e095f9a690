// The PROXY protocol (HAProxy's, versions 1 and 2), the header a load balancer puts in front of
// a connection to say whose it is. ts::ProxyHeaderParser is a pure class: bytes in, in whatever
// pieces the reads return; it says when the header is complete, how many bytes it took, and the
// client's address. No socket, no Server; one per connection, one thread at a time.
//
//   v1: "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" (also TCP6, and "PROXY UNKNOWN ...\r\n"),
//       107 bytes at most.
//   v2: the 12-byte signature, version/command, family, a 16-bit length, the addresses and
//       TLVs (TLVs are skipped); the LOCAL command (a balancer's health check) names nobody.
// A connection that does not start with a valid header is refused (kInvalid): with the option
// on, every connection must come through the balancer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#if defined(_WIN32)
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <netinet/in.h>
#include <sys/socket.h>
#endif

namespace ts {

class ProxyHeaderParser {
 public:
  enum class Status : uint8_t {
    kNeedMore,  // everything given was taken; the header is not complete
    kDone,      // complete: the bytes after it (from `consumed`) are the connection's own
    kInvalid,   // not a PROXY header (error() says why)
  };
  struct Result {
    Status status;
    size_t consumed;  // bytes of this call that belonged to the header
  };
  static constexpr size_t kMaxHeader = 4096;  // v2 with TLVs; v1 is at most 107

  Result feed(const uint8_t* data, size_t len);
  // After kDone: whether the header named a client (false for v2 LOCAL and v1 UNKNOWN: keep the
  // connection's own address), and that address (sockaddr_in or sockaddr_in6, port included).
  bool has_address() const { return has_address_; }
  const sockaddr* address() const { return reinterpret_cast<const sockaddr*>(&addr_); }
  int version() const { return version_; }
  const std::string& error() const { return error_; }

 private:
  Result parse_v1(size_t before);
  Result parse_v2(size_t before);
  Result invalid(const char* why);

  std::string buf_;  // the header so far
  sockaddr_storage addr_{};
  bool has_address_ = false;
  int version_ = 0;
  std::string error_;
};

}  // namespace ts
