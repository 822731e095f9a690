/*
 * cluster_chat.c — a line-based chat server that runs as several processes (or machines)
 * joined through Redis by the cluster library (tcpcluster.h). Start three on one machine on
 * the same port: SO_REUSEPORT (TS_OPT_REUSEPORT) lets Linux spread the connections over them,
 * and every process sees every message.
 *
 *   cluster_chat --port 7000 --cluster redis://127.0.0.1:6379 --node a
 *
 * On the wire (telnet or nc): "/nick NAME" takes a name (a presence key, held cluster-wide),
 * "/msg NAME TEXT" sends to that name wherever it is connected, "/quit" leaves, any other
 * line goes to everyone on every node. Standard output: "PORT <n>" and "NODE <id>" once
 * listening, "STATE <state>" at each change of the node's state (connected, disconnected...);
 * standard input "quit" (or its end) stops.
 *
 * Threads: main; the engine's workers run OnConnect/OnReceive/OnDisconnect; the node's threads
 * run on_send_failed and on_state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpcluster.h"
#include "tcpserver.h"

#define NICK_MAX 32
#define LINE_MAX_BYTES 1024

static TcpClusterNode* g_node;
static char g_name[64] = "chat";

/* Per link (TcpLink.Data): its nickname and the part of a line not ended yet. */
typedef struct Session {
  char nick[NICK_MAX + 1];
  char partial[LINE_MAX_BYTES];
  int partial_len;
} Session;

static void say(TcpLink* link, const char* text) { SendBuffer(link, text, (int32_t)strlen(text)); }

static void say_to_everyone(const char* text) {
  /* Every link of every node; a broker that is down only costs the other nodes' copies. */
  TcpClusterBroadcast(g_node, text, (int32_t)strlen(text), 0);
}

static int valid_nick(const char* nick) {
  size_t n = strlen(nick);
  if (n == 0 || n > NICK_MAX) return 0;
  for (size_t i = 0; i < n; ++i)
    if (nick[i] <= ' ' || nick[i] == '/') return 0;
  return 1;
}

/* One complete line (without its '\n') from a link. Returns 0 to close the link. */
static int32_t handle_line(TcpLink* link, Session* s, char* line) {
  char text[LINE_MAX_BYTES + 128];
  size_t len = strlen(line);
  if (len && line[len - 1] == '\r') line[--len] = 0; /* telnet sends CR LF */
  if (!strncmp(line, "/nick ", 6)) {
    const char* nick = line + 6;
    if (!valid_nick(nick)) {
      say(link, "* a name is 1 to 32 characters, no spaces or '/'\n");
      return 1;
    }
    if (s->nick[0]) TcpClusterClearKey(g_node, s->nick);
    if (!TcpClusterSetKey(g_node, link->Id, nick)) {
      snprintf(text, sizeof text, "* cannot take that name: %s\n", TcpClusterGetLastErrorText());
      say(link, text);
      return 1;
    }
    snprintf(text, sizeof text, "* %s joined (on node %s)\n", nick, g_name);
    snprintf(s->nick, sizeof s->nick, "%s", nick);
    say_to_everyone(text);
    return 1;
  }
  if (!strncmp(line, "/msg ", 5)) {
    char* to = line + 5;
    char* body = strchr(to, ' ');
    if (!body || !s->nick[0]) {
      say(link, s->nick[0] ? "* usage: /msg NAME TEXT\n" : "* take a name first: /nick NAME\n");
      return 1;
    }
    *body++ = 0;
    snprintf(text, sizeof text, "[%s -> you] %s\n", s->nick, body);
    /* The Tag is the sender's link id: a failure found later is told to the sender. */
    if (!TcpClusterSendToKey(g_node, to, text, (int32_t)strlen(text), link->Id)) {
      snprintf(text, sizeof text, "* not sent: %s\n", TcpClusterGetLastErrorText());
      say(link, text);
    }
    return 1;
  }
  if (!strcmp(line, "/quit")) return 0;
  if (!len) return 1;
  snprintf(text, sizeof text, "%s@%s: %s\n", s->nick[0] ? s->nick : "anonymous", g_name, line);
  say_to_everyone(text);
  return 1;
}

