// Logging (log.h): formats a line and hands it to the OnLog callback or standard error, at the
// server's TS_OPT_LOG_LEVEL. Any thread.
#include "core/log.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace ts {
namespace {
std::atomic<TOnLog> g_proc{nullptr};
std::atomic<int32_t> g_level{TS_LOG_WARN};
const char* level_name(int32_t level) {
  switch (level) {
    case TS_LOG_DEBUG: return "debug";
    case TS_LOG_INFO: return "info";
    case TS_LOG_WARN: return "warning";
    default: return "error";
  }
}
}  // namespace

void set_log_proc(TOnLog proc) { g_proc.store(proc); }
void set_log_level(int32_t level) { g_level.store(level); }
int32_t log_level() { return g_level.load(std::memory_order_relaxed); }

namespace {
void emit(int32_t level, const char* text) {
  if (TOnLog proc = g_proc.load()) {
    try {
      proc(level, text);
    } catch (...) {
      // A throwing log sink must not take the engine down; fall through to stderr.
      std::fprintf(stderr, "tcpserver: the OnLog callback threw; line was: %s\n", text);
    }
    return;
  }
  std::fprintf(stderr, "tcpserver %s: %s\n", level_name(level), text);
}
}  // namespace

void log(int32_t level, const char* fmt, ...) {
  if (level < g_level.load(std::memory_order_relaxed)) return;
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  emit(level, text);
}

void log_app(const char* text) { emit(TS_LOG_INFO, text ? text : ""); }

}  // namespace ts
