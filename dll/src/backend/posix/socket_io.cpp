// The Linux backends' shared socket calls (see socket_io.h). Any thread.
#include "backend/posix/socket_io.h"

#include <fcntl.h>

#include <cerrno>

#include "core/log.h"
#include "core/server.h"
#include "platform/clock.h"

namespace ts {

long write_gathered(int fd, const ConstBuf* parts, int count, int* err) {
  iovec iov[2];
  int used = 0;
  for (int i = 0; i < count && used < 2; ++i) {
    if (parts[i].len == 0) continue;
    iov[used].iov_base = const_cast<uint8_t*>(parts[i].data);
    iov[used++].iov_len = parts[i].len;
  }
  for (;;) {
    ssize_t n;
    if (used == 1) {  // the common case: one plain send, no message header to fill
      n = sys_send(fd, iov[0].iov_base, iov[0].iov_len);
    } else {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(used);
      n = sys_sendmsg(fd, &msg);
    }
    if (n >= 0) return static_cast<long>(n);
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK) return 0;
    *err = e;
    return -1;
  }
}

int gather_queue(const SendQueue& queue, iovec* iov, size_t* total) {
  int n = 0;
  *total = 0;
  for (SendItem* it = queue.front(); it && n < kMaxSendIov; it = it->next, ++n) {
    iov[n].iov_base = const_cast<uint8_t*>(it->data);
    iov[n].iov_len = it->left;
    *total += it->left;
  }
  return n;
}

ssize_t send_queue_once(int fd, const SendQueue& queue) {
  iovec iov[kMaxSendIov];
  size_t total;
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = static_cast<size_t>(gather_queue(queue, iov, &total));
  for (;;) {
    ssize_t n = sys_sendmsg(fd, &msg);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -1;
  }
}

void SpareDescriptor::open() { fd_.store(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

void SpareDescriptor::close() {
  int fd = fd_.exchange(-1);
  if (fd >= 0) ::close(fd);
}

bool SpareDescriptor::drop_one(int listen_fd, Server& server, bool* dropped) {
  static std::atomic<uint64_t> last_warning{0};
  uint64_t now = now_ms();
  if (now - last_warning.load(std::memory_order_relaxed) > 5000) {
    last_warning.store(now, std::memory_order_relaxed);
    log(TS_LOG_WARN,
        "out of file descriptors: refusing connections (raise 'ulimit -n' or lower "
        "TS_OPT_MAX_LINKS)");
  }
  if (dropped) *dropped = false;
  // Workers run out together: only the one that takes the spare may close it (exchange).
  int spare = fd_.exchange(-1, std::memory_order_acq_rel);
  if (spare < 0) return false;
  ::close(spare);
  int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    server.count(TS_COUNTER_REFUSED);
    if (dropped) *dropped = true;
  }
  spare = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (spare < 0) return false;
  fd_.store(spare, std::memory_order_release);
  return true;
}

}  // namespace ts
