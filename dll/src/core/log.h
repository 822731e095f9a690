// Log lines go to the application's OnLog callback, or to standard error when none is set.
#pragma once
#include <cstdint>
#include "core/errors.h"
#include "tcpserver.h"

namespace ts {

void set_log_proc(TOnLog proc);
void set_log_level(int32_t level);
int32_t log_level();
void log(int32_t level, const char* fmt, ...) TS_PRINTF_LIKE(2, 3);

}  // namespace ts
