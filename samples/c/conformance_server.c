/*
 * conformance_server.c — the conformance server of tests/conformance/PROTOCOL.md, in C.
 *
 * Echoes everything; a chunk "BCAST <text>\n" broadcasts "<text>\n" to every link, "STATS\n"
 * answers with the statistics, "CLOSE\n" closes the link, "THROW\n" makes the handler fail
 * (in C: return 0, which closes the link), "REFUSE ON|OFF\n" toggles refusing new links.
 * Standard input: "stats" prints a STATS line; "quit" or end of input stops the server.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpserver.h"

static atomic_int g_refuse, g_disconnects, g_idle;

static int starts_with(const uint8_t* buf, int32_t len, const char* word) {
  size_t n = strlen(word);
  return (size_t)len >= n && memcmp(buf, word, n) == 0;
}

static int format_stats(char* out, size_t size) {
  return snprintf(out, size,
                  "STATS links=%d accepts=%lld refused=%lld closed=%lld idle_closed=%lld "
                  "bytes_in=%lld bytes_out=%lld msgs_in=%lld msgs_out=%lld iomem_free=%d "
                  "iomem_count=%lld workers=%d disconnects=%d idle=%d\n",
                  GetLinkCount(), (long long)GetServerCounter(TS_COUNTER_ACCEPTS),
                  (long long)GetServerCounter(TS_COUNTER_REFUSED),
                  (long long)GetServerCounter(TS_COUNTER_CLOSED),
                  (long long)GetServerCounter(TS_COUNTER_IDLE_CLOSED),
                  (long long)GetServerCounter(TS_COUNTER_BYTES_IN),
                  (long long)GetServerCounter(TS_COUNTER_BYTES_OUT),
                  (long long)GetServerCounter(TS_COUNTER_MSGS_IN),
                  (long long)GetServerCounter(TS_COUNTER_MSGS_OUT), GetIOMemFree(),
                  (long long)GetServerOption(TS_OPT_IO_BUFFER_COUNT), GetWorkerCount(),
                  atomic_load(&g_disconnects), atomic_load(&g_idle));
}

static int32_t TS_CALL on_receive(TcpLink* link, uint8_t* buf, int32_t len) {
  int line = len > 0 && buf[len - 1] == '\n';
  if (line && starts_with(buf, len, "BCAST ")) {
    PostBroadcast(buf + 6, len - 6);
    return 1;
  }
  if (line && starts_with(buf, len, "STATS\n")) {
    char text[512];
    int n = format_stats(text, sizeof text);
    return SendBuffer(link, text, n);
  }
  if (line && starts_with(buf, len, "CLOSE\n")) return CloseLink(link), 1;
  if (line && starts_with(buf, len, "THROW\n")) return 0; /* C has no exceptions: fail the link */
  if (line && starts_with(buf, len, "REFUSE ")) {
    atomic_store(&g_refuse, starts_with(buf, len, "REFUSE ON\n"));
    return SendBuffer(link, "OK\n", 3);
  }
  return SendBuffer(link, buf, len); /* echo; 0 (queue over its limit) closes the link */
}

static int32_t TS_CALL on_connect(TcpLink* link) {
  (void)link;
  return !atomic_load(&g_refuse);
}
static void TS_CALL on_disconnect(TcpLink* link) { (void)link; atomic_fetch_add(&g_disconnects, 1); }
static void TS_CALL on_idle(TcpLink* link) { (void)link; atomic_fetch_add(&g_idle, 1); }

static int option_flag(const char* flag, int32_t* option) {
  static const struct { const char* flag; int32_t option; } map[] = {
      {"--idle-ms", TS_OPT_IDLE_TIMEOUT_MS},   {"--max-links", TS_OPT_MAX_LINKS},
      {"--workers", TS_OPT_WORKER_THREADS},    {"--buffer-size", TS_OPT_IO_BUFFER_SIZE},
      {"--buffer-count", TS_OPT_IO_BUFFER_COUNT}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; ++i)
    if (!strcmp(flag, map[i].flag)) return *option = map[i].option, 1;
  return 0;
}

int main(int argc, char** argv) {
  const char* ip = "127.0.0.1";
  unsigned port = 0;
  for (int i = 1; i < argc; ++i) {
    int32_t option;
    if (i + 1 >= argc) {
      fprintf(stderr, "conformance_server: %s needs a value\n", argv[i]);
      return 2;
    }
    if (!strcmp(argv[i], "--port")) port = (unsigned)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--ip")) ip = argv[++i];
    else if (option_flag(argv[i], &option)) {
      if (!SetServerOption(option, atoll(argv[++i]))) {
        fprintf(stderr, "conformance_server: %s: %s\n", argv[i - 1], GetLastErrorText());
        return 2;
      }
    } else {
      fprintf(stderr, "conformance_server: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  SetEventProc(on_receive, on_disconnect, on_idle, NULL, NULL);
  SetConnectProc(on_connect);
  if (!StartTcpServer(ip, port)) {
    fprintf(stderr, "conformance_server: cannot start: %s\n", GetLastErrorText());
    return 1;
  }
  printf("PORT %u\n", GetServerPort());
  fflush(stdout);
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    if (!strncmp(line, "stats", 5)) {
      char text[512];
      format_stats(text, sizeof text);
      fputs(text, stdout);
      fflush(stdout);
    } else if (!strncmp(line, "quit", 4)) {
      break;
    }
  }
  if (!StopTcpServer()) {
    fprintf(stderr, "conformance_server: stop failed: %s\n", GetLastErrorText());
    return 1;
  }
  printf("STOPPED disconnects=%d idle=%d\n", atomic_load(&g_disconnects), atomic_load(&g_idle));
  fflush(stdout);
  return 0;
}
