// What the reliability tests measure beyond the unit suite's helpers: process memory and CPU
// as the kernel sees them, descriptor limits, and running a scenario in a child process so a
// lowered limit or a crash cannot touch the rest of the suite.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace tsrel {

// Resident set size of this process in bytes (VmRSS), -1 if unknown.
int64_t rss_bytes();
// CPU time (user + system) this process has used, in microseconds.
int64_t cpu_time_us();
// How long this process's threads (those alive when it was made) have been runnable: on a CPU
// or waiting for one, from /proc/self/task/*/schedstat. A thread that spins is runnable all the
// time however busy the machine is, so this tells "spins" from "sleeps" even on a loaded CI
// machine, where plain CPU time depends on what else runs. The files stay open, so it also
// reads when the process has no descriptor left.
class RunnableMeter {
 public:
  RunnableMeter();
  ~RunnableMeter();
  RunnableMeter(const RunnableMeter&) = delete;
  RunnableMeter& operator=(const RunnableMeter&) = delete;
  // Microseconds so far, summed over the threads; -1 if the kernel does not provide it.
  int64_t read_us() const;

 private:
  std::vector<int> fds_;
};

// Raises the soft RLIMIT_NOFILE to at least `wanted` (capped by the hard limit); returns the
// soft limit now in force.
long raise_fd_limit(long wanted);

// Runs `body` in a forked child (only the calling thread is copied: call it before starting
// the server or any thread). GoogleTest failures inside the child are printed by the child and
// make it exit with 1; the parent fails if the child fails, crashes or outlives `timeout`
// (then it is killed).
::testing::AssertionResult run_in_child(const std::function<void()>& body,
                                        std::chrono::milliseconds timeout);

}  // namespace tsrel
