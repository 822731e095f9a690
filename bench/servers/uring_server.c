/* The io_uring floor: a minimal liburing echo server, one thread, TCP_NODELAY, made the way the
 * io_uring documentation recommends for sockets:
 *   bench_uring_server
 * - one ring (single issuer, task work deferred to io_uring_enter), one io_uring_enter per
 *   batch: it submits the batch's sends and waits for the next completions;
 * - a multishot accept; per connection a multishot receive into a registered ring of provided
 *   buffers (16 KiB each, as every bench server reads);
 * - the echo is sent from the receive buffer itself (no copy), one send in flight per
 *   connection so the bytes keep their order; the buffer goes back to the ring when its send
 *   completed.
 * Prints "PORT <n>" and runs until killed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_util.h"

#define NBUFS 1024 /* 16 MiB of receive buffers */
#define BGID 0

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3, OP_CANCEL = 4 };

struct chunk {
  uint16_t bid;
  uint32_t off, len;
};

struct conn {
  uint32_t gen; /* told apart from an earlier connection on the same descriptor */
  int open;
  int sending;
  struct chunk* q; /* received, waiting to be echoed (q[head] is being sent) */
  uint32_t head, count, cap;
};

static struct io_uring g_ring;
static struct io_uring_buf_ring* g_br;
static unsigned char* g_bufs;
static struct conn* g_conns;
static int g_lfd;

static void die(const char* what, int err) {
  fprintf(stderr, "bench_uring_server: %s: %s\n", what, strerror(err));
  exit(1);
}

static uint64_t tag(int op, int fd) {
  return ((uint64_t)op << 56) | ((uint64_t)(g_conns[fd].gen & 0xffffff) << 32) | (uint32_t)fd;
}

static struct io_uring_sqe* sqe(void) {
  struct io_uring_sqe* s = io_uring_get_sqe(&g_ring);
  while (!s) {
    io_uring_submit(&g_ring);
    s = io_uring_get_sqe(&g_ring);
  }
  return s;
}

static void recycle(uint16_t bid) {
  io_uring_buf_ring_add(g_br, g_bufs + (size_t)bid * BENCH_READ_SIZE, BENCH_READ_SIZE, bid,
                        io_uring_buf_ring_mask(NBUFS), 0);
  io_uring_buf_ring_advance(g_br, 1);
}

static void arm_accept(void) {
  struct io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, g_lfd, NULL, NULL, SOCK_CLOEXEC);
  s->user_data = (uint64_t)OP_ACCEPT << 56;
}

static void arm_recv(int fd) {
  struct io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = BGID;
  s->user_data = tag(OP_RECV, fd);
}

static void send_head(int fd) {
  struct conn* c = &g_conns[fd];
  struct chunk* k = &c->q[c->head];
  struct io_uring_sqe* s = sqe();
  io_uring_prep_send(s, fd, g_bufs + (size_t)k->bid * BENCH_READ_SIZE + k->off, k->len, MSG_NOSIGNAL);
  s->user_data = tag(OP_SEND, fd);
  c->sending = 1;
}

static void close_conn(int fd) {
  struct conn* c = &g_conns[fd];
  for (uint32_t i = 0; i < c->count; ++i) recycle(c->q[(c->head + i) % c->cap].bid);
  free(c->q);
  uint32_t gen = c->gen + 1;
  memset(c, 0, sizeof *c);
  c->gen = gen;
  struct io_uring_sqe* s = sqe(); /* the multishot receive, if still armed, lets go of the socket */
  io_uring_prep_cancel_fd(s, fd, IORING_ASYNC_CANCEL_ALL);
  s->user_data = (uint64_t)OP_CANCEL << 56;
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_submit(&g_ring); /* before the descriptor number can be reused */
  close(fd);
}

static void push(int fd, uint16_t bid, uint32_t len) {
  struct conn* c = &g_conns[fd];
  if (c->count == c->cap) {
    uint32_t cap = c->cap ? c->cap * 2 : 4;
    struct chunk* q = malloc(cap * sizeof *q);
    if (!q) die("malloc", ENOMEM);
    for (uint32_t i = 0; i < c->count; ++i) q[i] = c->q[(c->head + i) % c->cap];
    free(c->q);
    c->q = q;
    c->cap = cap;
    c->head = 0;
  }
  c->q[(c->head + c->count++) % c->cap] = (struct chunk){bid, 0, len};
  if (!c->sending) send_head(fd);
}

