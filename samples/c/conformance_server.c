/*
 * conformance_server.c — the conformance server of tests/conformance/PROTOCOL.md, in C.
 *
 * Echoes everything; one-line commands on the wire (BCAST, BCASTX, STATS, CLOSE, THROW,
 * REFUSE, ID, LINKS, PAUSE, RESUME, QUEUED, FLOOD, TLS) drive the engine. With --tls-cert the
 * first server speaks TLS (and --tls-alpn, --tls-client-ca, --tls-sni configure it further, for
 * the interop tests of tests/tls_interop). The first server uses
 * the flat API; with --second-server a second one runs through CreateTcpServer and the
 * TcpServer* family, its callbacks finding their server through the Context pointer.
 * With --cluster (builds with the cluster library) the first server joins a cluster through
 * Redis: its callbacks go through the node (TcpClusterSetEventProc), BCAST/BCASTX reach every
 * node, and NODE, SENDTO, KEY, UNKEY, SENDKEY, PUBLISH and CSTATS drive the node.
 * Standard input: "stats", "stats2", "stop2", "cstats", and "quit" (or end of input) to stop.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpserver.h"
#if defined(TCPSERVER_WITH_CLUSTER)
#include "tcpcluster.h"
#endif

#define CLOSE_REASONS TS_CLOSE_TLS_NO_CLOSE_NOTIFY /* TS_CLOSE_PEER_CLOSED .. the last one */

/* One server and what the sample counts for it. handle is NULL for the first server, which
 * is driven through the flat API. */
typedef struct Server {
  TcpServerHandle* handle;
  atomic_int refuse, disconnects, idle;
  atomic_int closed_by_reason[CLOSE_REASONS + 1];
} Server;

static Server g_first, g_second;

#if defined(TCPSERVER_WITH_CLUSTER)
/* The first server's cluster node (--cluster), and what the sample counts for it. */
static TcpClusterNode* g_node;
static atomic_llong g_send_failed, g_gap_events, g_topics;
#endif

/* ---- the few calls that differ between the flat API and the TcpServer* family ---- */

static int64_t counter(Server* s, int32_t which) {
  return s->handle ? TcpServerGetCounter(s->handle, which) : GetServerCounter(which);
}
static int32_t link_count(Server* s) {
  return s->handle ? TcpServerGetLinkCount(s->handle) : GetLinkCount();
}
static int32_t iomem_free(Server* s) {
  return s->handle ? TcpServerGetIOMemFree(s->handle) : GetIOMemFree();
}
static int64_t option(Server* s, int32_t which) {
  return s->handle ? TcpServerGetOption(s->handle, which) : GetServerOption(which);
}
static int32_t worker_count(Server* s) {
  return s->handle ? TcpServerGetWorkerCount(s->handle) : GetWorkerCount();
}
static int32_t link_ids(Server* s, uint64_t* ids, int32_t capacity) {
  return s->handle ? TcpServerGetLinkIds(s->handle, ids, capacity) : GetLinkIds(ids, capacity);
}
static int32_t broadcast(Server* s, const uint8_t* buf, int32_t len, uint64_t except_id) {
#if defined(TCPSERVER_WITH_CLUSTER)
  if (g_node && s == &g_first) return TcpClusterBroadcast(g_node, buf, len, except_id);
#endif
  if (s->handle) return TcpServerPostBroadcast(s->handle, buf, len, except_id);
  return except_id ? PostBroadcastExcept(buf, len, except_id) : PostBroadcast(buf, len);
}

/* ---- replies ---- */

