// Support for the Windows smoke test (runs natively or under Wine): a tiny check/report
// framework, deadline waits, blocking Winsock clients, and a poll-driven multi-connection echo
// checker. Everything connects to 127.0.0.1.
#pragma once
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
// kernel32's GetVersion (in <windows.h>) clashes with tcpserver.h's: hide it while including.
#define GetVersion GetVersion_kernel32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#undef GetVersion

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tcpserver.h"

namespace smoke {

// ---- checks ----
// Records a failure of the running test (with file:line and the message); the test goes on.
void check(bool ok, const char* expr, const char* file, int line, const std::string& note = "");
#define CHECK(expr) ::smoke::check((expr), #expr, __FILE__, __LINE__)
#define CHECK_MSG(expr, note) ::smoke::check((expr), #expr, __FILE__, __LINE__, (note))

struct TestCase {
  const char* name;
  void (*fn)();
};
// Runs every test (or those whose name contains `filter`), prints one line per test and
// "N passed, M failed"; returns the number failed.
int run_tests(const std::vector<TestCase>& tests, const char* filter);

// ---- time ----
uint64_t now_ms();
// Polls `pred` every 5 ms until it holds or `timeout_ms` passes; returns its last value.
bool wait_until(const std::function<bool()>& pred, int timeout_ms = 10000);

// ---- clients ----
uint8_t pattern(uint64_t seed, uint64_t i);  // byte i of the deterministic stream `seed`

class Client {
 public:
  // Connects to 127.0.0.1:port with send/receive timeouts; ok() tells whether it worked.
  // rcvbuf > 0 shrinks the receive buffer first (to make the server's sends back up).
  explicit Client(uint32_t port, int timeout_ms = 10000, int rcvbuf = 0);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  bool ok() const { return s_ != INVALID_SOCKET; }
  bool send_all(const void* data, size_t len);
  bool send_str(const std::string& s) { return send_all(s.data(), s.size()); }
  bool recv_exact(void* out, size_t n);  // false on EOF, reset or timeout
  std::string recv_n(size_t n);          // "" on failure
  bool wait_closed(int timeout_ms = 10000);  // EOF or reset within the timeout (data discarded)
  void reset();                          // abortive close (RST)
  void close();
  SOCKET sock() const { return s_; }

 private:
  SOCKET s_ = INVALID_SOCKET;
};

struct EchoResult {
  int errors = 0;
  uint64_t verified = 0;
  std::string first_error;
};
// `connections` clients at once (one thread, WSAPoll): each sends `bytes` of pattern(seed=i)
// in chunks of 1..max_chunk and checks the echo byte by byte, then closes.
EchoResult echo_many(uint32_t port, int connections, size_t bytes, size_t max_chunk,
                     int timeout_ms);

}  // namespace smoke
