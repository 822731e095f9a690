// The one internal interface between the portable core (core/server.*) and the OS event
// machinery: epoll on Linux (backend/epoll), IO completion ports on Windows (backend/iocp).
//
// The core owns links, pools, callbacks, options, statistics and the service thread. A backend
// owns sockets and worker threads: it accepts, reads, writes and closes, and calls back into
// the core (Server::link_opened / deliver / link_closed) from its worker threads. Every link is
// served by one worker at a time, so callbacks of a link never overlap.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/link.h"

namespace ts {

class Server;

struct ListenSpec {
  std::string ip;  // empty = all interfaces
  uint32_t port = 0;
  int backlog = 1024;
  bool reuse_addr = true;
  bool reuse_port = false;
  bool ipv6_only = false;  // IPV6_V6ONLY for an IPv6 or empty ip
};

// One piece of bytes to write (a frame header, then its payload).
struct ConstBuf {
  const uint8_t* data;
  size_t len;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Bind and listen (error set on failure: bad address, port in use ...).
  virtual bool listen(const ListenSpec& spec) = 0;
  virtual uint32_t bound_port() const = 0;
  // Start `count` workers that serve the listener. Each calls Server::thread_begin/thread_end
  // on itself. On failure nothing keeps running.
  virtual bool start_workers(int count) = 0;
  virtual int worker_count() const = 0;
  virtual WorkerCtx* worker(int index) = 0;  // 0-based

  // Stop accepting and close every link (reason TS_CLOSE_SERVER_STOP); workers then exit.
  virtual void begin_stop() = 0;
  // Wait up to timeout_ms (-1 = forever) for the workers to exit; join them and release what
  // is left (listener, links never opened). False on timeout: call again.
  virtual bool finish_stop(int timeout_ms) = 0;

  // Called with link.mu held and the link open: if nothing is queued, write what the socket
  // takes at once of parts[0..count) (count <= 2, in order, one system call) and return how many bytes
  // that was. On a broken connection returns 0 and sets *err; the link is then being closed.
  virtual size_t write_now_locked(Link& link, const ConstBuf* parts, int count, int* err) = 0;
  size_t write_now_locked(Link& link, const uint8_t* data, size_t len, int* err) {
    ConstBuf part{data, len};
    return write_now_locked(link, &part, 1, err);
  }
  // Called with link.mu held and the link open: send `item` after everything queued before
  // it. The backend owns the item from here (queued on link.queue or released when written).
  // Returns 0, or the OS error that broke the connection (the link is then being closed).
  virtual int send_locked(Link& link, SendItem* item) = 0;
  // Ask the link's worker to close it. Safe from any thread; ignored if `id` is stale.
  // Graceful (abort=false): pending sends go out first.
  virtual void request_close(Link& link, uint64_t id, int32_t reason, bool abort) = 0;
  // Pool buffers came back: workers retry links that paused reading.
  virtual void resume_paused_readers() = 0;
  // ResumeReceive cleared link.app_paused (with link.mu held, the link open): the owner reads
  // again unless the pool still holds it back. Ignored if `id` is stale.
  virtual void resume_reading(Link& link, uint64_t id) = 0;
};

std::unique_ptr<Backend> make_backend(Server& server);
// Workers when TS_OPT_WORKER_THREADS is 0 (automatic); each backend's reasons are beside it.
int default_worker_count();

}  // namespace ts
