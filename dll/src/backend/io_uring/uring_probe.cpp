// The io_uring probe (see uring_probe.h): makes a ring as the backend does and tries each
// operation it relies on, on a socket pair, so "usable" means the backend will work, not just
// that io_uring_setup exists. Any thread; cached per process id.
#include "backend/io_uring/uring_probe.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>  // RUNNING_ON_VALGRIND: a few instructions, no library
#define TS_HAVE_VALGRIND_H 1
#endif
#endif

namespace ts {
namespace {

std::string read_sysctl(const char* path) {
  FILE* f = std::fopen(path, "r");
  if (!f) return "";
  char buf[32] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
  return buf;
}

std::string setup_refused(int err) {
  std::string disabled = read_sysctl("/proc/sys/kernel/io_uring_disabled");
  char text[400];
  switch (err) {
    case ENOSYS:
      std::snprintf(text, sizeof text,
                    "io_uring_setup is not available (ENOSYS): the kernel has no io_uring, or a "
                    "seccomp filter (containers often have one) blocks it");
      break;
    case EPERM:
    case EACCES:
      std::snprintf(text, sizeof text,
                    "io_uring_setup was refused (%s): %s", std::strerror(err),
                    disabled.empty() || disabled == "0"
                        ? "a seccomp filter, a container or a security module forbids it"
                        : (std::string("the sysctl kernel.io_uring_disabled is ") + disabled +
                           " (0 allows io_uring)").c_str());
      break;
    case EINVAL:
      std::snprintf(text, sizeof text,
                    "the kernel lacks io_uring features the backend needs (single issuer, "
                    "deferred task running: Linux 6.1 or later)");
      break;
    default:
      std::snprintf(text, sizeof text, "io_uring_setup failed: %s", std::strerror(err));
  }
  return text;
}

// Waits for one completion with user_data `tag`; its result, or -ETIME.
int wait_for(io_uring* ring, uint64_t tag, unsigned* flags) {
  for (int round = 0; round < 8; ++round) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{1, 0};
    int e = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nullptr);
    if (e < 0 && e != -EINTR) return e;
    while (io_uring_peek_cqe(ring, &cqe) == 0) {
      uint64_t ud = cqe->user_data;
      int res = cqe->res;
      if (flags) *flags = cqe->flags;
      io_uring_cqe_seen(ring, cqe);
      if (ud == tag) return res;
    }
  }
  return -ETIME;
}

