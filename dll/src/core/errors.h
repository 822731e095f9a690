// Per-thread last error (GetLastErrorCode / GetLastErrorText). Every failing API call sets it;
// success leaves it alone, like errno.
#pragma once
#include <cstdint>

#include "platform/os.h"  // os_error_text: most error messages quote one

// For the catch sites that rethrow glibc's forced unwind (see server.cpp).
#if defined(__GNUC__)
#define TS_NO_SANITIZE_NULL __attribute__((no_sanitize("null")))
#else
#define TS_NO_SANITIZE_NULL
#endif

// printf-style argument checking. MinGW builds use mingw's own C99 printf (the DLL is compiled
// with __USE_MINGW_ANSI_STDIO=1, so %zu and %llu work on every msvcrt), hence gnu_printf.
#if defined(__MINGW32__)
#define TS_PRINTF_LIKE(fmt, first) __attribute__((format(gnu_printf, fmt, first)))
#elif defined(__GNUC__)
#define TS_PRINTF_LIKE(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define TS_PRINTF_LIKE(fmt, first)
#endif

namespace ts {

// Sets the calling thread's last error; the text is printf-style. Always returns false so a
// failing path can `return fail(...)`.
bool fail(int32_t code, const char* fmt, ...) TS_PRINTF_LIKE(2, 3);

int32_t last_error_code();
const char* last_error_text();

}  // namespace ts
