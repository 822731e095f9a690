/* Built against the unversioned stand-in (unversioned_stub.c), run against the real
 * libtcpserver.so.1 (check_unversioned.sh): prints "ok <version text> <port>" when the real
 * library served it. */
#include <stdio.h>

#include "tcpserver.h"

int main(void) {
  uint32_t port;
  if (!StartTcpServer("127.0.0.1", 0)) {
    printf("StartTcpServer failed: %s\n", GetVersionText());
    return 1;
  }
  port = GetServerPort();
  StopTcpServer();
  printf("ok %s %u\n", GetVersionText(), port);
  return port != 0 ? 0 : 1;
}
