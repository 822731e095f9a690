/* How to wake a thread that waits in io_uring_enter for completions (what the io_uring backend's
 * workers do): two threads, each waiting on its own ring, pass a token back and forth N times.
 *   bench_wake [--rounds 200000]
 * msg_ring: the token is an IORING_OP_MSG_RING to the other ring, submitted with the sender's own
 *           wait (one io_uring_enter per hop): how a worker wakes another worker.
 * eventfd:  each ring keeps a read of its own eventfd posted; the sender write()s the other's
 *           eventfd, then waits (two system calls per hop, and the read to post again).
 * messenger: the sender has no ring of its own waiting (an application thread): it submits the
 *           MSG_RING on a shared ring under a mutex, as the backend's messenger does, and waits
 *           for the answer on its ring.
 * Prints, per mode, the round trips per second and the CPU time (user + system, both threads) per
 * hop. The machine's load moves the first; the second is what a wake-up costs. */
#define _GNU_SOURCE
#include <liburing.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum mode { MSG_RING, EVENTFD, MESSENGER };

struct side {
  struct io_uring ring;
  int efd;
  uint64_t efd_value;
  struct side* peer;
  enum mode mode;
  long rounds;
  int first;
  double cpu_us;
};

static pthread_mutex_t g_messenger_mu = PTHREAD_MUTEX_INITIALIZER;
static struct io_uring g_messenger;

static double thread_cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
}

static void post_read(struct side* s) {
  struct io_uring_sqe* q = io_uring_get_sqe(&s->ring);
  io_uring_prep_read(q, s->efd, &s->efd_value, sizeof s->efd_value, 0);
  q->user_data = 2;
}

static void send_token(struct side* s) {
  if (s->mode == EVENTFD) {
    uint64_t one = 1;
    if (write(s->peer->efd, &one, sizeof one) != sizeof one) abort();
  } else if (s->mode == MSG_RING) {
    struct io_uring_sqe* q = io_uring_get_sqe(&s->ring);
    io_uring_prep_msg_ring(q, s->peer->ring.ring_fd, 0, 1, 0);
    q->flags |= IOSQE_CQE_SKIP_SUCCESS;
    q->user_data = 3;
  } else {
    pthread_mutex_lock(&g_messenger_mu);
    struct io_uring_sqe* q = io_uring_get_sqe(&g_messenger);
    io_uring_prep_msg_ring(q, s->peer->ring.ring_fd, 0, 1, 0);
    q->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_submit(&g_messenger);
    pthread_mutex_unlock(&g_messenger_mu);
  }
}

static void wait_token(struct side* s) {
  for (;;) {
    io_uring_submit_and_wait(&s->ring, 1);
    struct io_uring_cqe* cqe;
    unsigned head, seen = 0;
    int got = 0;
    io_uring_for_each_cqe(&s->ring, head, cqe) {
      if (cqe->user_data == 1) got = 1;
      if (cqe->user_data == 2) {
        got = 1;
        post_read(s);
      }
      ++seen;
    }
    io_uring_cq_advance(&s->ring, seen);
    if (got) return;
  }
}

static pthread_barrier_t g_ready;

/* Each side makes its ring on its own thread (single issuer), then they play. */
static void* play(void* arg) {
  struct side* s = arg;
  struct io_uring_params p = {0};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (io_uring_queue_init_params(64, &s->ring, &p) < 0) abort();
  s->efd = eventfd(0, EFD_CLOEXEC);
  if (s->mode == EVENTFD) post_read(s);
  pthread_barrier_wait(&g_ready);
  double c0 = thread_cpu_us();
  for (long i = 0; i < s->rounds; ++i) {
    if (s->first) {
      send_token(s);
      wait_token(s);
    } else {
      wait_token(s);
      send_token(s);
    }
  }
  io_uring_submit(&s->ring); /* the last token */
  s->cpu_us = thread_cpu_us() - c0;
  pthread_barrier_wait(&g_ready); /* the peer is done with this ring */
  io_uring_queue_exit(&s->ring);
  close(s->efd);
  return NULL;
}

int main(int argc, char** argv) {
  long rounds = 200000;
  for (int i = 1; i + 1 < argc; i += 2)
    if (!strcmp(argv[i], "--rounds")) rounds = atol(argv[i + 1]);
  if (io_uring_queue_init(64, &g_messenger, 0) < 0) {
    fprintf(stderr, "bench_wake: no io_uring here\n");
    return 1;
  }
  const char* names[] = {"msg_ring", "eventfd", "messenger"};
  for (int m = 0; m < 3; ++m) {
    struct side a = {.mode = (enum mode)m, .rounds = rounds, .first = 1};
    struct side b = {.mode = (enum mode)m, .rounds = rounds, .first = 0};
    a.peer = &b;
    b.peer = &a;
    pthread_t ta, tb;
    pthread_barrier_init(&g_ready, NULL, 3);
    pthread_create(&tb, NULL, play, &b);
    pthread_create(&ta, NULL, play, &a);
    pthread_barrier_wait(&g_ready);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_barrier_wait(&g_ready);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&g_ready);
    double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%-10s %8.0f round trips/s  %6.2f us CPU per hop\n", names[m], rounds / secs,
           (a.cpu_us + b.cpu_us) / (2.0 * rounds));
  }
  return 0;
}
