#include "reliability_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "support/wait.h"

namespace tsrel {

int64_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  int64_t kib = -1;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) {
      kib = std::strtoll(line + 6, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kib < 0 ? -1 : kib * 1024;
}

int64_t cpu_time_us() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) { return int64_t{tv.tv_sec} * 1000000 + tv.tv_usec; };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

RunnableMeter::RunnableMeter() {
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/task/") + e->d_name + "/schedstat";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) fds_.push_back(fd);
  }
  closedir(dir);
}

RunnableMeter::~RunnableMeter() {
  for (int fd : fds_) ::close(fd);
}

int64_t RunnableMeter::read_us() const {
  int64_t total_ns = 0;
  bool any = false;
  for (int fd : fds_) {
    char text[128];
    const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    if (n <= 0) continue;  // the thread has ended
    text[n] = '\0';
    unsigned long long on_cpu = 0, waiting = 0;
    if (std::sscanf(text, "%llu %llu", &on_cpu, &waiting) == 2) {
      total_ns += static_cast<int64_t>(on_cpu + waiting);
      any = true;
    }
  }
  return any ? total_ns / 1000 : -1;
}

long raise_fd_limit(long wanted) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  if (rl.rlim_cur != RLIM_INFINITY && static_cast<long>(rl.rlim_cur) < wanted) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? static_cast<rlim_t>(wanted)
                                                : std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(wanted));
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY ? wanted : static_cast<long>(rl.rlim_cur);
}

::testing::AssertionResult run_in_child(const std::function<void()>& body,
                                        std::chrono::milliseconds timeout) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return ::testing::AssertionFailure() << "fork: " << std::strerror(errno);
  if (pid == 0) {
    body();
    const bool failed = ::testing::Test::HasFailure();
    std::fflush(nullptr);
    _exit(failed ? 1 : 0);  // no atexit handlers, no second run of the parent's tests
  }
  int status = 0;
  const bool ended = tstest::wait_until(
      [&] { return waitpid(pid, &status, WNOHANG) == pid; }, timeout, std::chrono::milliseconds(10));
  if (!ended) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return ::testing::AssertionFailure() << "the child did not finish within " << timeout.count()
                                         << " ms and was killed";
  }
  if (WIFSIGNALED(status))
    return ::testing::AssertionFailure() << "the child died of signal " << WTERMSIG(status) << " ("
                                         << strsignal(WTERMSIG(status)) << ")";
  if (WEXITSTATUS(status) != 0)
    return ::testing::AssertionFailure() << "the child reported failures (above), exit code "
                                         << WEXITSTATUS(status);
  return ::testing::AssertionSuccess();
}

}  // namespace tsrel
