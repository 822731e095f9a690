// A private redis-server process for tests and benchmarks (see redis_server.h). The test's
// thread.
#include "redis_server.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#ifndef TC_REDIS_SERVER
#define TC_REDIS_SERVER ""
#endif

namespace tctest {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

namespace {

std::string reply_text(redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: return std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "(nil)";
    case REDIS_REPLY_ERROR: return "ERR " + std::string(r->str, r->len);
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < r->elements; ++i) out += (i ? " " : "") + reply_text(r->element[i]);
      return out;
    }
  }
  return "?";
}

}  // namespace

const char* redis_server_path() { return TC_REDIS_SERVER; }

RedisServer::~RedisServer() {
  disconnect();
  kill9();
  if (!dir_.empty()) {
    std::string cmd = "rm -rf '" + dir_ + "'";
    int rc = std::system(cmd.c_str());
    (void)rc;
  }
}

bool RedisServer::spawn(std::string* error) {
  if (!*redis_server_path()) {
    *error = "redis-server was not found when CMake ran: install Debian's redis-server "
             "(scripts/deps.sh lists it) and configure again";
    return false;
  }
  std::vector<std::string> args = {redis_server_path(), "--port", std::to_string(port_),
                                   "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                   "--daemonize", "no", "--dir", dir_, "--logfile",
                                   dir_ + "/redis.log", "--protected-mode", "yes"};
  args.insert(args.end(), extra_.begin(), extra_.end());
  pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a test killed by a timeout leaves no Redis behind
    if (::getppid() == 1) ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  return wait_ready(error);
}

bool RedisServer::wait_ready(std::string* error) {
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      *error = "redis-server exited at start (port " + std::to_string(port_) + " taken?); see " +
               dir_ + "/redis.log";
      return false;
    }
    timeval tv{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c && !c->err) {
      redisReply* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      bool ok = r && r->type == REDIS_REPLY_STATUS;
      if (r) freeReplyObject(r);
      if (ok) {
        disconnect();
        client_ = c;
        return true;
      }
    }
    if (c) redisFree(c);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *error = "redis-server on port " + std::to_string(port_) + " did not answer PING within 20 s";
  return false;
}

bool RedisServer::start(std::string* error, const std::vector<std::string>& extra_args) {
  extra_ = extra_args;
  char tmpl[] = "/tmp/tcpcluster-redis-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    *error = std::string("mkdtemp: ") + std::strerror(errno);
    return false;
  }
  dir_ = tmpl;
  for (int attempt = 0; attempt < 5; ++attempt) {  // another process may take the port first
    port_ = free_tcp_port();
    if (spawn(error)) return true;
  }
  return false;
}

bool RedisServer::restart(std::string* error) {
  disconnect();
  kill9();
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (true) {  // the port is free again at once (SO_REUSEADDR), unless someone took it
    if (spawn(error)) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void RedisServer::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  disconnect();
  ::kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  int status;
  while (::waitpid(pid_, &status, WNOHANG) != pid_) {
    if (Clock::now() > deadline) {
      kill9();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
}

void RedisServer::disconnect() {
  if (client_) redisFree(client_);
  client_ = nullptr;
}

std::string RedisServer::command(const std::vector<std::string>& argv) {
  std::vector<const char*> a;
  std::vector<size_t> lens;
  for (auto& s : argv) {
    a.push_back(s.data());
    lens.push_back(s.size());
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!client_) {
      timeval tv{5, 0};
      client_ = redisConnectWithTimeout("127.0.0.1", port_, tv);
      if (!client_ || client_->err) {
        std::string why = client_ ? client_->errstr : "out of memory";
        disconnect();
        return "IOERR " + why;
      }
      redisSetTimeout(client_, tv);
    }
    redisReply* r = static_cast<redisReply*>(
        redisCommandArgv(client_, static_cast<int>(a.size()), a.data(), lens.data()));
    if (r) {
      std::string text = reply_text(r);
      freeReplyObject(r);
      return text;
    }
    disconnect();
  }
  return "IOERR no reply";
}

}  // namespace tctest
