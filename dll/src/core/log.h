// Log lines go to the application's OnLog callback, or to standard error when none is set.
#pragma once
#include <cstdint>
#include "core/errors.h"
#include "tcpserver.h"

namespace ts {

void set_log_proc(TOnLog proc);
void set_log_level(int32_t level);
int32_t log_level();
// Engine messages: dropped below the TS_OPT_LOG_LEVEL threshold, cut at 1 KiB.
void log(int32_t level, const char* fmt, ...) TS_PRINTF_LIKE(2, 3);
// The application's own line (WriteLog): always delivered, whole, as TS_LOG_INFO, like the
// original unit's WriteLog, which wrote every line.
void log_app(const char* text);

}  // namespace ts