/* keyword: "STATS" on the wire and for stdin's "stats", "STATS2" for "stats2". */
static int format_stats(Server* s, const char* keyword, char* out, size_t size) {
  int n = snprintf(out, size,
                   "%s links=%d accepts=%lld refused=%lld closed=%lld idle_closed=%lld "
                   "bytes_in=%lld bytes_out=%lld msgs_in=%lld msgs_out=%lld iomem_free=%d "
                   "iomem_count=%lld workers=%d disconnects=%d idle=%d framing_errors=%lld "
                   "tls_handshakes=%lld tls_resumed=%lld tls_failures=%lld",
                   keyword, link_count(s), (long long)counter(s, TS_COUNTER_ACCEPTS),
                   (long long)counter(s, TS_COUNTER_REFUSED),
                   (long long)counter(s, TS_COUNTER_CLOSED),
                   (long long)counter(s, TS_COUNTER_IDLE_CLOSED),
                   (long long)counter(s, TS_COUNTER_BYTES_IN),
                   (long long)counter(s, TS_COUNTER_BYTES_OUT),
                   (long long)counter(s, TS_COUNTER_MSGS_IN),
                   (long long)counter(s, TS_COUNTER_MSGS_OUT), iomem_free(s),
                   (long long)option(s, TS_OPT_IO_BUFFER_COUNT), worker_count(s),
                   atomic_load(&s->disconnects), atomic_load(&s->idle),
                   (long long)counter(s, TS_COUNTER_FRAMING_ERRORS),
                   (long long)counter(s, TS_COUNTER_TLS_HANDSHAKES),
                   (long long)counter(s, TS_COUNTER_TLS_RESUMED),
                   (long long)counter(s, TS_COUNTER_TLS_HANDSHAKE_FAILURES));
  for (int r = 1; r <= CLOSE_REASONS; ++r)
    n += snprintf(out + n, size - (size_t)n, " closed_%d=%d", r,
                  atomic_load(&s->closed_by_reason[r]));
  n += snprintf(out + n, size - (size_t)n, "\n");
  return n;
}

/* "LINKS <id> <id> ...\n" for the server's open links; NULL if out of memory. The list is
 * read again if links arrived between sizing the buffer and filling it. */
static char* format_links(Server* s, int* text_len) {
  int32_t capacity = 0;
  uint64_t* ids = NULL;
  int32_t count = link_ids(s, NULL, 0);
  while (count > capacity) {
    free(ids);
    capacity = count + 16;
    ids = (uint64_t*)malloc(sizeof *ids * (size_t)capacity);
    if (!ids) return NULL;
    count = link_ids(s, ids, capacity);
  }
  if (count < 0) count = 0; /* the server is stopping: no open links to list */
  size_t size = 8 + 21 * (size_t)count; /* "LINKS", " <id>" of at most 21 chars each, "\n" */
  char* text = (char*)malloc(size);
  if (text) {
    int n = snprintf(text, size, "LINKS");
    for (int32_t i = 0; i < count; ++i)
      n += snprintf(text + n, size - (size_t)n, " %llu", (unsigned long long)ids[i]);
    n += snprintf(text + n, size - (size_t)n, "\n");
    *text_len = n;
  }
  free(ids);
  return text;
}

static int32_t reply(TcpLink* link, const char* text) {
  return SendBuffer(link, text, (int32_t)strlen(text));
}

/* FLOOD: n bytes, byte i being i % 251, in one SendBuffer. Nothing is replied when it fails
 * (over the queue limit with policy close, the engine is closing the link). */
static int32_t flood(TcpLink* link, long long n) {
  if (n <= 0 || n > INT32_MAX) return reply(link, "ERR bad FLOOD size\n");
  uint8_t* data = (uint8_t*)malloc((size_t)n);
  if (!data) return reply(link, "ERR out of memory\n");
  for (long long i = 0; i < n; ++i) data[i] = (uint8_t)(i % 251);
  SendBuffer(link, data, (int32_t)n);
  free(data);
  return 1;
}

/* ---- the handlers, shared by both servers ---- */

static int starts_with(const uint8_t* buf, int32_t len, const char* word) {
  size_t n = strlen(word);
  return (size_t)len >= n && memcmp(buf, word, n) == 0;
}

