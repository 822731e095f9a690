// The one internal interface between the portable core (core/server.*) and an OS event
// machinery: epoll on Linux (backend/epoll), IO completion ports on Windows (backend/iocp).
//
// A backend does system calls and readiness/completion handling only. It owns its worker
// threads, its event queue and its per-link state (Link::backend_state). Everything about the
// life of a link is the core's, called from the backend's workers: Server::accept_link,
// open_link, read_gate / read_until_blocked, received, eof_reason, close_link and the rest of
// core/server.h's "for backends" section. Every link is served by one worker at a time (its
// owner), so callbacks of a link never overlap.
//
// Threads: start/begin_stop/finish_stop from the thread that starts or stops the server;
// write_locked/queued_locked/write_in_flight_locked from any thread with link.mu held;
// post_close/resume_paused_readers/resume_reading from any thread; close_socket/retire on
// the link's owner thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/link.h"
#include "platform/socket.h"

namespace ts {

class Server;
struct WorkerCtx;

// One piece of bytes to write (a frame header, then its payload).
struct ConstBuf {
  const uint8_t* data;
  size_t len;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Take the listening socket (core/listener.h opened it) and start `count` workers that serve
  // it; each calls Server::thread_begin/thread_end on itself. On failure (error set) nothing
  // keeps running and the listener is closed.
  virtual bool start(socket_t listener, int family, int count) = 0;
  virtual int worker_count() const = 0;
  virtual WorkerCtx* worker(int index) = 0;  // 0-based

  // Stop accepting (the listener closes; links go on) — the start of a drain. Idempotent.
  virtual void stop_accepting() = 0;
  // Stop accepting and close every link (reason TS_CLOSE_SERVER_STOP); workers then exit.
  virtual void begin_stop() = 0;
  // Wait up to timeout_ms (-1 = forever) for the workers to exit; join them and release what
  // is left (listener, links never opened). False on timeout: call again.
  virtual bool finish_stop(int timeout_ms) = 0;

  // ---- writing, link.mu held ----
  // One non-blocking write of parts[0..count) (count <= 2, in order). Returns the bytes the
  // socket took (0 if it would block), or -1 with *err set to the OS error.
  virtual long write_locked(Link& link, const ConstBuf* parts, int count, int* err) = 0;
  // Something was pushed onto link.queue: make sure it gets flushed (watch writability, post a
  // send). Returns 0, or the OS error that broke the connection.
  virtual int queued_locked(Link& link) = 0;
  // Whether the kernel still holds pointers into queued items (an overlapped send): then a
  // close must leave them to the completion.
  virtual bool write_in_flight_locked(Link& link) { return false; }

  // ---- requests to a link's owner, any thread ----
  // Have the owner call Server::close_requested_link(link, ..., reason, abort). Ignored if `id`
  // is stale by then.
  virtual void post_close(Link& link, uint64_t id, int32_t reason, bool abort) = 0;
  // Pool buffers came back: owners retry the links they parked for the pool.
  virtual void resume_paused_readers() = 0;
  // A reason to hold the link was cleared (link.hold; ResumeReceive, or its send queue drained
  // under the low-water mark), link.mu held: the owner asks the read gate again and reads if
  // nothing holds it any more. Ignored if `id` is stale.
  virtual void resume_reading(Link& link, uint64_t id) = 0;

  // ---- the core closed a link; owner thread ----
  // Close the socket (with a reset first when `reset`), cancelling what is pending on it.
  virtual void close_socket(Link& link, socket_t s, bool reset) = 0;
  // The link is closed and its last callback returned: hand it back (Server::release_link)
  // once no event of the backend can name it any more.
  virtual void retire(Link& link, WorkerCtx& w) = 0;
};

std::unique_ptr<Backend> make_backend(Server& server);
// Workers when TS_OPT_WORKER_THREADS is 0 (automatic); each backend's reasons are beside it.
int default_worker_count();

}  // namespace ts
