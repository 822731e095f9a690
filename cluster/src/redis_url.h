// Reads a Redis URL: redis://[[user]:password@]host[:port][/db]. Pure (no sockets): the node
// keeps the result and its two threads connect with it. Any thread.
#pragma once
#include <cstdint>
#include <string>

namespace tc {

struct RedisUrl {
  std::string host;      // a name, an IPv4 literal, or an IPv6 literal without brackets
  int port = 6379;
  std::string user;      // empty: AUTH <password> (Redis' default user)
  std::string password;  // empty: no AUTH
  bool has_password = false;
  int64_t db = 0;        // SELECT for the keys (pub/sub ignores databases)

  // "host:port" (IPv6 in brackets) without the credentials, for messages.
  std::string where() const;
};

// Fills *out and returns true; otherwise returns false with *error saying what is wrong and
// what a valid URL looks like. User and password may be percent-encoded (%40 for '@').
bool parse_redis_url(const char* text, RedisUrl* out, std::string* error);

}  // namespace tc