#if defined(TCPSERVER_WITH_CLUSTER)
/* "CSTATS key=value ...\n": the node's counters (keyword "CSTATS" on the wire and stdout). */
static int format_cluster_stats(char* out, size_t size) {
  static const struct { const char* key; int32_t counter; } keys[] = {
      {"state", TC_COUNTER_STATE},         {"published", TC_COUNTER_PUBLISHED},
      {"received", TC_COUNTER_RECEIVED},   {"queue_dropped", TC_COUNTER_QUEUE_DROPPED},
      {"down_dropped", TC_COUNTER_DOWN_DROPPED}, {"unconfirmed", TC_COUNTER_UNCONFIRMED},
      {"gaps", TC_COUNTER_GAPS},           {"send_failed", TC_COUNTER_SEND_FAILED},
      {"queue_length", TC_COUNTER_QUEUE_LENGTH}, {"queue_peak", TC_COUNTER_QUEUE_PEAK},
      {"reconnects", TC_COUNTER_RECONNECTS}, {"echoes", TC_COUNTER_ECHOES},
      {"keys", TC_COUNTER_KEYS},           {"bad_messages", TC_COUNTER_BAD_MESSAGES},
      {"broker_errors", TC_COUNTER_BROKER_ERRORS}};
  int n = snprintf(out, size, "CSTATS node=%llu", (unsigned long long)TcpClusterGetNodeId(g_node));
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; ++i)
    n += snprintf(out + n, size - (size_t)n, " %s=%lld", keys[i].key,
                  (long long)TcpClusterGetCounter(g_node, keys[i].counter));
  n += snprintf(out + n, size - (size_t)n, " gap_events=%lld topics=%lld\n",
                (long long)atomic_load(&g_gap_events), (long long)atomic_load(&g_topics));
  return n;
}

static int32_t reply_cluster_error(TcpLink* link) {
  char text[700];
  snprintf(text, sizeof text, "ERR %d %s\n", TcpClusterGetLastErrorCode(), TcpClusterGetLastErrorText());
  return reply(link, text);
}

/* The word after a keyword (up to a space or the final '\n') into out; returns the rest. */
static const char* take_word(const char* p, char* out, size_t size) {
  size_t n = 0;
  while (*p && *p != ' ' && *p != '\n') {
    if (n + 1 < size) out[n++] = *p;
    ++p;
  }
  out[n] = 0;
  return *p == ' ' ? p + 1 : p;
}

/* Cluster commands of the first server; 0 if the line is none of them. The line (len bytes,
 * ending in '\n') is copied NUL-terminated into line. */
static int cluster_command(TcpLink* link, const uint8_t* buf, int32_t len, int32_t* result) {
  char line[1100], word[300], word2[64];
  char text[1200];
  if (!g_node || len >= (int32_t)sizeof line) return 0;
  memcpy(line, buf, (size_t)len);
  line[len] = 0;
  if (!strcmp(line, "NODE\n")) {
    snprintf(text, sizeof text, "NODE %llu\n", (unsigned long long)TcpClusterGetNodeId(g_node));
    return *result = reply(link, text), 1;
  }
  if (!strcmp(line, "CSTATS\n")) {
    int n = format_cluster_stats(text, sizeof text);
    return *result = SendBuffer(link, text, n), 1;
  }
  if (starts_with(buf, len, "SENDTO ")) { /* SENDTO <node> <id> <text>\n: "<text>\n" there */
    const char* p = take_word(line + 7, word, sizeof word);
    p = take_word(p, word2, sizeof word2);
    uint64_t node = strtoull(word, NULL, 10), id = strtoull(word2, NULL, 10);
    if (!TcpClusterSendToLink(g_node, node, id, p, (int32_t)strlen(p), link->Id))
      return *result = reply_cluster_error(link), 1;
    return *result = 1, 1;
  }
  if (starts_with(buf, len, "SENDKEY ")) { /* SENDKEY <key> <text>\n */
    const char* p = take_word(line + 8, word, sizeof word);
    if (!TcpClusterSendToKey(g_node, word, p, (int32_t)strlen(p), link->Id))
      return *result = reply_cluster_error(link), 1;
    return *result = 1, 1;
  }
  if (starts_with(buf, len, "KEY ") || starts_with(buf, len, "UNKEY ")) {
    int set = buf[0] == 'K';
    take_word(line + (set ? 4 : 6), word, sizeof word);
    int ok = set ? TcpClusterSetKey(g_node, link->Id, word) : TcpClusterClearKey(g_node, word);
    return *result = ok ? reply(link, "OK\n") : reply_cluster_error(link), 1;
  }
  if (starts_with(buf, len, "PUBLISH ")) { /* PUBLISH <topic> <text>\n */
    const char* p = take_word(line + 8, word, sizeof word);
    if (!TcpClusterPublish(g_node, word, p, (int32_t)strlen(p)))
      return *result = reply_cluster_error(link), 1;
    return *result = 1, 1;
  }
  return 0;
}

/* ---- the node's callbacks ---- */

