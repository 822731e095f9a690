// The per-thread last error of the cluster library (see errors.h). Any thread.
#include "errors.h"

#include <cstdarg>
#include <cstdio>

namespace tc {
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

}  // namespace tc
