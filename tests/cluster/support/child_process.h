// A child process with its standard input and output on pipes, for tests that run node
// processes (the C conformance server with --cluster, the chat sample): start, read stdout
// lines with a deadline, write stdin lines, kill -9, or quit and wait. The child dies with
// the test (PR_SET_PDEATHSIG). Called by the test's own thread.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace tctest {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // argv[0] is the program's path. Its stderr goes to the test's stderr.
  bool start(const std::vector<std::string>& argv, std::string* error);
  // The next stdout line (without '\n'); false when none came within timeout or it exited.
  bool read_line(std::string* line, std::chrono::milliseconds timeout);
  // The next stdout line that starts with prefix (others are skipped).
  bool read_line_with(const std::string& prefix, std::string* line, std::chrono::milliseconds timeout);
  bool write_line(const std::string& line);
  void kill9();
  // Writes "quit", waits for the exit (SIGKILL after timeout); true if it exited 0.
  bool quit(std::chrono::milliseconds timeout);
  bool alive() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1;
  std::string buffered_;
};

// The path of a program CMake built (TC_TEST_BIN_DIR) or found.
std::string built_program(const char* name);

}  // namespace tctest
