/* What every benchmark server shares: the file-descriptor limit, a clock, the probe reply. */
#ifndef BENCH_SERVER_UTIL_H
#define BENCH_SERVER_UTIL_H
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_READ_SIZE 16384 /* bytes per read in every server, ours included */
#define BENCH_BACKLOG 4096

/* Raise the soft descriptor limit to the hard one (connection scale uses nearly all of it). */
static inline long bench_raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return (long)rl.rlim_cur;
}

static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bench_probe_reply(unsigned char out[12], uint32_t links, uint64_t bcast_ns) {
  memcpy(out, &links, 4); /* x86/ARM Linux: little endian, as the client reads it */
  memcpy(out + 4, &bcast_ns, 8);
}

#endif
