// Per-thread last error (GetLastErrorCode / GetLastErrorText). Every failing API call sets it;
// success leaves it alone, like errno.
#pragma once
#include <cstdint>

// For the catch sites that rethrow glibc's forced unwind (see server.cpp).
#if defined(__GNUC__)
#define TS_NO_SANITIZE_NULL __attribute__((no_sanitize("null")))
#else
#define TS_NO_SANITIZE_NULL
#endif

namespace ts {

// Sets the calling thread's last error; the text is printf-style. Always returns false so a
// failing path can `return fail(...)`.
bool fail(int32_t code, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

int32_t last_error_code();
const char* last_error_text();

// The OS error of the last failed system call, and its text ("Connection reset by peer").
int last_os_error();
const char* os_error_text(int err);

}  // namespace ts
