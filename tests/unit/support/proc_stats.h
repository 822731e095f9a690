// Process resources seen by the kernel, to prove the engine gives back what it took.
#pragma once

namespace tstest {

// Open file descriptors of this process (/proc/self/fd), not counting the one used to list them.
int open_fd_count();
// Threads of this process (/proc/self/task).
int thread_count();
// The calling thread's OS id (what TcpWorker.ID and GetWorkerID report on Linux).
unsigned os_thread_id();

}  // namespace tstest
