/*
 * monitor.c — watch the engine work.
 *
 * Starts an echo server on 127.0.0.1 (a free port), puts it under a built-in load — client
 * connections that ping-pong messages and verify every echoed byte — and refreshes a terminal
 * view once a second with what the original unit's test screen showed: links, IO pool use,
 * per-worker executions and busy time, service-thread passes, messages and bytes per second.
 *
 *   monitor [--seconds 10] [--connections 100] [--size 64] [--workers 0]
 *
 * --seconds 0 runs until Ctrl-C. Exits 0 only if the clients saw every byte come back intact
 * and the server stopped cleanly. (The load generator uses POSIX threads and poll.)
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tcpserver.h"

static volatile sig_atomic_t g_interrupted = 0;
static void on_signal(int sig) { (void)sig; g_interrupted = 1; }

/* ---- the load: connections that send `size` bytes and expect them back, forever ---- */

typedef struct {
  int fd;
  size_t sent, got;
  unsigned round;
} Conn;

typedef struct {
  Conn* conns;
  int count;
  size_t size;
} LoadSlice;

static atomic_long g_msgs, g_errors;
static atomic_int g_load_stop;

static unsigned char expected_byte(int conn, unsigned round, size_t i) {
  return (unsigned char)(conn * 31 + round * 7 + i);
}

static void* load_thread(void* arg) {
  LoadSlice* s = arg;
  struct pollfd* pfds = calloc((size_t)s->count, sizeof *pfds);
  unsigned char* buf = malloc(s->size > 65536 ? s->size : 65536);
  while (!atomic_load(&g_load_stop)) {
    for (int i = 0; i < s->count; ++i) {
      Conn* c = &s->conns[i];
      pfds[i].fd = c->fd;
      pfds[i].events = (short)(POLLIN | (c->sent < s->size ? POLLOUT : 0));
    }
    if (poll(pfds, (nfds_t)s->count, 100) <= 0) continue;
    for (int i = 0; i < s->count; ++i) {
      Conn* c = &s->conns[i];
      int id = (int)(c - s->conns);
      if ((pfds[i].revents & POLLOUT) && c->sent < s->size) {
        size_t n = s->size - c->sent;
        for (size_t k = 0; k < n; ++k) buf[k] = expected_byte(id, c->round, c->sent + k);
        ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) c->sent += (size_t)w;
      }
      if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t r = recv(c->fd, buf, s->size - c->got, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
          atomic_fetch_add(&g_errors, 1); /* the server must never drop a healthy link */
          pfds[i].fd = -1;
          continue;
        }
        for (ssize_t k = 0; k < r; ++k)
          if (buf[k] != expected_byte(id, c->round, c->got + (size_t)k)) atomic_fetch_add(&g_errors, 1);
        if (r > 0) c->got += (size_t)r;
        if (c->got == s->size) { /* one message round-tripped intact: next */
          atomic_fetch_add(&g_msgs, 1);
          c->sent = c->got = 0;
          c->round++;
        }
      }
    }
  }
  free(buf);
  free(pfds);
  return NULL;
}

