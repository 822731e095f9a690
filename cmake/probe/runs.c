/* The program cmake/target_runnable.cmake runs through CMAKE_CROSSCOMPILING_EMULATOR to learn
 * whether programs built for the target run on this machine at all. */
#include <stdio.h>

int main(void) {
  puts("tcpserver target probe ran");
  return 0;
}
