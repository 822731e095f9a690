/* The floor: a minimal edge-triggered epoll echo server, one thread, TCP_NODELAY.
 *   bench_epoll_server [--mode echo|bcast]
 * echo:  reads up to 16 KiB at a time and writes it straight back; what the socket does not take
 *        waits in a per-connection buffer (reading pauses until it is flushed).
 * bcast: the first link's 'B' sends 1 KiB to every connection with one send() each, from one
 *        buffer: the raw per-socket send loop PostBroadcast is measured against.
 * Prints "PORT <n>" and runs until killed. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../pattern.h"
#include "server_util.h"

struct conn {
  int open;
  unsigned char* pending; /* bytes the socket did not take */
  size_t pending_len;
};

static struct conn* g_conns; /* indexed by descriptor */
static int* g_open_fds;      /* dense list for the broadcast loop */
static int* g_open_index;    /* fd -> index in g_open_fds */
static uint32_t g_open_count;
static int g_bcast;
static uint64_t g_rounds, g_bcast_ns;
static unsigned char g_buf[BENCH_READ_SIZE];

static void die(const char* what) {
  perror(what);
  exit(1);
}

static void close_conn(int fd) {
  struct conn* c = &g_conns[fd];
  free(c->pending);
  memset(c, 0, sizeof *c);
  int i = g_open_index[fd], last = g_open_fds[--g_open_count];
  g_open_fds[i] = last;
  g_open_index[last] = i;
  close(fd);
}

/* Write all of data or keep the rest; 0 if the connection broke. */
static int send_all(int fd, const unsigned char* data, size_t len) {
  struct conn* c = &g_conns[fd];
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n > 0) {
      data += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c->pending = realloc(c->pending, c->pending_len + len);
      if (!c->pending) die("realloc");
      memcpy(c->pending + c->pending_len, data, len);
      c->pending_len += len;
      return 1;
    }
    return 0;
  }
  return 1;
}

static void broadcast(void) {
  const unsigned char* data = bench_pattern + bench_bcast_pos(g_rounds++);
  uint64_t t0 = bench_now_ns();
  for (uint32_t i = 0; i < g_open_count; ++i) {
    ssize_t n = send(g_open_fds[i], data, BENCH_BCAST_SIZE, MSG_NOSIGNAL);
    if (n != (ssize_t)BENCH_BCAST_SIZE) {
      /* The client reads every round before asking for the next, so a full socket is a bug. */
      fprintf(stderr, "bench_epoll_server: broadcast send returned %zd\n", n);
      exit(1);
    }
  }
  g_bcast_ns += bench_now_ns() - t0;
}

static int handle_bcast_commands(int fd, const unsigned char* buf, ssize_t n) {
  for (ssize_t i = 0; i < n; ++i) {
    if (buf[i] == BENCH_CMD_BCAST) broadcast();
    else if (buf[i] == BENCH_CMD_PROBE) {
      unsigned char reply[BENCH_PROBE_REPLY];
      bench_probe_reply(reply, g_open_count, g_bcast_ns);
      if (!send_all(fd, reply, sizeof reply)) return 0;
    }
  }
  return 1;
}

/* Edge-triggered: read until EAGAIN, unless output is backed up. */
static void handle(int fd, uint32_t events) {
  struct conn* c = &g_conns[fd];
  if (c->pending_len && (events & EPOLLOUT)) {
    unsigned char* p = c->pending;
    size_t len = c->pending_len;
    c->pending = NULL;
    c->pending_len = 0;
    int ok = send_all(fd, p, len);
    free(p);
    if (!ok) return close_conn(fd);
  }
  while (!c->pending_len) {
    ssize_t n = recv(fd, g_buf, sizeof g_buf, 0);
    if (n > 0) {
      int ok = g_bcast ? handle_bcast_commands(fd, g_buf, n) : send_all(fd, g_buf, (size_t)n);
      if (!ok) return close_conn(fd);
      if ((size_t)n < sizeof g_buf) return; /* drained */
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    return close_conn(fd);
  }
}

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2)
    if (!strcmp(argv[i], "--mode")) g_bcast = !strcmp(argv[i + 1], "bcast");
  bench_pattern_init();
  long fds = bench_raise_fd_limit();
  g_conns = calloc((size_t)fds, sizeof *g_conns);
  g_open_fds = calloc((size_t)fds, sizeof(int));
  g_open_index = calloc((size_t)fds, sizeof(int));
  if (!g_conns || !g_open_fds || !g_open_index) die("calloc");

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof addr;
  if (bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0) die("bind");
  if (listen(lfd, BENCH_BACKLOG) != 0) die("listen");
  getsockname(lfd, (struct sockaddr*)&addr, &alen);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) die("epoll");
  printf("PORT %u\n", ntohs(addr.sin_port));
  fflush(stdout);

  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd != lfd) {
        if (g_conns[fd].open) handle(fd, events[i].events);
        continue;
      }
      for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) break; /* EAGAIN, or out of descriptors: the next wake-up retries */
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = cfd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev) != 0) {
          close(cfd);
          continue;
        }
        g_conns[cfd].open = 1;
        g_open_index[cfd] = (int)g_open_count;
        g_open_fds[g_open_count++] = cfd;
      }
    }
  }
}
