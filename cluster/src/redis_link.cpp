// A hiredis connection with AUTH and SELECT (see redis_link.h). The owning thread, plus
// interrupt() from any thread.
#include "redis_link.h"

#include <sys/socket.h>
#include <sys/time.h>

namespace tc {

std::string link_error(redisContext* c, const char* what) {
  std::string text(what);
  text += ": ";
  text += c && c->err ? c->errstr : "no connection";
  return text;
}

bool RedisLink::open(const RedisUrl& url, int timeout_ms, bool select_db, std::string* error) {
  close();
  timeval tv;
  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  redisContext* c = redisConnectWithTimeout(url.host.c_str(), url.port, tv);
  if (!c) {
    *error = "cannot connect to Redis at " + url.where() + ": out of memory";
    return false;
  }
  if (c->err) {
    *error = "cannot connect to Redis at " + url.where() + ": " + c->errstr +
             " (is redis-server running there, and reachable from this machine?)";
    redisFree(c);
    return false;
  }
  redisSetTimeout(c, tv);
  redisEnableKeepAlive(c);
  auto command = [&](const char* what, redisReply* r) -> bool {
    if (!r) {
      *error = "Redis at " + url.where() + ": " + link_error(c, what);
      return false;
    }
    bool ok = r->type != REDIS_REPLY_ERROR;
    if (!ok) {
      *error = "Redis at " + url.where() + " refused " + what + ": " + std::string(r->str, r->len);
      if (std::string(what) == "AUTH") *error += " (check the user and password in the URL)";
    }
    freeReplyObject(r);
    return ok;
  };
  bool ok = true;
  if (url.has_password) {
    redisReply* r;
    if (url.user.empty())
      r = static_cast<redisReply*>(redisCommand(c, "AUTH %b", url.password.data(), url.password.size()));
    else
      r = static_cast<redisReply*>(redisCommand(c, "AUTH %b %b", url.user.data(), url.user.size(),
                                                url.password.data(), url.password.size()));
    ok = command("AUTH", r);
  }
  if (ok && select_db && url.db != 0)
    ok = command("SELECT", static_cast<redisReply*>(redisCommand(c, "SELECT %lld", (long long)url.db)));
  if (!ok) {
    redisFree(c);
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  c_ = c;
  return true;
}

void RedisLink::close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (c_) redisFree(c_);
  c_ = nullptr;
}

void RedisLink::interrupt() {
  std::lock_guard<std::mutex> lock(mu_);
  if (c_ && c_->fd >= 0) ::shutdown(c_->fd, SHUT_RDWR);
}

}  // namespace tc
