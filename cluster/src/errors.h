// Per-thread last error of the cluster library (TcpClusterGetLastErrorCode / _Text), apart from
// the engine's. Every failing export sets it; success leaves it alone. Any thread.
#pragma once
#include <cstdint>

#if defined(__GNUC__)
#define TC_PRINTF_LIKE(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define TC_PRINTF_LIKE(fmt, first)
#endif

namespace tc {

// Sets the calling thread's last error (printf-style text). Always returns false, so a failing
// path can `return fail(...)`.
bool fail(int32_t code, const char* fmt, ...) TC_PRINTF_LIKE(2, 3);

int32_t last_error_code();
const char* last_error_text();

}  // namespace tc
