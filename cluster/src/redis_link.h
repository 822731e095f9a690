// One connection to Redis through hiredis (blocking mode, every read and write bounded by a
// timeout): connect, AUTH, SELECT. Owned and used by one thread (the publishing or the
// subscribing one); interrupt() may be called from any thread, to make a blocked call return.
#pragma once
#include <hiredis/hiredis.h>

#include <mutex>
#include <string>

#include "redis_url.h"

namespace tc {

class RedisLink {
 public:
  RedisLink() = default;
  ~RedisLink() { close(); }
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Connects (waiting at most timeout_ms, which then bounds every read and write), sends AUTH
  // when the URL has a password and SELECT when select_db. False with *error saying what
  // failed and what to check.
  bool open(const RedisUrl& url, int timeout_ms, bool select_db, std::string* error);
  void close();
  redisContext* ctx() const { return c_; }
  // Shuts the socket down so that a read or write blocked in another thread fails at once.
  void interrupt();

 private:
  std::mutex mu_;  // c_ against interrupt()
  redisContext* c_ = nullptr;
};

// "PUBLISH: Connection reset by peer" style text for a failed hiredis call on c.
std::string link_error(redisContext* c, const char* what);

}  // namespace tc