// The operations, on a ring made as the backend makes its own. Empty when all work.
std::string probe_operations(io_uring* ring, unsigned features) {
  const unsigned needed = IORING_FEAT_NODROP | IORING_FEAT_SUBMIT_STABLE | IORING_FEAT_EXT_ARG |
                          IORING_FEAT_FAST_POLL;
  if ((features & needed) != needed)
    return "the kernel's io_uring lacks features the backend needs (no-drop completions, stable "
           "submissions, fast poll: Linux 5.11 or later)";
  io_uring_probe* probe = io_uring_get_probe_ring(ring);
  if (!probe) return "the kernel cannot list its io_uring operations (IORING_REGISTER_PROBE)";
  struct {
    int op;
    const char* name;
  } ops[] = {{IORING_OP_ACCEPT, "accept"}, {IORING_OP_RECV, "recv"}, {IORING_OP_SEND, "send"},
             {IORING_OP_SENDMSG, "sendmsg"}, {IORING_OP_ASYNC_CANCEL, "cancel"},
             {IORING_OP_MSG_RING, "msg_ring"}, {IORING_OP_TIMEOUT, "timeout"},
             {IORING_OP_CLOSE, "close"}};
  for (auto& o : ops) {
    if (!io_uring_opcode_supported(probe, o.op)) {
      io_uring_free_probe(probe);
      return std::string("the kernel's io_uring has no ") + o.name + " operation";
    }
  }
  io_uring_free_probe(probe);

  // A provided-buffer ring of one buffer, and a multishot receive into it.
  long page = sysconf(_SC_PAGESIZE);
  void* mem = mmap(nullptr, static_cast<size_t>(page) * 2, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return std::string("mmap failed: ") + std::strerror(errno);
  std::string why;
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  uint8_t* data = static_cast<uint8_t*>(mem) + page;
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(br);
  reg.ring_entries = 1;
  reg.bgid = 0;
  int sv[2] = {-1, -1};
  int e = io_uring_register_buf_ring(ring, &reg, 0);
  if (e < 0) {
    why = std::string("registering a provided-buffer ring failed (") + std::strerror(-e) +
          "): Linux 5.19 or later is needed";
  } else {
    io_uring_buf_ring_init(br);
    io_uring_buf_ring_add(br, data, static_cast<unsigned>(page), 0, io_uring_buf_ring_mask(1), 0);
    io_uring_buf_ring_advance(br, 1);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      why = std::string("socketpair failed: ") + std::strerror(errno);
    } else {
      io_uring_sqe* sqe = io_uring_get_sqe(ring);
      io_uring_prep_recv_multishot(sqe, sv[0], nullptr, 0, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = 0;
      sqe->user_data = 1;
      sqe = io_uring_get_sqe(ring);
      io_uring_prep_msg_ring(sqe, ring->ring_fd, 7, 2, 0);  // a CQE with user_data 2 here
      sqe->user_data = 3;
      sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
      int r = wait_for(ring, 2, nullptr);
      if (r != 7) {
        why = std::string("IORING_OP_MSG_RING did not work (") +
              (r < 0 ? std::strerror(-r) : "wrong result") + ")";
      } else if (::write(sv[1], "x", 1) != 1) {
        why = std::string("write to a socket pair failed: ") + std::strerror(errno);
      } else {
        unsigned flags = 0;
        r = wait_for(ring, 1, &flags);
        if (r != 1 || !(flags & IORING_CQE_F_BUFFER) || !(flags & IORING_CQE_F_MORE) ||
            data[0] != 'x')
          why = std::string("a multishot receive into a provided buffer did not work (") +
                (r < 0 ? std::strerror(-r) : "wrong result") + "): Linux 6.0 or later is needed";
      }
      sqe = io_uring_get_sqe(ring);
      io_uring_prep_cancel64(sqe, 1, 0);
      sqe->user_data = 4;
      wait_for(ring, 4, nullptr);
      wait_for(ring, 1, nullptr);  // the receive's last completion
    }
    io_uring_unregister_buf_ring(ring, 0);
  }
  if (sv[0] >= 0) ::close(sv[0]);
  if (sv[1] >= 0) ::close(sv[1]);
  munmap(mem, static_cast<size_t>(page) * 2);
  return why;
}

// Valgrind (3.19, Debian 12) does not treat io_uring_enter as a call that may block: a worker
// waiting in it holds valgrind's lock and every other thread of the process stops for ever.
bool under_valgrind() {
#if defined(TS_HAVE_VALGRIND_H)
  if (RUNNING_ON_VALGRIND) return true;
#endif
  const char* preload = std::getenv("LD_PRELOAD");
  return preload && std::strstr(preload, "vgpreload_");
}

std::string probe() {
  if (under_valgrind())
    return "the process runs under valgrind, which stops every thread while one waits in "
           "io_uring_enter";
  io_uring ring;
  io_uring_params p{};
  p.flags = kUringSetupFlags;
  p.cq_entries = 16;
  int e = io_uring_queue_init_params(8, &ring, &p);
  if (e < 0) return setup_refused(-e);
  std::string why = probe_operations(&ring, p.features);
  io_uring_queue_exit(&ring);
  return why;
}

}  // namespace

bool uring_usable(std::string* why) {
  static std::mutex mu;
  static pid_t probed_in = 0;
  static std::string reason;
  std::lock_guard<std::mutex> lock(mu);
  if (probed_in != getpid()) {
    reason = probe();
    probed_in = getpid();
  }
  if (why) *why = reason;
  return reason.empty();
}

}  // namespace ts
