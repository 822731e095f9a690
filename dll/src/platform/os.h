// What the core asks of the OS besides sockets: the calling thread's id and the text of an OS
// error code. Any thread.
#pragma once
#include <cstdint>

namespace ts {

uint32_t os_thread_id();
// The error of the last failed system call of this thread (errno / GetLastError), and the text
// of an error code ("Connection reset by peer"); the text is the calling thread's until its
// next call.
int last_os_error();
const char* os_error_text(int err);

}  // namespace ts
