/* The bytes every benchmark client sends and every broadcast server sends: a fixed pseudo-random
 * stream (printable, never '\n', so the binding samples never take a chunk for a command),
 * stored twice in a row so any slice of up to BENCH_PATTERN_SIZE bytes is contiguous. Stream
 * offset o of connection c carries bench_pattern[(o + c * 977) % BENCH_PATTERN_SIZE]. */
#ifndef BENCH_PATTERN_H
#define BENCH_PATTERN_H
#include <stdint.h>

#define BENCH_PATTERN_SIZE 65536u
#define BENCH_BCAST_SIZE 1024u

static unsigned char bench_pattern[2 * BENCH_PATTERN_SIZE];

static void bench_pattern_init(void) {
  uint32_t x = 2463534242u;
  for (uint32_t i = 0; i < BENCH_PATTERN_SIZE; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    bench_pattern[i] = (unsigned char)(33 + x % 94); /* '!'..'~' */
    bench_pattern[i + BENCH_PATTERN_SIZE] = bench_pattern[i];
  }
}

/* Where connection `conn`'s byte at stream offset `off` sits in the pattern. */
static inline uint32_t bench_pattern_pos(uint64_t off, uint32_t conn) {
  return (uint32_t)((off + (uint64_t)conn * 977u) % BENCH_PATTERN_SIZE);
}

/* Broadcast round r carries BENCH_BCAST_SIZE bytes from this position (same for every link). */
static inline uint32_t bench_bcast_pos(uint64_t round) {
  return (uint32_t)((round * 7919u) % BENCH_PATTERN_SIZE);
}

/* Broadcast-mode control bytes, sent alone on the first link: 'P' asks for the open-link count
 * and the nanoseconds spent in broadcasting so far (reply: uint32 + uint64, little endian);
 * 'B' asks for one broadcast of BENCH_BCAST_SIZE bytes to every link. */
#define BENCH_CMD_PROBE 'P'
#define BENCH_CMD_BCAST 'B'
#define BENCH_PROBE_REPLY 12

#endif
