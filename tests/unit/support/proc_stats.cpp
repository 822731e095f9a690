#include "support/proc_stats.h"

#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace tstest {
namespace {

// Entries of a /proc directory other than "." and "..", or -1 if it cannot be read.
int count_entries(const char* path) {
  DIR* dir = opendir(path);
  if (!dir) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  }
  closedir(dir);
  return n;
}

}  // namespace

int open_fd_count() {
  int n = count_entries("/proc/self/fd");
  return n < 0 ? -1 : n - 1;  // opendir's own descriptor is listed too
}

int thread_count() { return count_entries("/proc/self/task"); }

unsigned os_thread_id() { return static_cast<unsigned>(syscall(SYS_gettid)); }

}  // namespace tstest
