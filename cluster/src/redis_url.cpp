// Redis URL parsing (see redis_url.h). Pure; any thread.
#include "redis_url.h"

#include <cctype>
#include <cstring>

namespace tc {
namespace {

const char kShape[] = "expected redis://[[user]:password@]host[:port][/db]";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding of the user or password part.
bool percent_decode(const std::string& in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;  // '%' needs two hex digits after it
    int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

bool fail_with(std::string* error, const std::string& text) {
  *error = text;
  return false;
}

}  // namespace

std::string RedisUrl::where() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

bool parse_redis_url(const char* text, RedisUrl* out, std::string* error) {
  if (!text || !*text) return fail_with(error, std::string("the Redis URL is empty: ") + kShape);
  std::string url(text);
  const std::string scheme = "redis://";
  if (url.compare(0, 9, "rediss://") == 0)
    return fail_with(error, "rediss:// (TLS) is not supported: this build's hiredis (0.14) has no "
                            "TLS. Use redis:// and keep Redis on a private network");
  if (url.compare(0, scheme.size(), scheme) != 0)
    return fail_with(error, "'" + url + "' does not start with redis://: " + kShape);
  std::string rest = url.substr(scheme.size());
  RedisUrl r;

  // Credentials: everything before the last '@' (a password may contain '@' only encoded,
  // but the last '@' is the safest split either way).
  size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    std::string cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = cred.find(':');
    std::string user = colon == std::string::npos ? "" : cred.substr(0, colon);
    std::string pass = colon == std::string::npos ? cred : cred.substr(colon + 1);
    if (!percent_decode(user, &r.user) || !percent_decode(pass, &r.password))
      return fail_with(error, "the credentials of the Redis URL have a bad %-escape: write a "
                              "special character as %XX (e.g. %40 for '@')");
    if (r.password.empty())
      return fail_with(error, "the Redis URL has an '@' but no password: " + std::string(kShape));
    r.has_password = true;
  }

  // Database: "/<digits>" at the end (an empty "/" means 0).
  size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    std::string db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      if (!all_digits(db) || db.size() > 9)
        return fail_with(error, "the database '/" + db + "' of the Redis URL is not a number: " + kShape);
      r.db = std::stoll(db);
    }
  }

  // Host and port; an IPv6 literal is in brackets.
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos)
      return fail_with(error, "the IPv6 address of the Redis URL lacks its ']': e.g. redis://[::1]:6379");
    r.host = rest.substr(1, close - 1);
    std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':')
        return fail_with(error, "unexpected '" + after + "' after the IPv6 address: " + kShape);
      port = after.substr(1);
      if (port.empty()) return fail_with(error, "the Redis URL has a ':' but no port: " + std::string(kShape));
    }
  } else {
    size_t colon = rest.find(':');
    r.host = rest.substr(0, colon);
    if (colon != std::string::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) return fail_with(error, "the Redis URL has a ':' but no port: " + std::string(kShape));
      if (port.find(':') != std::string::npos)
        return fail_with(error, "write an IPv6 address in brackets: redis://[::1]:6379");
    }
  }
  if (r.host.empty()) return fail_with(error, "the Redis URL names no host: " + std::string(kShape));
  for (char c : r.host)
    if (std::isspace(static_cast<unsigned char>(c)) || c == '@' || c == '/')
      return fail_with(error, "the host '" + r.host + "' of the Redis URL is not a name or address");
  if (!port.empty()) {
    if (!all_digits(port) || port.size() > 5 || std::stoi(port) < 1 || std::stoi(port) > 65535)
      return fail_with(error, "the port '" + port + "' of the Redis URL is not 1..65535");
    r.port = std::stoi(port);
  }
  *out = r;
  return true;
}

}  // namespace tc
