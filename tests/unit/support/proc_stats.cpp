#include "support/proc_stats.h"

#include "support/wait.h"

#ifdef _WIN32
#include <windows.h>
#include <tlhelp32.h>

#include <cstdint>
#else
#include <dirent.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#endif

namespace tstest {

#ifdef _WIN32

int open_fd_count() {
  DWORD n = 0;
  if (GetProcessHandleCount(GetCurrentProcess(), &n) && n > 0) return static_cast<int>(n);
  // Wine's GetProcessHandleCount reports 0 always: count the valid handle values instead
  // (multiples of 4; a test process holds far fewer than the 4096 probed here).
  int valid = 0;
  for (uintptr_t h = 4; h < 16384; h += 4) {
    DWORD flags;
    if (GetHandleInformation(reinterpret_cast<HANDLE>(h), &flags)) ++valid;
  }
  return valid;
}

int thread_count() {
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
  if (snap == INVALID_HANDLE_VALUE) return -1;
  const DWORD me = GetCurrentProcessId();
  int n = 0;
  THREADENTRY32 e{};
  e.dwSize = sizeof e;
  for (BOOL ok = Thread32First(snap, &e); ok; ok = Thread32Next(snap, &e)) {
    if (e.th32OwnerProcessID == me) ++n;
  }
  CloseHandle(snap);
  return n;
}

unsigned os_thread_id() { return static_cast<unsigned>(GetCurrentThreadId()); }

#else

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

namespace {
bool same_address(const sockaddr_storage& a, socklen_t alen, const sockaddr_storage& b,
                  socklen_t blen) {
  return alen == blen && std::memcmp(&a, &b, alen) == 0;
}
}  // namespace

int tcp_socket_fd(int client_fd) {
  sockaddr_storage mine{}, peer{};
  socklen_t mine_len = sizeof mine, peer_len = sizeof peer;
  if (getsockname(client_fd, reinterpret_cast<sockaddr*>(&mine), &mine_len) != 0 ||
      getpeername(client_fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
    return -1;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  int found = -1;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd == client_fd || fd == dirfd(dir)) continue;
    sockaddr_storage a{}, b{};
    socklen_t alen = sizeof a, blen = sizeof b;
    // The server's end: its local address is the client's peer, its peer the client's local.
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &alen) == 0 &&
        getpeername(fd, reinterpret_cast<sockaddr*>(&b), &blen) == 0 &&
        same_address(a, alen, peer, peer_len) && same_address(b, blen, mine, mine_len)) {
      found = fd;
      break;
    }
  }
  closedir(dir);
  return found;
}

int tcp_receive_queue(int client_fd) {
  const int fd = tcp_socket_fd(client_fd);
  int unread = 0;
  if (fd < 0 || ioctl(fd, SIOCINQ, &unread) != 0) return -1;
  return unread;
}

#endif

::testing::AssertionResult fd_count_back_to(int baseline) {
  // Windows closes an ended thread's handles a little after the join: wait for them.
  int now = 0;
  const bool back = wait_until(
      [&] {
        now = open_fd_count();
        return now >= baseline - kLazyHandleSlack && now <= baseline + kLazyHandleSlack;
      },
      std::chrono::seconds(2), std::chrono::milliseconds(20));
  if (back) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << now << " descriptors/handles open, " << baseline
                                       << " before the test (allowed slack: " << kLazyHandleSlack << ")";
}

int settled_fd_count() {
  int last = open_fd_count();
  wait_until(
      [&] {
        const int now = open_fd_count();
        const bool same = now == last;
        last = now;
        return same;
      },
      std::chrono::seconds(2), std::chrono::milliseconds(50));
  return last;
}

}  // namespace tstest
