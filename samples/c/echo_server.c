/*
 * echo_server.c — the smallest useful tcpserver program.
 *
 * Echoes every byte back, the way the original UTcpServer sample did: copy the received data
 * into a pool buffer (GetIOMem) and hand it to PostSend; if PostSend refuses, the buffer is
 * still ours and goes back with FreeIOMem. (Passing NULL as OnReceive gets the same echo
 * built in; --builtin shows that.)
 *
 *   echo_server [--ip 0.0.0.0] [--port 5500] [--builtin]
 *
 * Ctrl-C (or SIGTERM) stops it cleanly.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(_WIN32)
#include <windows.h>
#define sleep_ms(ms) Sleep(ms)
#else
#include <unistd.h>
#define sleep_ms(ms) usleep((ms) * 1000)
#endif

#include "tcpserver.h"

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static int32_t TS_CALL on_receive(TcpLink* link, uint8_t* buf, int32_t len) {
  void* mem = GetIOMem();
  if (!mem) return 1; /* pool exhausted: the engine pauses reading until buffers return */
  memcpy(mem, buf, (size_t)len);
  if (!PostSend(link, mem, len)) FreeIOMem(mem);
  return 1;
}

static void TS_CALL on_disconnect(TcpLink* link) {
  printf("%s:%u left (%s)\n", link->RemoteIP, link->RemotePort,
         GetCloseReasonText(link->CloseReason));
}

static int32_t TS_CALL on_connect(TcpLink* link) {
  printf("%s:%u joined (link %llu)\n", link->RemoteIP, link->RemotePort,
         (unsigned long long)link->Id);
  return 1;
}

int main(int argc, char** argv) {
  const char* ip = "0.0.0.0";
  unsigned port = 5500;
  int builtin = 0;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--ip") && i + 1 < argc) ip = argv[++i];
    else if (!strcmp(argv[i], "--port") && i + 1 < argc) port = (unsigned)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--builtin")) builtin = 1;
    else {
      fprintf(stderr, "usage: %s [--ip TEXT] [--port N] [--builtin]\n", argv[0]);
      return 2;
    }
  }
  SetEventProc(builtin ? NULL : on_receive, on_disconnect, NULL, NULL, NULL);
  SetConnectProc(on_connect);
  if (!StartTcpServer(ip, port)) {
    fprintf(stderr, "cannot start: %s\n", GetLastErrorText());
    return 1;
  }
  printf("%s echoing on %s port %u with %d workers; Ctrl-C stops\n", GetVersionText(), ip,
         GetServerPort(), GetWorkerCount());
  fflush(stdout);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  while (!g_stop) sleep_ms(100);
  if (!StopTcpServer()) {
    fprintf(stderr, "stop failed: %s\n", GetLastErrorText());
    return 1;
  }
  printf("stopped: %lld connections served, %lld bytes echoed\n",
         (long long)GetServerCounter(TS_COUNTER_ACCEPTS),
         (long long)GetServerCounter(TS_COUNTER_BYTES_OUT));
  return 0;
}
