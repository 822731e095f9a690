// The C++ face of an installed tcpserver (tcpserver.hpp through the CMake package): serves an
// echo on 127.0.0.1 with a lambda, checks one round trip from a client socket, prints
// "c++ echo ok". Exit 0 only if that worked; every wait has a deadline.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <tcpserver.hpp>

int main() {
  tcpserver::server server;
  server.on_receive([](tcpserver::link link, tcpserver::bytes_view data) { link.send(data); });
  server.start("127.0.0.1", 0);

  const std::string message = "hello from C++";
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      send(fd, message.data(), message.size(), 0) != static_cast<ssize_t>(message.size())) {
    std::puts("FAIL: connect/send");
    return 1;
  }
  std::string reply;
  while (reply.size() < message.size()) {
    pollfd p{fd, POLLIN, 0};
    char chunk[64];
    ssize_t n = 0;
    if (poll(&p, 1, 30000) != 1 || (n = recv(fd, chunk, sizeof chunk, 0)) <= 0) {
      std::puts("FAIL: no echo within 30 s");
      return 1;
    }
    reply.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
  if (reply != message) {
    std::puts("FAIL: the echo differs");
    return 1;
  }
  std::puts("c++ echo ok");
  return 0;  // ~server stops and destroys the engine server
}