/* A topic message: "TOPIC <topic> <text>" to every link of this node's server. */
static void TC_CALL on_topic(void* context, const char* topic, uint64_t publisher,
                             const uint8_t* data, int32_t len) {
  char text[1400];
  (void)context;
  (void)publisher;
  atomic_fetch_add(&g_topics, 1);
  int n = snprintf(text, sizeof text, "TOPIC %s ", topic);
  if (len > (int32_t)sizeof text - n) len = (int32_t)sizeof text - n;
  memcpy(text + n, data, (size_t)len);
  PostBroadcast(text, n + len);
}

/* A directed send failed later: the link that asked (its id is the Tag) hears why. */
static void TC_CALL on_send_failed(void* context, uint64_t tag, int32_t reason, uint64_t node,
                                   uint64_t link_id, const char* key, const char* text) {
  char line[1200];
  (void)context;
  (void)node;
  (void)link_id;
  (void)key;
  atomic_fetch_add(&g_send_failed, 1);
  int n = snprintf(line, sizeof line, "SENDFAIL %d %s\n", reason, text);
  if (n >= (int)sizeof line) n = (int)sizeof line - 1;
  SendBufferById(tag, line, n);
}

static void TC_CALL on_gap(void* context, uint64_t publisher, int32_t channel, int64_t missed) {
  (void)context;
  atomic_fetch_add(&g_gap_events, 1);
  fprintf(stderr, "conformance_server: %lld messages from node %llu on channel %d never arrived\n",
          (long long)missed, (unsigned long long)publisher, channel);
}

static void TC_CALL on_state(void* context, int32_t state, const char* text) {
  (void)context;
  fprintf(stderr, "conformance_server: cluster %s: %s\n", TcpClusterGetStateText(state), text);
}
#endif

/* The number after a keyword of `skip` characters; the command ends in '\n', so strtoull
 * stops there. */
static unsigned long long argument(const uint8_t* buf, size_t skip) {
  return strtoull((const char*)buf + skip, NULL, 10);
}

static int32_t handle_receive(Server* s, TcpLink* link, uint8_t* buf, int32_t len) {
  char text[1024];
  if (len <= 0 || buf[len - 1] != '\n')
    return SendBuffer(link, buf, len); /* echo; 0 (queue over its limit) closes the link */
#if defined(TCPSERVER_WITH_CLUSTER)
  int32_t result;
  if (s == &g_first && cluster_command(link, buf, len, &result)) return result;
#endif
  if (starts_with(buf, len, "BCAST ")) return broadcast(s, buf + 6, len - 6, 0), 1;
  if (starts_with(buf, len, "BCASTX ")) return broadcast(s, buf + 7, len - 7, link->Id), 1;
  if (starts_with(buf, len, "STATS\n")) {
    int n = format_stats(s, "STATS", text, sizeof text);
    return SendBuffer(link, text, n);
  }
  if (starts_with(buf, len, "CLOSE\n")) return CloseLink(link), 1;
  if (starts_with(buf, len, "THROW\n")) return 0; /* C has no exceptions: fail the link */
  if (starts_with(buf, len, "REFUSE ")) {
    atomic_store(&s->refuse, starts_with(buf, len, "REFUSE ON\n"));
    return reply(link, "OK\n");
  }
  if (starts_with(buf, len, "ID\n")) {
    snprintf(text, sizeof text, "ID %llu\n", (unsigned long long)link->Id);
    return reply(link, text);
  }
  if (starts_with(buf, len, "LINKS\n")) {
    int n = 0;
    char* links = format_links(s, &n);
    if (!links) return reply(link, "ERR out of memory\n");
    int32_t ok = SendBuffer(link, links, n);
    free(links);
    return ok;
  }
  if (starts_with(buf, len, "PAUSE ") || starts_with(buf, len, "RESUME ")) {
    int pause = buf[0] == 'P';
    uint64_t id = argument(buf, pause ? 6 : 7);
    if (pause ? PauseReceiveById(id) : ResumeReceiveById(id)) return reply(link, "OK\n");
    snprintf(text, sizeof text, "ERR %d\n", GetLastErrorCode());
    return reply(link, text);
  }
  if (starts_with(buf, len, "QUEUED ")) {
    snprintf(text, sizeof text, "QUEUED %lld\n", (long long)GetSendQueueBytesById(argument(buf, 7)));
    return reply(link, text);
  }
  if (starts_with(buf, len, "FLOOD ")) return flood(link, (long long)argument(buf, 6));
  if (starts_with(buf, len, "TLS ")) { /* TLS <TS_TLS_INFO_*>: "TLS <text>" or "ERR <code>" */
    char info[900];
    if (GetLinkTlsInfo(link, (int32_t)argument(buf, 4), info, (int32_t)sizeof info) < 0)
      snprintf(text, sizeof text, "ERR %d\n", GetLastErrorCode());
    else
      snprintf(text, sizeof text, "TLS %s\n", info);
    return reply(link, text);
  }
  return SendBuffer(link, buf, len);
}

