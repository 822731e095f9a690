// What both Linux backends (epoll, io_uring) do with plain system calls on a socket: the
// non-blocking writes a send from any thread makes at once, one gathered write of a link's
// queue, and the spare descriptor that lets a worker out of descriptors drop a waiting
// connection instead of spinning. Stateless functions: any thread (the queue ones with
// link.mu held); SpareDescriptor: any worker.
#pragma once
#include <errno.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "backend/backend.h"
#include "core/send_queue.h"

namespace ts {

class Server;

// glibc's recv/send/sendmsg are cancellation points: in a process with several threads each
// call switches the thread's cancellation state around the system call with two atomic
// read-modify-writes. Engine threads are never cancelled, and application threads that send
// through us should not become cancellable inside our lock either, so the data path enters the
// kernel directly (about 2 % of the CPU time of a 64-byte echo).
inline ssize_t sys_recv(int fd, void* buf, size_t len) {
  return ::syscall(SYS_recvfrom, fd, buf, len, 0, nullptr, nullptr);
}
inline ssize_t sys_send(int fd, const void* buf, size_t len) {
  return ::syscall(SYS_sendto, fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT, nullptr, 0);
}
inline ssize_t sys_sendmsg(int fd, const msghdr* msg) {
  return ::syscall(SYS_sendmsg, fd, msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

constexpr int kMaxSendIov = 64;  // queue items per gathered write

// The bytes a non-blocking send of one piece took (0 if it would block), or -1 with *err set.
inline long send_result(ssize_t n, int* err) {
  if (n >= 0) return static_cast<long>(n);
  const int e = errno;
  if (e == EAGAIN || e == EWOULDBLOCK) return 0;
  *err = e;
  return -1;
}

// Two pieces (frame header and payload) in one sendmsg; the rest of write_parts.
long write_gathered(int fd, const ConstBuf* parts, int count, int* err);

// One non-blocking write of parts[0..count) (count <= 2): the bytes the socket took (0 if it
// would block), or -1 with *err set (Backend::write_locked). One piece, the common case (every
// raw echo), is a plain send, inline.
inline long write_parts(int fd, const ConstBuf* parts, int count, int* err) {
  if ((count == 1 || parts[1].len == 0) && parts[0].len != 0) {
    ssize_t n;
    do n = sys_send(fd, parts[0].data, parts[0].len);
    while (n < 0 && errno == EINTR);
    return send_result(n, err);
  }
  return write_gathered(fd, parts, count, err);
}

// The first kMaxSendIov items of `queue` as an iovec array; returns how many, and their bytes
// in *total.
int gather_queue(const SendQueue& queue, iovec* iov, size_t* total);

// One non-blocking sendmsg of the front of `queue` (link.mu held): the bytes taken, 0 if it
// would block, or -1 with errno set.
ssize_t send_queue_once(int fd, const SendQueue& queue);

// A descriptor kept open for the moment the process runs out (EMFILE/ENFILE): given up, it
// lets accept take the waiting connection, which is then closed (and counted as refused), so
// the listener does not stay readable for ever. Shared by a backend's workers.
class SpareDescriptor {
 public:
  ~SpareDescriptor() { close(); }
  void open();
  void close();
  // Out of descriptors (also logs so, at most every 5 s): drop one waiting connection of
  // `listen_fd`. False when the spare is gone (another worker holds it, or it could not be
  // opened again): then the caller stops accepting for a while instead of spinning. *dropped
  // says whether a connection was there to drop.
  bool drop_one(int listen_fd, Server& server, bool* dropped = nullptr);

 private:
  std::atomic<int> fd_{-1};  // every worker may reach for it
};

}  // namespace ts
