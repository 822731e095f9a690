#include "core/errors.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <cerrno>
#if defined(_WIN32)
#include <winsock2.h>
#include <windows.h>
#endif

namespace ts {
namespace {
struct LastError {
  int32_t code = 0;
  char text[512] = "no error";
};
thread_local LastError t_error;
}  // namespace

bool fail(int32_t code, const char* fmt, ...) {
  t_error.code = code;
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(t_error.text, sizeof t_error.text, fmt, ap);
  va_end(ap);
  return false;
}

int32_t last_error_code() { return t_error.code; }
const char* last_error_text() { return t_error.text; }

#if defined(_WIN32)
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
int last_os_error() { return errno; }
const char* os_error_text(int err) { return std::strerror(err); }
#endif

}  // namespace ts
