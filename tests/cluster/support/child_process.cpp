// Child processes for the cluster tests (see child_process.h). The test's thread.
#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#ifndef TC_TEST_BIN_DIR
#define TC_TEST_BIN_DIR "."
#endif

namespace tctest {

using Clock = std::chrono::steady_clock;

std::string built_program(const char* name) { return std::string(TC_TEST_BIN_DIR) + "/" + name; }

ChildProcess::~ChildProcess() {
  kill9();
}

bool ChildProcess::start(const std::vector<std::string>& argv, std::string* error) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  ::signal(SIGPIPE, SIG_IGN);  // writing to a child that died must not kill the test
  pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() == 1) ::_exit(127);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  in_fd_ = in[1];
  out_fd_ = out[0];
  pid_ = pid;
  return true;
}

bool ChildProcess::read_line(std::string* line, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    size_t nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      *line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || out_fd_ < 0) return false;
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) return false;  // it exited
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

bool ChildProcess::read_line_with(const std::string& prefix, std::string* line,
                                  std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || !read_line(line, left)) return false;
    if (line->compare(0, prefix.size(), prefix) == 0) return true;
  }
}

bool ChildProcess::write_line(const std::string& line) {
  std::string text = line + "\n";
  return in_fd_ >= 0 && ::write(in_fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

void ChildProcess::kill9() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (in_fd_ >= 0) ::close(in_fd_);
  if (out_fd_ >= 0) ::close(out_fd_);
  in_fd_ = out_fd_ = -1;
}

bool ChildProcess::quit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return false;
  write_line("quit");
  const auto deadline = Clock::now() + timeout;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) != pid_) {
    if (Clock::now() > deadline) {
      kill9();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  kill9();  // closes the pipes
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace tctest
