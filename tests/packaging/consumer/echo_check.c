/* A program a user of an installed tcpserver would write, built by the packaging tests against
 * each kind of install (CMake package, pkg-config, .deb, SDK zip): it serves an echo on
 * 127.0.0.1 (any port), connects to itself, checks the bytes come back, stops, and prints
 * "echo ok <GetVersionText()>". Exit 0 only if all of that worked; every wait has a deadline. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tcpserver.h>

static int32_t TS_CALL echo(TcpLink* link, uint8_t* buf, int32_t len) {
  return SendBuffer(link, buf, len);
}

static int fail(const char* what) {
  printf("FAIL: %s (%s)\n", what, GetLastErrorText());
  StopTcpServer();
  return 1;
}

int main(void) {
  static const char message[] = "hello, installed tcpserver";
  char reply[sizeof message] = {0};
  size_t got = 0;
  struct sockaddr_in addr;
  int fd;

  SetEventProc(echo, NULL, NULL, NULL, NULL);
  if (!StartTcpServer("127.0.0.1", 0)) return fail("StartTcpServer");
  fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)GetServerPort());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) return fail("connect");
  if (send(fd, message, sizeof message - 1, 0) != (ssize_t)(sizeof message - 1)) return fail("send");
  while (got < sizeof message - 1) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t n;
    if (poll(&p, 1, 30000) != 1) return fail("no echo within 30 s");
    n = recv(fd, reply + got, sizeof message - 1 - got, 0);
    if (n <= 0) return fail("the server closed the connection");
    got += (size_t)n;
  }
  close(fd);
  if (memcmp(reply, message, sizeof message - 1) != 0) return fail("the echo differs");
  if (!StopTcpServer()) return fail("StopTcpServer");
  printf("echo ok %s\n", GetVersionText());
  return 0;
}