static void count_close(Server* s, TcpLink* link) {
  if (link->CloseReason >= 1 && link->CloseReason <= CLOSE_REASONS)
    atomic_fetch_add(&s->closed_by_reason[link->CloseReason], 1);
}

/* The first server: flat callbacks. */
static int32_t TS_CALL on_receive(TcpLink* link, uint8_t* buf, int32_t len) {
  return handle_receive(&g_first, link, buf, len);
}
static int32_t TS_CALL on_connect(TcpLink* link) {
  (void)link;
  return !atomic_load(&g_first.refuse);
}
static void TS_CALL on_disconnect(TcpLink* link) {
  count_close(&g_first, link);
  atomic_fetch_add(&g_first.disconnects, 1);
}
static void TS_CALL on_idle(TcpLink* link) {
  count_close(&g_first, link);
  atomic_fetch_add(&g_first.idle, 1);
}

/* The second server: the Context is its Server record. The first server in cluster mode
 * gets these too (through its node), with the default server's Context, NULL. */
static Server* server_of(void* context) { return context ? (Server*)context : &g_first; }
static int32_t TS_CALL on_receive_ex(void* context, TcpLink* link, uint8_t* buf, int32_t len) {
  return handle_receive(server_of(context), link, buf, len);
}
static int32_t TS_CALL on_connect_ex(void* context, TcpLink* link) {
  (void)link;
  return !atomic_load(&server_of(context)->refuse);
}
static void TS_CALL on_disconnect_ex(void* context, TcpLink* link) {
  count_close(server_of(context), link);
  atomic_fetch_add(&server_of(context)->disconnects, 1);
}
static void TS_CALL on_idle_ex(void* context, TcpLink* link) {
  count_close(server_of(context), link);
  atomic_fetch_add(&server_of(context)->idle, 1);
}

/* ---- command line and standard input ---- */

static int option_flag(const char* flag, int32_t* option_id) {
  static const struct { const char* flag; int32_t option; } map[] = {
      {"--idle-ms", TS_OPT_IDLE_TIMEOUT_MS},
      {"--max-links", TS_OPT_MAX_LINKS},
      {"--workers", TS_OPT_WORKER_THREADS},
      {"--buffer-size", TS_OPT_IO_BUFFER_SIZE},
      {"--buffer-count", TS_OPT_IO_BUFFER_COUNT},
      {"--framing", TS_OPT_FRAMING},
      {"--max-message", TS_OPT_MAX_MESSAGE_SIZE},
      {"--send-queue-limit", TS_OPT_SEND_QUEUE_LIMIT},
      {"--send-queue-policy", TS_OPT_SEND_QUEUE_POLICY},
      {"--keepalive-idle", TS_OPT_KEEPALIVE_IDLE_S},
      {"--keepalive-interval", TS_OPT_KEEPALIVE_INTERVAL_S},
      {"--keepalive-count", TS_OPT_KEEPALIVE_COUNT},
      {"--ipv6-only", TS_OPT_IPV6_ONLY},
      {"--memory-budget", TS_OPT_MEMORY_BUDGET},
      {"--send-high-water", TS_OPT_SEND_HIGH_WATER},
      {"--message-timeout-ms", TS_OPT_MESSAGE_TIMEOUT_MS},
      {"--max-links-per-address", TS_OPT_MAX_LINKS_PER_ADDRESS},
      {"--accept-rate", TS_OPT_ACCEPT_RATE},
      {"--tls-min-version", TS_OPT_TLS_MIN_VERSION},
      {"--tls-client-cert", TS_OPT_TLS_CLIENT_CERT},
      {"--tls-handshake-timeout-ms", TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS},
      {"--tls-max-handshakes", TS_OPT_TLS_MAX_HANDSHAKES},
      {"--tls-session-tickets", TS_OPT_TLS_SESSION_TICKETS}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; ++i)
    if (!strcmp(flag, map[i].flag)) return *option_id = map[i].option, 1;
  return 0;
}

