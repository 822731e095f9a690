/* The libuv peer: one loop, TCP_NODELAY; reads into one loop-wide 16 KiB buffer (the loop is one
 * thread, and the data is written back before the next read), uv_try_write first and uv_write
 * of a copy for whatever the socket did not take. Prints "PORT <n>" and runs until killed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "server_util.h"

static char g_buf[BENCH_READ_SIZE];

struct write_req {
  uv_write_t req;
  uv_buf_t buf;
};

static void on_close(uv_handle_t* h) { free(h); }

static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(g_buf, sizeof g_buf);
}

static void on_written(uv_write_t* req, int status) {
  struct write_req* w = (struct write_req*)req;
  (void)status;
  free(w->buf.base);
  free(w);
}

static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  if (n < 0) {
    uv_close((uv_handle_t*)s, on_close);
    return;
  }
  if (n == 0) return;
  uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
  int done = uv_try_write(s, &out, 1);
  if (done == n) return;
  if (done < 0 && done != UV_EAGAIN) {
    uv_close((uv_handle_t*)s, on_close);
    return;
  }
  if (done < 0) done = 0;
  struct write_req* w = malloc(sizeof *w);
  w->buf = uv_buf_init(malloc((size_t)(n - done)), (unsigned)(n - done));
  memcpy(w->buf.base, buf->base + done, (size_t)(n - done));
  if (uv_write(&w->req, s, &w->buf, 1, on_written) != 0) {
    free(w->buf.base);
    free(w);
    uv_close((uv_handle_t*)s, on_close);
  }
}

static void on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  uv_tcp_t* client = malloc(sizeof *client);
  uv_tcp_init(server->loop, client);
  if (uv_accept(server, (uv_stream_t*)client) != 0) {
    uv_close((uv_handle_t*)client, on_close);
    return;
  }
  uv_tcp_nodelay(client, 1);
  uv_read_start((uv_stream_t*)client, on_alloc, on_read);
}

int main(void) {
  bench_raise_fd_limit();
  uv_loop_t* loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  int r = uv_tcp_bind(&server, (const struct sockaddr*)&addr, 0);
  if (!r) r = uv_listen((uv_stream_t*)&server, BENCH_BACKLOG, on_connection);
  if (r) {
    fprintf(stderr, "bench_uv_server: %s\n", uv_strerror(r));
    return 1;
  }
  int len = sizeof addr;
  uv_tcp_getsockname(&server, (struct sockaddr*)&addr, &len);
  printf("PORT %u\n", ntohs(addr.sin_port));
  fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