static int32_t TS_CALL on_connect(void* context, TcpLink* link) {
  char text[160];
  (void)context;
  Session* s = (Session*)calloc(1, sizeof *s);
  if (!s) return 0;
  link->Data = s;
  snprintf(text, sizeof text, "* welcome to node %s (%llu); /nick NAME, /msg NAME TEXT, /quit\n",
           g_name, (unsigned long long)TcpClusterGetNodeId(g_node));
  say(link, text);
  return 1;
}

static int32_t TS_CALL on_receive(void* context, TcpLink* link, uint8_t* buf, int32_t len) {
  Session* s = (Session*)link->Data;
  (void)context;
  for (int32_t i = 0; i < len; ++i) {
    if (buf[i] != '\n') {
      if (s->partial_len < LINE_MAX_BYTES - 1) s->partial[s->partial_len++] = (char)buf[i];
      continue;
    }
    s->partial[s->partial_len] = 0;
    s->partial_len = 0;
    if (!handle_line(link, s, s->partial)) return 0;
  }
  return 1;
}

/* The node has already given up this link's name (its presence key) when this runs. */
static void TS_CALL on_disconnect(void* context, TcpLink* link) {
  char text[128];
  Session* s = (Session*)link->Data;
  (void)context;
  if (s && s->nick[0]) {
    snprintf(text, sizeof text, "* %s left\n", s->nick);
    say_to_everyone(text);
  }
  free(s);
  link->Data = NULL;
}

/* A /msg that failed after the call: tell its sender (the Tag is the sender's link id). */
static void TC_CALL on_send_failed(void* context, uint64_t tag, int32_t reason, uint64_t node,
                                   uint64_t link_id, const char* key, const char* text) {
  char line[700];
  (void)context;
  (void)node;
  (void)link_id;
  if (reason == TC_SEND_NO_SUCH_KEY || reason == TC_SEND_NODE_GONE || reason == TC_SEND_LINK_GONE)
    snprintf(line, sizeof line, "* nobody is called %s now\n", key);
  else
    snprintf(line, sizeof line, "* your message to %s was lost: %s\n", key, text);
  SendBufferById(tag, line, (int32_t)strlen(line));
}

/* State changes: the reason to standard error, "STATE <state>" to standard output. */
static void TC_CALL on_state(void* context, int32_t state, const char* text) {
  (void)context;
  fprintf(stderr, "cluster_chat %s: cluster %s: %s\n", g_name, TcpClusterGetStateText(state), text);
  printf("STATE %s\n", TcpClusterGetStateText(state));
  fflush(stdout);
}

int main(int argc, char** argv) {
  const char* ip = "127.0.0.1";
  const char* url = "redis://127.0.0.1:6379";
  unsigned port = 7000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port")) port = (unsigned)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--ip")) ip = argv[i + 1];
    else if (!strcmp(argv[i], "--cluster")) url = argv[i + 1];
    else if (!strcmp(argv[i], "--node")) snprintf(g_name, sizeof g_name, "%s", argv[i + 1]);
    else {
      fprintf(stderr, "usage: cluster_chat [--port N] [--ip TEXT] [--cluster redis://HOST:PORT] [--node NAME]\n");
      return 2;
    }
  }
  SetServerOption(TS_OPT_REUSEPORT, 1); /* several processes on one port */
  SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, 0); /* chat clients may be silent for long */
  g_node = TcpClusterCreate(NULL, url, "chat:", g_name, NULL);
  if (!g_node || !TcpClusterSetEventProc(g_node, on_receive, on_disconnect, NULL, NULL, NULL) ||
      !TcpClusterSetConnectProc(g_node, on_connect) ||
      !TcpClusterSetClusterProc(g_node, NULL, on_send_failed, NULL, on_state) ||
      !TcpClusterStart(g_node)) {
    fprintf(stderr, "cluster_chat: %s\n", TcpClusterGetLastErrorText());
    return 1;
  }
  if (!StartTcpServer(ip, port)) {
    fprintf(stderr, "cluster_chat: cannot listen on %s:%u: %s\n", ip, port, GetLastErrorText());
    TcpClusterDestroy(g_node);
    return 1;
  }
  printf("PORT %u\nNODE %llu\n", GetServerPort(), (unsigned long long)TcpClusterGetNodeId(g_node));
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof line, stdin) && strncmp(line, "quit", 4)) {
  }
  StopTcpServer();
  TcpClusterDestroy(g_node);
  return 0;
}