static int set_option(const char* flag, int32_t option_id, long long value) {
  if (SetServerOption(option_id, value)) return 1;
  fprintf(stderr, "conformance_server: %s %lld: %s\n", flag, value, GetLastErrorText());
  return 0;
}

static int start_second(const char* ip) {
  g_second.handle = CreateTcpServer(&g_second);
  if (!g_second.handle ||
      !TcpServerSetEventProc(g_second.handle, on_receive_ex, on_disconnect_ex, on_idle_ex, NULL,
                             NULL) ||
      !TcpServerSetConnectProc(g_second.handle, on_connect_ex) ||
      !TcpServerStart(g_second.handle, ip, 0)) {
    fprintf(stderr, "conformance_server: cannot start the second server: %s\n",
                    GetLastErrorText());
    return 0;
  }
  return 1;
}

static void print_stats(Server* s, const char* keyword) {
  char text[1024];
  if (s == &g_second && !g_second.handle) {
    fprintf(stderr, "conformance_server: stats2: no second server runs\n");
    return;
  }
  format_stats(s, keyword, text, sizeof text);
  fputs(text, stdout);
  fflush(stdout);
}

static int stop_second(void) {
  if (!DestroyTcpServer(g_second.handle)) {
    fprintf(stderr, "conformance_server: destroying the second server failed: %s\n",
            GetLastErrorText());
    return 0;
  }
  g_second.handle = NULL;
  return 1;
}

/* ---- TLS (--tls-*) ---- */

typedef struct TlsFlags {
  const char* cert;      /* --tls-cert FILE: turns TLS on */
  const char* key;       /* --tls-key FILE (NULL: the key is in the certificate file) */
  const char* password;  /* --tls-password TEXT */
  const char* alpn;      /* --tls-alpn LIST ("h2,http/1.1") */
  const char* client_ca; /* --tls-client-ca FILE */
  const char* sni[8];    /* --tls-sni NAME=FILE (the certificate and its key in one file) */
  int sni_count;
} TlsFlags;

/* The whole file into a new buffer (*len bytes); NULL, with a message, if it cannot be read. */
static uint8_t* read_file(const char* path, int32_t* len) {
  FILE* f = fopen(path, "rb");
  uint8_t* data = NULL;
  long size = -1;
  if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (data = (uint8_t*)malloc((size_t)size + 1)) != NULL &&
      fread(data, 1, (size_t)size, f) == (size_t)size) {
    fclose(f);
    *len = (int32_t)size;
    return data;
  }
  fprintf(stderr, "conformance_server: cannot read %s\n", path);
  free(data);
  if (f) fclose(f);
  return NULL;
}

/* The first server's TLS settings, then TS_OPT_TLS = 1. */
static int setup_tls(const TlsFlags* t) {
  if (!SetTlsCertificateFile(t->cert, t->key, t->password)) {
    fprintf(stderr, "conformance_server: --tls-cert: %s\n", GetLastErrorText());
    return 0;
  }
  if (t->alpn && !SetTlsAlpn(t->alpn)) {
    fprintf(stderr, "conformance_server: --tls-alpn: %s\n", GetLastErrorText());
    return 0;
  }
  if (t->client_ca) {
    int32_t len = 0;
    uint8_t* ca = read_file(t->client_ca, &len);
    int ok = ca && SetTlsClientCA(ca, len);
    if (ca && !ok) fprintf(stderr, "conformance_server: --tls-client-ca: %s\n", GetLastErrorText());
    free(ca);
    if (!ok) return 0;
  }
  for (int i = 0; i < t->sni_count; ++i) {
    char name[256];
    const char* eq = strchr(t->sni[i], '=');
    if (!eq || eq == t->sni[i] || (size_t)(eq - t->sni[i]) >= sizeof name) {
      fprintf(stderr, "conformance_server: --tls-sni wants NAME=FILE, not %s\n", t->sni[i]);
      return 0;
    }
    memcpy(name, t->sni[i], (size_t)(eq - t->sni[i]));
    name[eq - t->sni[i]] = 0;
    int32_t len = 0;
    uint8_t* data = read_file(eq + 1, &len);
    int ok = data && AddTlsServerName(name, data, len, NULL, 0, t->password);
    if (data && !ok) fprintf(stderr, "conformance_server: --tls-sni %s: %s\n", name, GetLastErrorText());
    free(data);
    if (!ok) return 0;
  }
  return set_option("--tls-cert", TS_OPT_TLS, 1);
}

