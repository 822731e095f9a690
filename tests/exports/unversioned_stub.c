/* A stand-in for a libtcpserver.so.1 built before the TCPSERVER_1 symbol version node: the
 * same SONAME and names, no version script. unversioned_program links against it, as programs
 * built against such a library did; the test then runs the program with the real library. */
#include "tcpserver.h"

const char* TS_CALL GetVersionText(void) { return "the unversioned stand-in"; }
int32_t TS_CALL StartTcpServer(const char* Ip, uint32_t Port) { (void)Ip; (void)Port; return 0; }
uint32_t TS_CALL GetServerPort(void) { return 0; }
int32_t TS_CALL StopTcpServer(void) { return 0; }
