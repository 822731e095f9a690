// Process resources seen by the OS, to prove the engine gives back what it took.
#pragma once
#include <gtest/gtest.h>

namespace tstest {

// Open file descriptors of this process (/proc/self/fd, not counting the one used to list
// them); on Windows, its open kernel handles (sockets, threads, events ...).
int open_fd_count();
// Threads of this process (/proc/self/task; a Toolhelp snapshot on Windows).
int thread_count();
// The calling thread's OS id (what TcpWorker.ID and GetWorkerID report).
unsigned os_thread_id();

#ifndef _WIN32
// The descriptor of this process's own end of the TCP connection whose other end is the
// client socket `client_fd` of this process (the server's socket of that connection), or -1
// if there is none (not accepted yet, or closed). Linux: the server runs in the test process.
int tcp_socket_fd(int client_fd);
// Bytes the kernel holds for the server's socket of that connection that nobody has read yet
// (SIOCINQ), or -1 if there is no such socket.
int tcp_receive_queue(int client_fd);
#endif

// How many more handles than before a test may stay open after it without being a leak.
// POSIX: none. Windows: the MinGW thread runtime gives a mutex or condition variable its kernel
// object on first contention and keeps it for the object's life, so the engine's long-lived
// ones (the server's, and each link slot's) can take more during any test: 6 more after 100
// Start/Stop cycles under load, measured under Wine. A leak per link or per cycle is larger
// (the tests that check this open hundreds of links or run 100 cycles).
#ifdef _WIN32
inline constexpr int kLazyHandleSlack = 32;
#else
inline constexpr int kLazyHandleSlack = 0;
#endif

// Success when open_fd_count() is back to `baseline`, give or take kLazyHandleSlack, within 2 s.
::testing::AssertionResult fd_count_back_to(int baseline);
// open_fd_count() once two readings 50 ms apart agree (at most 2 s): a baseline that does
// not include handles of threads still winding down.
int settled_fd_count();

}  // namespace tstest