/* ---- cluster mode (--cluster) ---- */

typedef struct ClusterFlags {
  const char* url;    /* --cluster redis://HOST:PORT; NULL = no cluster */
  const char* name;   /* --node NAME */
  const char* prefix; /* --cluster-prefix TEXT */
  struct { int32_t option; long long value; const char* flag; } options[8];
  int option_count;
} ClusterFlags;

/* --cluster-* flags that map to a TC_OPT_* option (numbers from tcpcluster.h, so this table
 * compiles without it). */
static int cluster_option_flag(const char* flag, int32_t* option_id) {
  static const struct { const char* flag; int32_t option; } map[] = {
      {"--cluster-queue", 1 /* TC_OPT_QUEUE_MESSAGES */},
      {"--cluster-ttl-ms", 5 /* TC_OPT_KEY_TTL_MS */},
      {"--cluster-reply-timeout-ms", 6 /* TC_OPT_REPLY_TIMEOUT_MS */},
      {"--cluster-reconnect-max-ms", 9 /* TC_OPT_RECONNECT_MAX_MS */}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; ++i)
    if (!strcmp(flag, map[i].flag)) return *option_id = map[i].option, 1;
  return 0;
}

/* Creates the first (default) server's node and starts it; the server's callbacks go through
 * the node. Redis may be down: the node keeps trying (on_state reports). */
static int start_cluster(const ClusterFlags* f) {
#if defined(TCPSERVER_WITH_CLUSTER)
  g_node = TcpClusterCreate(NULL, f->url, f->prefix, f->name, NULL);
  if (!g_node) {
    fprintf(stderr, "conformance_server: --cluster: %s\n", TcpClusterGetLastErrorText());
    return 0;
  }
  for (int i = 0; i < f->option_count; ++i)
    if (!TcpClusterSetOption(g_node, f->options[i].option, f->options[i].value)) {
      fprintf(stderr, "conformance_server: %s: %s\n", f->options[i].flag, TcpClusterGetLastErrorText());
      return 0;
    }
  if (!TcpClusterSetEventProc(g_node, on_receive_ex, on_disconnect_ex, on_idle_ex, NULL, NULL) ||
      !TcpClusterSetConnectProc(g_node, on_connect_ex) ||
      !TcpClusterSetClusterProc(g_node, on_topic, on_send_failed, on_gap, on_state) ||
      !TcpClusterStart(g_node)) {
    fprintf(stderr, "conformance_server: --cluster: %s\n", TcpClusterGetLastErrorText());
    return 0;
  }
  return 1;
#else
  (void)f;
  fprintf(stderr, "conformance_server: --cluster: this build has no cluster library (it is built "
                  "on Linux where libhiredis-dev is installed)\n");
  return 0;
#endif
}

static void print_cluster_stats(void) {
#if defined(TCPSERVER_WITH_CLUSTER)
  char text[1200];
  if (!g_node) {
    fprintf(stderr, "conformance_server: cstats: not in cluster mode (--cluster)\n");
    return;
  }
  format_cluster_stats(text, sizeof text);
  fputs(text, stdout);
  fflush(stdout);
#endif
}

static void stop_cluster(void) {
#if defined(TCPSERVER_WITH_CLUSTER)
  if (g_node && !TcpClusterDestroy(g_node))
    fprintf(stderr, "conformance_server: destroying the node failed: %s\n", TcpClusterGetLastErrorText());
  g_node = NULL;
#endif
}

