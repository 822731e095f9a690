// Whether this process may use io_uring the way backend/io_uring does, and the settings every
// ring of the backend is created with (so the probe tests exactly what the backend will use).
// Any thread; the answer is cached per process (a forked child asks again: a seccomp filter or
// a lowered limit may differ there).
#pragma once
#include <liburing.h>

#include <string>

namespace ts {

// Ring flags: one thread submits to each ring and runs its completions only when it asks for
// them (no interrupts of the worker by task work: Linux 6.1).
constexpr unsigned kUringSetupFlags =
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL |
    IORING_SETUP_CQSIZE;

// True if rings with kUringSetupFlags can be made here and every operation the backend uses
// works (multishot accept and receive into a registered buffer ring, send, sendmsg, cancel,
// MSG_RING). Otherwise false with *why saying what refused it (io_uring_disabled, seccomp, an
// old kernel), for the log and for TS_ERR_NOT_SUPPORTED.
bool uring_usable(std::string* why);

}  // namespace ts
