// A private redis-server for one test (or one benchmark run): started on 127.0.0.1 on a free
// port with no persistence, killed (-9) or stopped, restarted on the same port; plus one
// blocking hiredis connection to send it commands (CONFIG SET, CLIENT PAUSE, GET ...). Never
// the system's Redis service. Every wait has a deadline. No GoogleTest here, so the benchmark
// uses it too. Called by the test's own thread.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

struct redisContext;

namespace tctest {

class RedisServer {
 public:
  RedisServer() = default;
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts redis-server on a free port (extra "--name value" pairs in extra_args) and waits
  // until it answers PING. False with *error.
  bool start(std::string* error, const std::vector<std::string>& extra_args = {});
  // Starts it again on the same port (after kill9 or stop).
  bool restart(std::string* error);
  void kill9();  // SIGKILL: the broker vanishes, as in a crash
  void stop();   // SIGTERM and wait (a SIGKILL after 10 s)
  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  // One command (argv form); the reply as text: a string or status as is, an integer in
  // decimal, nil as "(nil)", an error as "ERR <text>", an array as its elements joined by ' '.
  // A broken connection is opened again once; if that fails the result is "IOERR <text>".
  std::string command(const std::vector<std::string>& argv);

 private:
  bool spawn(std::string* error);
  bool wait_ready(std::string* error);
  void disconnect();

  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
  std::vector<std::string> extra_;
  redisContext* client_ = nullptr;
};

// A TCP port free on 127.0.0.1 right now (0 if none could be found).
int free_tcp_port();

// The path of redis-server (configured by CMake), or "" if it was not found.
const char* redis_server_path();

}  // namespace tctest