int main(int argc, char** argv) {
  const char* ip = "127.0.0.1";
  unsigned port = 0;
  int second = 0, keepalive = 0;
  ClusterFlags cluster = {0};
  TlsFlags tls = {0};
  for (int i = 1; i < argc; ++i) {
    int32_t option_id;
    if (!strcmp(argv[i], "--second-server")) {
      second = 1;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "conformance_server: %s needs a value\n", argv[i]);
      return 2;
    }
    if (!strcmp(argv[i], "--port")) port = (unsigned)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--ip")) ip = argv[++i];
    else if (!strcmp(argv[i], "--cluster")) cluster.url = argv[++i];
    else if (!strcmp(argv[i], "--node")) cluster.name = argv[++i];
    else if (!strcmp(argv[i], "--cluster-prefix")) cluster.prefix = argv[++i];
    else if (!strcmp(argv[i], "--tls-cert")) tls.cert = argv[++i];
    else if (!strcmp(argv[i], "--tls-key")) tls.key = argv[++i];
    else if (!strcmp(argv[i], "--tls-password")) tls.password = argv[++i];
    else if (!strcmp(argv[i], "--tls-alpn")) tls.alpn = argv[++i];
    else if (!strcmp(argv[i], "--tls-client-ca")) tls.client_ca = argv[++i];
    else if (!strcmp(argv[i], "--tls-sni") && tls.sni_count < 8) tls.sni[tls.sni_count++] = argv[++i];
    else if (cluster_option_flag(argv[i], &option_id) && cluster.option_count < 8) {
      cluster.options[cluster.option_count].option = option_id;
      cluster.options[cluster.option_count].flag = argv[i];
      cluster.options[cluster.option_count++].value = atoll(argv[++i]);
    } else if (option_flag(argv[i], &option_id)) {
      if (!set_option(argv[i], option_id, atoll(argv[i + 1]))) return 2;
      keepalive |= !strncmp(argv[i], "--keepalive-", 12);
      ++i;
    } else {
      fprintf(stderr, "conformance_server: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  if (keepalive && !set_option("--keepalive-*", TS_OPT_KEEPALIVE, 1)) return 2;
  if (tls.cert) {
    if (!setup_tls(&tls)) return 2;
  } else if (tls.key || tls.password || tls.alpn || tls.client_ca || tls.sni_count) {
    fprintf(stderr, "conformance_server: the --tls-* flags need --tls-cert FILE\n");
    return 2;
  }
  if (cluster.url) {
    if (!start_cluster(&cluster)) return 1;
  } else {
    SetEventProc(on_receive, on_disconnect, on_idle, NULL, NULL);
    SetConnectProc(on_connect);
  }
  if (!StartTcpServer(ip, port)) {
    fprintf(stderr, "conformance_server: cannot start: %s\n", GetLastErrorText());
    stop_cluster();
    return 1;
  }
  if (second && !start_second(ip)) {
    StopTcpServer();
    stop_cluster();
    return 1;
  }
  printf("PORT %u\n", GetServerPort());
  if (second) printf("PORT2 %u\n", TcpServerGetPort(g_second.handle));
#if defined(TCPSERVER_WITH_CLUSTER)
  if (g_node) printf("NODE %llu\n", (unsigned long long)TcpClusterGetNodeId(g_node));
#endif
  fflush(stdout);

  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    if (!strncmp(line, "stats2", 6)) {
      print_stats(&g_second, "STATS2");
    } else if (!strncmp(line, "cstats", 6)) {
      print_cluster_stats();
    } else if (!strncmp(line, "stats", 5)) {
      print_stats(&g_first, "STATS");
    } else if (!strncmp(line, "stop2", 5)) {
      if (!g_second.handle) {
        fprintf(stderr, "conformance_server: stop2: no second server runs\n");
        continue;
      }
      if (!stop_second()) return 1;
      printf("STOPPED2 disconnects=%d\n", atomic_load(&g_second.disconnects));
      fflush(stdout);
    } else if (!strncmp(line, "quit", 4)) {
      break;
    }
  }
  if (!StopTcpServer()) {
    fprintf(stderr, "conformance_server: stop failed: %s\n", GetLastErrorText());
    return 1;
  }
  stop_cluster(); /* after the server: its links' presence keys went with their OnDisconnect */
  if (g_second.handle && !stop_second()) return 1;
  printf("STOPPED disconnects=%d idle=%d\n", atomic_load(&g_first.disconnects),
         atomic_load(&g_first.idle));
  fflush(stdout);
  return 0;
}
