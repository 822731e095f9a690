#include "support/socket_compat.h"

#include <cerrno>
#include <cstring>

#ifndef _WIN32
#include <fcntl.h>
#include <netinet/tcp.h>
#include <unistd.h>
#endif

namespace tstest {

#ifdef _WIN32

namespace {
// Winsock needs WSAStartup once per process before any socket call; never cleaned up, as
// the process ends with the test.
void start_winsock() {
  static const bool started = [] {
    WSADATA wsa;
    return WSAStartup(MAKEWORD(2, 2), &wsa) == 0;
  }();
  (void)started;
}
}  // namespace

socket_t tcp_socket(int family, bool nonblocking) {
  start_winsock();
  socket_t s = ::socket(family, SOCK_STREAM, IPPROTO_TCP);
  if (s != kNoSocket && nonblocking) {
    u_long on = 1;
    ::ioctlsocket(s, FIONBIO, &on);
  }
  return s;
}

void close_socket(socket_t s) { ::closesocket(s); }
int last_socket_error() { return WSAGetLastError(); }

SockErr classify_socket_error(int code) {
  switch (code) {
    case WSAEWOULDBLOCK: return SockErr::kWouldBlock;  // also what a pending connect reports
    case WSAEINPROGRESS: return SockErr::kInProgress;
    case WSAEINTR: return SockErr::kInterrupted;
    default: return SockErr::kOther;
  }
}

std::string socket_error_text(int code) {
  char text[256] = {};
  FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                 static_cast<DWORD>(code), 0, text, sizeof text, nullptr);
  return "Winsock error " + std::to_string(code) + (text[0] ? std::string(": ") + text : "");
}

long send_some(socket_t s, const void* data, size_t len) {
  int n = len > 1u << 30 ? 1 << 30 : static_cast<int>(len);
  return ::send(s, static_cast<const char*>(data), n, 0);
}

long recv_some(socket_t s, void* data, size_t len) {
  int n = len > 1u << 30 ? 1 << 30 : static_cast<int>(len);
  return ::recv(s, static_cast<char*>(data), n, 0);
}

int poll_sockets(pollfd* fds, size_t count, int timeout_ms) {
  return ::WSAPoll(fds, static_cast<ULONG>(count), timeout_ms);
}

#else

socket_t tcp_socket(int family, bool nonblocking) {
  return ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
}

void close_socket(socket_t s) { ::close(s); }
int last_socket_error() { return errno; }

SockErr classify_socket_error(int code) {
  if (code == EAGAIN || code == EWOULDBLOCK) return SockErr::kWouldBlock;
  if (code == EINPROGRESS) return SockErr::kInProgress;
  if (code == EINTR) return SockErr::kInterrupted;
  return SockErr::kOther;
}

std::string socket_error_text(int code) { return std::strerror(code); }

long send_some(socket_t s, const void* data, size_t len) {
  return static_cast<long>(::send(s, data, len, MSG_NOSIGNAL));
}

long recv_some(socket_t s, void* data, size_t len) {
  return static_cast<long>(::recv(s, data, len, 0));
}

int poll_sockets(pollfd* fds, size_t count, int timeout_ms) {
  return ::poll(fds, static_cast<nfds_t>(count), timeout_ms);
}

#endif

int connect_result(socket_t s) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&err), &len) != 0)
    return last_socket_error();
  return err;
}

void set_receive_buffer(socket_t s, int bytes) {
  ::setsockopt(s, SOL_SOCKET, SO_RCVBUF, reinterpret_cast<const char*>(&bytes), sizeof bytes);
}

void set_no_delay(socket_t s) {
  int on = 1;
  ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&on), sizeof on);
}

void set_abortive_close(socket_t s) {
  linger lg{};
  lg.l_onoff = 1;
  lg.l_linger = 0;
  ::setsockopt(s, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&lg), sizeof lg);
}

}  // namespace tstest
