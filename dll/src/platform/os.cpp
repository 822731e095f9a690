// platform/os.h on Linux and Windows. Any thread.
#include "platform/os.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <type_traits>

#if defined(_WIN32)
#include <winsock2.h>
#include <windows.h>
#else
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ts {

#if defined(_WIN32)
uint32_t os_thread_id() { return static_cast<uint32_t>(GetCurrentThreadId()); }
int last_os_error() { return static_cast<int>(WSAGetLastError()); }
const char* os_error_text(int err) {
  thread_local char buf[256];
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                           static_cast<DWORD>(err), 0, buf, sizeof buf, nullptr);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == '.')) buf[--n] = 0;
  if (n == 0) std::snprintf(buf, sizeof buf, "Windows error %d", err);
  return buf;
}
#else
uint32_t os_thread_id() { return static_cast<uint32_t>(syscall(SYS_gettid)); }
int last_os_error() { return errno; }
const char* os_error_text(int err) {
  thread_local char buf[256];
  // GNU strerror_r returns the text (maybe not in buf); the XSI one fills buf.
  auto r = strerror_r(err, buf, sizeof buf);
  if constexpr (std::is_same_v<decltype(r), char*>) return r;
  else return buf;
}
#endif

}  // namespace ts
