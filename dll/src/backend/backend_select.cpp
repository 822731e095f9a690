// Choosing the backend (TS_OPT_BACKEND): which ones this build and OS have, whether the kernel
// lets io_uring run (backend/io_uring/uring_probe.h), the TCPSERVER_BACKEND environment
// override of TS_BACKEND_AUTO, and each backend's default worker count. Called by
// Server::start on the starting thread.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "backend/backend.h"
#include "core/errors.h"
#include "core/log.h"
#include "tcpserver.h"
#if defined(TS_HAVE_IO_URING)
#include "backend/io_uring/uring_probe.h"
#endif

namespace ts {

// Each backend's factory, beside its code.
#if defined(_WIN32)
std::unique_ptr<Backend> make_iocp_backend(Server& server);
#else
std::unique_ptr<Backend> make_epoll_backend(Server& server);
#if defined(TS_HAVE_IO_URING)
std::unique_ptr<Backend> make_uring_backend(Server& server);
#endif
#endif

const char* backend_name(int32_t kind) {
  switch (kind) {
    case TS_BACKEND_AUTO: return "automatic";
    case TS_BACKEND_EPOLL: return "epoll";
    case TS_BACKEND_IO_URING: return "io_uring";
    case TS_BACKEND_IOCP: return "IOCP";
    default: return "unknown";
  }
}

int default_worker_count(int32_t kind) {
  int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // IOCP: the original unit's 2 x CPU + 2. The port's concurrency limit (one per CPU) keeps
  // the extra threads asleep until a callback blocks; then one of them takes over. Measured
  // under Wine, 64 links echoing 512 KiB: no loss with plain handlers (2 workers 14.3 MiB/s,
  // 6 workers 17.4); with handlers that block 1 ms, 2.2 MiB/s with 2 workers and 5.6 with 6.
  if (kind == TS_BACKEND_IOCP) return 2 * cpus + 2;
  // epoll and io_uring: one loop (ring) per CPU. Each link belongs to one loop, so a thread
  // beyond that cannot stand in for a blocked one and only adds switches.
  return cpus;
}

namespace {

// What this build has, for error texts.
const char* built_backends() {
#if defined(_WIN32)
  return "TS_BACKEND_IOCP (and TS_BACKEND_AUTO, which picks it)";
#elif defined(TS_HAVE_IO_URING)
  return "TS_BACKEND_IO_URING where the kernel allows it, TS_BACKEND_EPOLL, and TS_BACKEND_AUTO "
         "(io_uring where the kernel allows it, else epoll)";
#else
  return "TS_BACKEND_EPOLL (and TS_BACKEND_AUTO, which picks it; this build has no io_uring "
         "backend: it was built without liburing)";
#endif
}

// TCPSERVER_BACKEND, read at each automatic start: a TS_BACKEND_* value, or AUTO when unset.
// An unknown name is logged (once) and ignored.
int32_t backend_from_environment() {
  const char* v = std::getenv("TCPSERVER_BACKEND");
  if (!v || !*v) return TS_BACKEND_AUTO;
  std::string s(v);
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (s == "auto") return TS_BACKEND_AUTO;
  if (s == "epoll") return TS_BACKEND_EPOLL;
  if (s == "io_uring" || s == "iouring" || s == "uring") return TS_BACKEND_IO_URING;
  if (s == "iocp") return TS_BACKEND_IOCP;
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true))
    log(TS_LOG_WARN, "TCPSERVER_BACKEND='%s' is not a backend (epoll, io_uring, iocp, auto); "
        "ignored", v);
  return TS_BACKEND_AUTO;
}

bool not_supported(int32_t kind, const char* why) {
  return fail(TS_ERR_NOT_SUPPORTED, "TS_OPT_BACKEND=%s cannot be used: %s. This build has %s",
              backend_name(kind), why, built_backends());
}

}  // namespace

std::unique_ptr<Backend> make_backend(Server& server, int32_t requested) {
  int32_t kind = requested;
  bool from_env = false;
  if (kind == TS_BACKEND_AUTO) {
    kind = backend_from_environment();
    from_env = kind != TS_BACKEND_AUTO;
  }
  const char* source = from_env ? " (from the environment variable TCPSERVER_BACKEND)" : "";
  std::unique_ptr<Backend> b;
#if defined(_WIN32)
  if (kind == TS_BACKEND_AUTO) kind = TS_BACKEND_IOCP;
  if (kind != TS_BACKEND_IOCP) {
    std::string why = std::string("it is a Linux backend") + source;
    not_supported(kind, why.c_str());
    return nullptr;
  }
  b = make_iocp_backend(server);
#else
  if (kind == TS_BACKEND_IOCP) {
    std::string why = std::string("IOCP is the Windows backend") + source;
    not_supported(kind, why.c_str());
    return nullptr;
  }
#if defined(TS_HAVE_IO_URING)
  // AUTO is io_uring where the kernel lets it run, else epoll, saying why once per process.
  if (kind == TS_BACKEND_AUTO) {
    std::string why;
    if (uring_usable(&why)) {
      kind = TS_BACKEND_IO_URING;
    } else {
      kind = TS_BACKEND_EPOLL;
      static std::atomic<bool> said{false};
      if (!said.exchange(true))
        log(TS_LOG_INFO, "TS_BACKEND_AUTO serves with epoll: io_uring cannot be used here (%s)",
            why.c_str());
    }
  }
  if (kind == TS_BACKEND_IO_URING) {
    std::string why;
    if (!uring_usable(&why)) {
      why += source;
      not_supported(kind, why.c_str());
      return nullptr;
    }
    b = make_uring_backend(server);
  }
#else
  if (kind == TS_BACKEND_IO_URING) {
    std::string why = std::string("this build has no io_uring backend (built without liburing)") + source;
    not_supported(kind, why.c_str());
    return nullptr;
  }
  if (kind == TS_BACKEND_AUTO) kind = TS_BACKEND_EPOLL;
#endif
  if (kind == TS_BACKEND_EPOLL) b = make_epoll_backend(server);
#endif
  if (b) b->kind_ = kind;
  return b;
}

}  // namespace ts