static int connect_local(unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* ---- the view ---- */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void draw(int tty, double elapsed, double dt, int64_t* last) {
  int64_t cur[5] = {GetServerCounter(TS_COUNTER_MSGS_IN), GetServerCounter(TS_COUNTER_MSGS_OUT),
                    GetServerCounter(TS_COUNTER_BYTES_IN), GetServerCounter(TS_COUNTER_BYTES_OUT),
                    atomic_load(&g_msgs)};
  if (tty) printf("\033[H\033[J");
  printf("tcpserver monitor — %s — %.0f s\n", GetVersionText(), elapsed);
  printf("links     %6d in use  %6d free  (%.1f%% of %d)\n", GetLinkCount(), GetLinkFree(),
         GetLinkUse(), GetLinkCount() + GetLinkFree());
  printf("IO pool   %6d free of %lld  (%.1f%% in use, %d KiB)\n", GetIOMemFree(),
         (long long)GetServerOption(TS_OPT_IO_BUFFER_COUNT), GetIOMemUse(), GetIOMemSize() / 1024);
  printf("traffic   in %9.0f msg/s %8.2f MB/s   out %9.0f msg/s %8.2f MB/s\n",
         (double)(cur[0] - last[0]) / dt, (double)(cur[2] - last[2]) / dt / 1e6,
         (double)(cur[1] - last[1]) / dt, (double)(cur[3] - last[3]) / dt / 1e6);
  printf("clients   %9.0f round trips/s verified, %ld errors\n", (double)(cur[4] - last[4]) / dt,
         atomic_load(&g_errors));
  printf("totals    %lld accepted  %lld refused  %lld closed\n",
         (long long)GetServerCounter(TS_COUNTER_ACCEPTS), (long long)GetServerCounter(TS_COUNTER_REFUSED),
         (long long)GetServerCounter(TS_COUNTER_CLOSED));
  printf("memory    %.1f MiB of the %.0f MiB budget for links (peak %.1f)  %lld links held"
         "  %lld refused at the budget\n",
         GetServerCounter(TS_COUNTER_MEMORY_IN_USE) / 1048576.0,
         GetServerOption(TS_OPT_MEMORY_BUDGET) / 1048576.0,
         GetServerCounter(TS_COUNTER_MEMORY_PEAK) / 1048576.0,
         (long long)GetServerCounter(TS_COUNTER_LINKS_HELD),
         (long long)GetServerCounter(TS_COUNTER_BUDGET_REFUSALS));
  printf("service   %d passes, last took %u ms\n", GetServerExecCount(), GetServerExecLong());
  for (int i = 1; i <= GetWorkerCount(); ++i) {
    uint32_t busy = 0;
    int execs = GetWorkerExecInfo(i, &busy);
    printf("worker %-2d tid %-7d %10d executions, busy %4u ms of the last %.0f\n", i,
           GetWorkerID(i), execs, busy, dt * 1000);
  }
  if (!tty) printf("\n");
  fflush(stdout);
  memcpy(last, cur, sizeof cur);
}

int main(int argc, char** argv) {
  int seconds = 10, connections = 100, workers = 0;
  size_t size = 64;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--connections") && i + 1 < argc) connections = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = (size_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--workers") && i + 1 < argc) workers = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: %s [--seconds N] [--connections N] [--size N] [--workers N]\n", argv[0]);
      return 2;
    }
  }
  if (connections < 1 || size < 1 || seconds < 0) {
    fprintf(stderr, "monitor: --connections and --size must be at least 1, --seconds at least 0\n");
    return 2;
  }
  SetServerOption(TS_OPT_WORKER_THREADS, workers);
  SetEventProc(NULL, NULL, NULL, NULL, NULL); /* NULL OnReceive: the built-in echo */
  if (!StartTcpServer("127.0.0.1", 0)) {
    fprintf(stderr, "monitor: cannot start the server: %s\n", GetLastErrorText());
    return 1;
  }
  unsigned port = GetServerPort();

  Conn* conns = calloc((size_t)connections, sizeof *conns);
  for (int i = 0; i < connections; ++i) {
    conns[i].fd = connect_local(port);
    if (conns[i].fd < 0) {
      fprintf(stderr, "monitor: client connection %d failed: %s\n", i, strerror(errno));
      return 1;
    }
  }
  enum { kThreads = 2 };
  LoadSlice slices[kThreads];
  pthread_t threads[kThreads];
  int per = (connections + kThreads - 1) / kThreads, started = 0;
  for (int t = 0; t < kThreads && t * per < connections; ++t, ++started) {
    slices[t].conns = conns + t * per;
    slices[t].count = (t + 1) * per <= connections ? per : connections - t * per;
    slices[t].size = size;
    pthread_create(&threads[t], NULL, load_thread, &slices[t]);
  }

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  int tty = isatty(STDOUT_FILENO);
  int64_t last[5] = {0};
  double t0 = now_s(), prev = t0;
  while (!g_interrupted && (seconds == 0 || now_s() - t0 < seconds)) {
    usleep(1000 * 1000);
    double t = now_s();
    draw(tty, t - t0, t - prev, last);
    prev = t;
  }
  double elapsed = now_s() - t0;
  long msgs = atomic_load(&g_msgs);
  atomic_store(&g_load_stop, 1);
  for (int t = 0; t < started; ++t) pthread_join(threads[t], NULL);
  for (int i = 0; i < connections; ++i) close(conns[i].fd);
  free(conns);
  int stopped = StopTcpServer();
  if (!stopped) fprintf(stderr, "monitor: stop failed: %s\n", GetLastErrorText());
  long errors = atomic_load(&g_errors);
  printf("monitor: %.0f s, %d connections, %zu-byte messages, %.0f msgs/s echo, %ld errors\n",
         elapsed, connections, size, msgs / elapsed, errors);
  return errors == 0 && msgs > 0 && stopped ? 0 : 1;
}
