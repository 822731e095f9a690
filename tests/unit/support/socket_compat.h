// The few socket calls the tests make, spelled once for POSIX sockets and for Winsock, so the
// same suite runs against the epoll build on Linux and the IOCP build on Windows (and Wine).
#pragma once
#include <cstddef>
#include <string>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#endif

namespace tstest {

#ifdef _WIN32
using socket_t = SOCKET;
inline const socket_t kNoSocket = INVALID_SOCKET;
#else
using socket_t = int;
inline const socket_t kNoSocket = -1;
#endif

// What a failed call means to a caller driving non-blocking sockets.
enum class SockErr { kWouldBlock, kInProgress, kInterrupted, kOther };

// A TCP socket (starts Winsock on first use); kNoSocket on failure.
socket_t tcp_socket(int family, bool nonblocking);
void close_socket(socket_t s);
// The error code of the socket call that just failed on this thread (errno / WSAGetLastError).
int last_socket_error();
SockErr classify_socket_error(int code);
std::string socket_error_text(int code);
// The pending error of a non-blocking connect (SO_ERROR), 0 when it succeeded.
int connect_result(socket_t s);

// send()/recv() with size_t lengths; send never raises SIGPIPE. -1 on failure.
long send_some(socket_t s, const void* data, size_t len);
long recv_some(socket_t s, void* data, size_t len);
// poll() / WSAPoll().
int poll_sockets(pollfd* fds, size_t count, int timeout_ms);
inline pollfd poll_entry(socket_t s, short events) {
  pollfd p{};
  p.fd = s;
  p.events = events;
  return p;
}

void set_receive_buffer(socket_t s, int bytes);
// Nagle off: every send() leaves as its own segment (tests that split a stream on purpose).
void set_no_delay(socket_t s);
// Closing after this sends RST instead of FIN (SO_LINGER with a zero timeout).
void set_abortive_close(socket_t s);

}  // namespace tstest
