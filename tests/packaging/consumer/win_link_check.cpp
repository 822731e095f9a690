// Links against a Windows SDK zip (tests/packaging/check_sdk_zips.py builds it with the
// mingw-w64 compilers for x64 and x86, links only): the C API through the import library,
// including the __stdcall names of the 32-bit one (_StartTcpServer@8 -> StartTcpServer), and
// the C++ wrapper tcpserver.hpp compiling for Windows.
#include <cstdio>

#include <tcpserver.hpp>

int main() {
  std::printf("%s (%d)\n", GetVersionText(), static_cast<int>(GetTcpServerVersion()));
  if (!StartTcpServer("127.0.0.1", 0)) return 1;
  SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, 1000);
  StopTcpServer();
  tcpserver::server server;
  server.on_receive([](tcpserver::link link, tcpserver::bytes_view data) { link.send(data); });
  server.start("127.0.0.1", 0);
  return server.stop() ? 0 : 1;
}
