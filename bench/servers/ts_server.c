/* The benchmark server on tcpserver's C API: one worker thread, TCP_NODELAY (the default).
 *   bench_ts_server [--mode engine|postsend|bcast] [--backend auto|epoll|io_uring]
 *                   [--tls-cert FILE --tls-key FILE]
 * engine:   OnReceive is NULL, so the engine echoes by itself (the original unit's default).
 * postsend: OnReceive echoes through GetIOMem + memcpy + PostSend, as UTcpServer programs do.
 * bcast:    the first link's 'B' makes one PostBroadcast of 1 KiB to every link (pattern.h).
 * --tls-cert/--tls-key: every link speaks TLS (TS_OPT_TLS; the library's defaults otherwise).
 * Prints "PORT <n>" and runs until killed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../pattern.h"
#include "server_util.h"
#include "tcpserver.h"

static uint64_t g_rounds, g_bcast_ns;

static int32_t TS_CALL on_receive_postsend(TcpLink* link, uint8_t* buf, int32_t len) {
  void* mem = GetIOMem();
  if (!mem) return 0; /* pool exhausted: a benchmark must not hide it */
  memcpy(mem, buf, (size_t)len);
  if (!PostSend(link, mem, len)) {
    FreeIOMem(mem);
    return 0;
  }
  return 1;
}

static int32_t TS_CALL on_receive_bcast(TcpLink* link, uint8_t* buf, int32_t len) {
  for (int32_t i = 0; i < len; ++i) {
    if (buf[i] == BENCH_CMD_BCAST) {
      uint64_t t0 = bench_now_ns();
      int32_t reached = PostBroadcast(bench_pattern + bench_bcast_pos(g_rounds++), BENCH_BCAST_SIZE);
      g_bcast_ns += bench_now_ns() - t0;
      if (reached < 0) fprintf(stderr, "bench_ts_server: PostBroadcast: %s\n", GetLastErrorText());
    } else if (buf[i] == BENCH_CMD_PROBE) {
      unsigned char reply[BENCH_PROBE_REPLY];
      bench_probe_reply(reply, (uint32_t)GetLinkCount(), g_bcast_ns);
      if (!SendBuffer(link, reply, sizeof reply)) return 0;
    }
  }
  return 1;
}

int main(int argc, char** argv) {
  const char* mode = "engine";
  const char* backend = "auto";
  const char* cert = NULL;
  const char* key = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
    else if (!strcmp(argv[i], "--backend")) backend = argv[i + 1];
    else if (!strcmp(argv[i], "--tls-cert")) cert = argv[i + 1];
    else if (!strcmp(argv[i], "--tls-key")) key = argv[i + 1];
  }
  int64_t backend_value = !strcmp(backend, "epoll")      ? TS_BACKEND_EPOLL
                          : !strcmp(backend, "io_uring") ? TS_BACKEND_IO_URING
                          : !strcmp(backend, "auto")     ? TS_BACKEND_AUTO
                                                         : -1;
  if (backend_value < 0) {
    fprintf(stderr, "bench_ts_server: unknown --backend %s (auto, epoll or io_uring)\n", backend);
    return 2;
  }
  bench_pattern_init();
  long fds = bench_raise_fd_limit();
  TOnReceive receive = NULL;
  if (!strcmp(mode, "postsend")) receive = on_receive_postsend;
  else if (!strcmp(mode, "bcast")) receive = on_receive_bcast;
  else if (strcmp(mode, "engine") != 0) {
    fprintf(stderr, "bench_ts_server: unknown --mode %s (engine, postsend or bcast)\n", mode);
    return 2;
  }
  SetServerOption(TS_OPT_WORKER_THREADS, 1);
  SetServerOption(TS_OPT_MAX_LINKS, fds);
  SetServerOption(TS_OPT_IO_BUFFER_SIZE, BENCH_READ_SIZE);
  SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, 0);
  SetServerOption(TS_OPT_LISTEN_BACKLOG, BENCH_BACKLOG);
  SetServerOption(TS_OPT_TCP_NODELAY, 1);
  SetServerOption(TS_OPT_BACKEND, backend_value);
  if (cert) {
    SetServerOption(TS_OPT_TLS, 1);
    if (!SetTlsCertificateFile(cert, key, NULL)) {
      fprintf(stderr, "bench_ts_server: --tls-cert %s: %s\n", cert, GetLastErrorText());
      return 1;
    }
  }
  SetEventProc(receive, NULL, NULL, NULL, NULL);
  if (!StartTcpServer("127.0.0.1", 0)) {
    fprintf(stderr, "bench_ts_server: cannot start: %s\n", GetLastErrorText());
    return 1;
  }
  printf("PORT %u\n", GetServerPort());
  fflush(stdout);
  for (;;) pause();
}