static void on_cqe(struct io_uring_cqe* cqe) {
  int op = (int)(cqe->user_data >> 56);
  int fd = (int)(uint32_t)cqe->user_data;
  uint32_t gen = (uint32_t)(cqe->user_data >> 32) & 0xffffff;
  int res = cqe->res;
  if (op == OP_ACCEPT) {
    if (res >= 0) {
      int one = 1;
      setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      g_conns[res].open = 1;
      arm_recv(res);
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(); /* out of descriptors: retried later */
    return;
  }
  if (op == OP_CANCEL) return;
  struct conn* c = &g_conns[fd];
  int stale = !c->open || (c->gen & 0xffffff) != gen;
  if (op == OP_RECV) {
    int more = cqe->flags & IORING_CQE_F_MORE;
    if (res > 0) {
      uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
      if (stale) recycle(bid);
      else push(fd, bid, (uint32_t)res);
    } else if (res == -ENOBUFS) {
      if (!stale && !more) arm_recv(fd); /* buffers come back as sends complete */
      return;
    } else if (!stale) {
      close_conn(fd); /* end of stream or an error */
      return;
    }
    if (!stale && !more) arm_recv(fd);
    return;
  }
  /* OP_SEND */
  if (stale) return;
  c->sending = 0;
  if (res < 0) {
    close_conn(fd);
    return;
  }
  struct chunk* k = &c->q[c->head];
  k->off += (uint32_t)res;
  k->len -= (uint32_t)res;
  if (k->len == 0) {
    recycle(k->bid);
    c->head = (c->head + 1) % c->cap;
    c->count--;
  }
  if (c->count) send_head(fd);
}

int main(void) {
  long fds = bench_raise_fd_limit();
  g_conns = calloc((size_t)fds, sizeof *g_conns);
  if (!g_conns) die("calloc", ENOMEM);

  g_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (g_lfd < 0) die("socket", errno);
  int one = 1;
  setsockopt(g_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof addr;
  if (bind(g_lfd, (struct sockaddr*)&addr, sizeof addr) != 0) die("bind", errno);
  if (listen(g_lfd, BENCH_BACKLOG) != 0) die("listen", errno);
  getsockname(g_lfd, (struct sockaddr*)&addr, &alen);

  struct io_uring_params p = {0};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
            IORING_SETUP_SUBMIT_ALL;
  p.cq_entries = 16384;
  int e = io_uring_queue_init_params(1024, &g_ring, &p);
  if (e < 0) die("io_uring_queue_init", -e);
  size_t br_size = NBUFS * sizeof(struct io_uring_buf);
  g_br = mmap(NULL, br_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  g_bufs = mmap(NULL, (size_t)NBUFS * BENCH_READ_SIZE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g_br == MAP_FAILED || g_bufs == MAP_FAILED) die("mmap", errno);
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)g_br, .ring_entries = NBUFS,
                                 .bgid = BGID};
  e = io_uring_register_buf_ring(&g_ring, &reg, 0);
  if (e < 0) die("io_uring_register_buf_ring", -e);
  io_uring_buf_ring_init(g_br);
  for (int i = 0; i < NBUFS; ++i)
    io_uring_buf_ring_add(g_br, g_bufs + (size_t)i * BENCH_READ_SIZE, BENCH_READ_SIZE,
                          (unsigned short)i, io_uring_buf_ring_mask(NBUFS), i);
  io_uring_buf_ring_advance(g_br, NBUFS);

  arm_accept();
  printf("PORT %u\n", ntohs(addr.sin_port));
  fflush(stdout);
  for (;;) {
    e = io_uring_submit_and_wait(&g_ring, 1);
    if (e < 0 && e != -EINTR && e != -ETIME) die("io_uring_enter", -e);
    struct io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&g_ring, head, cqe) {
      on_cqe(cqe);
      ++seen;
    }
    io_uring_cq_advance(&g_ring, seen);
  }
}
