// One TCP server: options, callbacks, the link table and IO pool, the service thread, and the
// backend that does the IO. The flat C API (abi/exports.cpp) drives the default instance; the
// TcpServer* family (abi/exports_handles.cpp) drives any, through core/registry.h.
//
// The class is one object, its code is split by job, one file each:
//   server.cpp        lifecycle (start, stop) and configuration          application threads
//   send_path.cpp     sends, broadcasts, closes asked by the application  any thread
//   flow.cpp          pause/resume, queue sizes, enumeration              any thread
//   dispatch.cpp      callbacks: guarding, OnConnect/OnReceive/...        engine threads
//   link_life.cpp     the life of a link, for every backend: accept,
//                     the read gate, the close state machine, written
//                     bytes, the idle re-check                            the link's owner thread
//   idle_scanner.cpp  the service thread and its idle scan                the service thread
//   statistics.cpp    statistics and counters                             any thread
// and core/wait_graph.* keeps the cross-server wait graph that refuses deadlocking stops.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "core/admission.h"
#include "core/io_pool.h"
#include "core/memory_budget.h"
#include "core/link_table.h"
#include "core/options.h"
#include "core/worker.h"
#include "tcpserver.h"

namespace ts {

// Each callback comes in two styles: flat (SetEventProc ...) and Ex (TcpServerSetEventProc ...,
// the server's Context first). At most one of each pair is set; the engine calls whichever is,
// so a dispatch costs one predictable branch.
struct Callbacks {
  // The event group (SetEventProc / TcpServerSetEventProc).
  TOnReceive receive = nullptr;
  TOnDisconnect disconnect = nullptr;
  TOnLinkIdleOvertime idle = nullptr;
  TOnThreadCreate server_thread_create = nullptr;
  TOnThreadCreate worker_thread_create = nullptr;
  TOnReceiveEx receive_ex = nullptr;
  TOnDisconnectEx disconnect_ex = nullptr;
  TOnLinkIdleOvertimeEx idle_ex = nullptr;
  TOnThreadCreateEx server_thread_create_ex = nullptr;
  TOnThreadCreateEx worker_thread_create_ex = nullptr;
  // Set on their own (SetConnectProc, SetThreadExitProc and their TcpServer* twins).
  TOnConnect connect = nullptr;
  TOnConnectEx connect_ex = nullptr;
  TOnThreadExit thread_exit = nullptr;
  TOnThreadExitEx thread_exit_ex = nullptr;
};

constexpr int kCounterCount = TS_COUNTER_TLS_ERRORS + 1;
// Why a connection that never became a link (its TLS handshake did not complete) was closed.
// Internal: such a connection reaches no callback, so no application ever sees these.
constexpr int32_t kCloseHandshakeFailed = 100;
constexpr int32_t kCloseHandshakeTimeout = 101;
constexpr int32_t kCloseHandshakeDropped = 102;

class ServerTls;
constexpr int kCloseReasonCount = 32;  // TS_CLOSE_* numbers are below this
constexpr int kReadBudget = 16;  // reads per link per wake-up, for fairness

// What the read gate says before a read (Server::read_gate).
enum class ReadGate : uint8_t {
  kRead,        // read
  kStop,        // not open, closing on request, or already waiting for the pool: do nothing
  kHeld,        // PauseReceive or the high-water mark (Link::hold): read nothing until
                // Backend::resume_reading
  kPoolPaused,  // the pool ran low: park the link, then call Server::wait_for_pool()
};

// How Server::read_until_blocked ended.
enum class ReadEnd : uint8_t {
  kDrained,     // the socket had nothing more (would block, or a short read)
  kBudget,      // kReadBudget reads done: come back after other links had their turn
  kHeld,        // as ReadGate
  kPoolPaused,  // as ReadGate: park the link, then call Server::wait_for_pool()
  kStopped,     // closed, closing, or stopped by a close request: nothing more to do
};

// What Server::close_link did.
enum class CloseStep : uint8_t {
  kNone,      // the link was no longer open or closing
  kFlushing,  // graceful close with sends queued: now kClosing, the backend's flush finishes it
  kClosed,    // socket closed, OnDisconnect called (if asked), Backend::retire done
};

// One system call's result for read_until_blocked: bytes (> 0), end of stream (0), or -1 with
// `err` (0 = would block).
struct RecvResult {
  long n;
  int err;
};

class Server {
 public:
  explicit Server(void* context = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // ---- lifecycle (application threads; server.cpp) ----
  bool start(const char* ip, uint32_t port);
  bool stop(int timeout_ms);
  // Stop accepting, serve the open links until they close or timeout_ms passes, then stop.
  // Links closed at the deadline (TS_CLOSE_SERVER_STOP), or -1 with the error set.
  int32_t drain(int timeout_ms);
  bool active() const { return state_.load(std::memory_order_acquire) == State::kRunning; }
  uint32_t port() const;

  // ---- configuration (only while stopped; server.cpp) ----
  void* context() const { return context_; }
  bool set_callbacks(const Callbacks& cb);  // the event group: receive ... worker_thread_create
  bool set_connect(TOnConnect fn, TOnConnectEx fn_ex);
  bool set_thread_exit(TOnThreadExit fn, TOnThreadExitEx fn_ex);
  bool set_option(int32_t id, int64_t value);
  int64_t option(int32_t id) const;

  // ---- IO memory, sending, closing (any thread; send_path.cpp) ----
  void* get_io_mem();
  bool free_io_mem(void* mem);
  bool post_send(const TcpLink* link, void* mem, int32_t len);
  bool post_send_by_id(uint64_t id, void* mem, int32_t len);
  bool send_buffer(const TcpLink* link, const void* buf, int32_t len);
  bool send_buffer_by_id(uint64_t id, const void* buf, int32_t len);
  bool post_recv(const TcpLink* link, void* mem);
  // Every open link but except_id (0 = none); the number of links reached, or -1.
  int32_t broadcast(const void* buf, int32_t len, uint64_t except_id = 0);
  bool close_by_app(const TcpLink* link, int32_t flags);
  bool close_by_app_id(uint64_t id, int32_t flags);

  // ---- flow control and enumeration (any thread; flow.cpp) ----
  bool set_receive_paused(const TcpLink* link, bool paused);
  bool set_receive_paused_by_id(uint64_t id, bool paused);
  int64_t send_queue_bytes(const TcpLink* link);
  int64_t send_queue_bytes_by_id(uint64_t id);
  // Writes up to `capacity` ids of open links to `ids`; returns how many links are open, or -1.
  int32_t link_ids(uint64_t* ids, int32_t capacity);

  // ---- which server a pointer or id belongs to (no error set; send_path.cpp) ----
  bool owns_link(const TcpLink* p) const;
  bool has_link_id(uint64_t id) const;
  bool owns_buffer(const void* mem) const;
  // True on this server's own engine threads (its callbacks run there).
  bool on_own_thread() const;

  // ---- statistics (any thread; statistics.cpp) ----
  int32_t link_count() const;
  int32_t link_free() const;
  double link_use() const;  // links in use, % of the table
  int64_t link_table_bytes() const;
  int32_t io_mem_free();
  int64_t io_mem_bytes();
  double io_mem_use();
  int32_t worker_count() const;
  int32_t worker_id(int32_t index) const;
  int32_t worker_exec_info(int32_t index, uint32_t* busy_ms);
  uint32_t service_exec_ms() const { return service_exec_ms_.load(std::memory_order_relaxed); }
  int32_t service_exec_count() const { return service_exec_count_.load(std::memory_order_relaxed); }
  int64_t counter(int32_t which) const;
  int64_t close_count(int32_t reason) const;  // links closed with `reason`, or -1

  // ---- TLS (any thread; core/tls_server.*, link text in send_path.cpp) ----
  ServerTls& tls();  // made on first use
  int32_t tls_info(const TcpLink* link, int32_t what, char* buf, int32_t len);
  int32_t tls_info_by_id(uint64_t id, int32_t what, char* buf, int32_t len);
  int64_t tls_failures(int32_t cause);
  void count(int32_t which, int64_t n = 1) {
    counters_[which].fetch_add(n, std::memory_order_relaxed);
  }

  // ==== For backends: the life of a link, written once (link_life.cpp, dispatch.cpp) ====
  // Unless noted, called on the link's owner thread (the worker serving it).
  IoPool& pool() { return *pool_; }
  const Options& opts() const { return running_opts_; }
  void thread_begin(WorkerCtx& w, bool is_worker);  // on each engine thread, first
  void thread_end(WorkerCtx& w, bool is_worker);    // on each engine thread, last

  // Accepting (the accepting worker). A link for the accepted socket `s`, with the socket
  // options applied and the peer's address filled in; nullptr when the link limit is reached
  // (the socket is then closed and the refusal counted).
  Link* accept_link(socket_t s, const sockaddr* remote);
  // An accepted link the backend cannot serve (e.g. cannot watch its socket): closed and
  // released without callbacks; `why` (nullptr: quietly, the server is stopping) is logged
  // and the link counted as refused.
  void abandon_link(Link& link, const char* why);
  // OnConnect. False: refused, and already closed without callbacks (Backend::retire done).
  bool open_link(Link& link, WorkerCtx& w);

  // Reading. The gate before each read (inline: it runs before every read).
  ReadGate read_gate(Link& link) {
    // CloseLink from a callback: no OnReceive after it, even before its close request arrives.
    if (!link.reading() || link.paused_by_pool.load(std::memory_order_relaxed) ||
        link.close_requested.load(std::memory_order_acquire))
      return ReadGate::kStop;
    if (link.hold.load(std::memory_order_acquire)) return ReadGate::kHeld;
    if (pool_->low()) return pause_for_pool(link);
    return ReadGate::kRead;
  }
  // After parking a link that the gate paused for the pool: resumes it (through
  // Backend::resume_paused_readers) if buffers came back before it was parked.
  void wait_for_pool();
  // Bytes read from the socket: through the link's transport to OnReceive. Returns
  // TS_CLOSE_NONE, or the reason to close the link with (gracefully).
  int32_t received(Link& link, WorkerCtx& w, uint8_t* data, int32_t len) {
    if (link.transport || link.proxy) return received_before_app(link, w, data, len);
    return deliver(link, w, data, len);
  }
  // The peer closed its side: the reason to close with.
  int32_t eof_reason(Link& link);
  // A readiness backend's read: `recv(buf, size)` until it would block, the budget runs out,
  // the gate stops it, or the link closes (then closed here, with its reason). `until_eof`:
  // the peer already hung up, so a short read is not the end (read on to the FIN).
  template <typename Recv>
  ReadEnd read_until_blocked(Link& link, WorkerCtx& w, uint8_t* buf, size_t size, bool until_eof,
                             Recv&& recv);

  // Writing. `write_now_locked` (link.mu held, any thread): with nothing queued, writes what
  // the socket takes at once of parts[0..count) (count <= 2, one system call) and returns how
  // many bytes that was. A broken connection returns 0, sets *err and has the link closed.
  // Inline: every send without a queue comes here.
  size_t write_now_locked(Link& link, const ConstBuf* parts, int count, int* err) {
    if (!link.queue.empty()) return 0;
    long n = backend_->write_locked(link, parts, count, err);
    if (n < 0) {
      write_failed_locked(link, *err);
      return 0;
    }
    const size_t total = parts[0].len + (count > 1 ? parts[1].len : 0);
    count_written(link, static_cast<size_t>(n), static_cast<size_t>(n) == total ? 1 : 0);
    return static_cast<size_t>(n);
  }
  size_t write_now_locked(Link& link, const uint8_t* data, size_t len, int* err) {
    ConstBuf part{data, len};
    return write_now_locked(link, &part, 1, err);
  }
  // n bytes of the queue's front were written: finished items released, bytes counted
  // (link.mu held, any thread).
  void consume_written_locked(Link& link, size_t n);
  // A write failed with `err` (link.mu held, any thread): the reason is recorded (a reset a send
  // met first is reported as such, however the owner's next read sees it) and the owner asked
  // to close the link at once.
  void write_failed_locked(Link& link, int err);

  // Closing: the state machine. The first reason recorded wins. Graceful (`abort` false) with
  // sends queued: the link goes kClosing and stops reading; the backend's flush calls
  // finish_graceful_close once the queue is empty. Otherwise the link goes kClosed, the
  // socket is closed (with a reset when the application dropped what was pending), queued
  // sends are released, OnDisconnect runs if `notify`, and Backend::retire follows.
  CloseStep close_link(Link& link, WorkerCtx& w, int32_t reason, int err, bool abort,
                       bool notify = true);
  void close_for_error(Link& link, WorkerCtx& w, int err);  // reset, or an error with its code
  void finish_graceful_close(Link& link, WorkerCtx& w);     // the queue of a kClosing link drained
  // Ask the owner to close the link (any thread). Ignored if `id` is stale.
  void request_close(Link& link, uint64_t id, int32_t reason, bool abort);
  // A close request reached the owner: an idle close is re-checked (the link may have spoken
  // since the scan), then close_link.
  void close_requested_link(Link& link, WorkerCtx& w, int32_t reason, bool abort);

  // Back to the table: from Backend::retire (or later), when no event can name the link any more.
  void release_link(Link& link);

  // Calls fn(link) for every slot ever used (any thread; links may change meanwhile).
  template <typename Fn>
  void for_each_link(Fn&& fn) {
    LinkTable* table = table_.load(std::memory_order_acquire);
    for (uint32_t slot = 0; table && slot < table->high_water(); ++slot) fn(table->at(slot));
  }

  // ==== Test seam: tests/unit/core only; the engine and the ABI never call it (server.cpp) ====
  // Runs this stopped server with no listener and no thread, for socket-free tests of the life
  // of a link: the pool and a new link table sized by the options set, the running options
  // frozen as start() freezes them, `backend` (a test double) installed, and active() true.
  // The test then plays the backend's workers itself, calling the "for backends" functions
  // with a WorkerCtx of its own. stop() ends it (Backend::begin_stop, finish_stop). False, with
  // the error set, where start() would refuse the options or the server is not stopped.
  bool start_for_tests(std::unique_ptr<Backend> backend);
  // One pass of the service thread's scan with its clock reading `now` (idle_scanner.cpp;
  // public for tests): links whose time is up are asked to close.
  void scan_links(uint64_t now);

 private:
  enum class State { kStopped, kRunning, kStopping };

  // server.cpp
  bool ensure_pool_locked();
  int freeze_running_options_locked(int32_t backend_kind);  // start, start_for_tests: returns the worker count
  bool check_budget_options_locked() const;
  // send_path.cpp
  Link* link_from(const TcpLink* p);
  Link* link_by_id(uint64_t id);
  // Lock link.mu and check it is still `id` and open; false (error set, unlocked) otherwise.
  bool lock_open(Link* link, uint64_t id, std::unique_lock<std::mutex>& lock) {
    lock = std::unique_lock<std::mutex>(link->mu);
    if ((id != 0 && link->pub.Id != id) ||
        link->state.load(std::memory_order_relaxed) != LinkState::kOpen)
      return refuse_closed(link, id, lock);
    return true;
  }
  bool refuse_closed(Link* link, uint64_t id, std::unique_lock<std::mutex>& lock);
  // Sends `item` after everything queued before it: written at once when nothing is queued,
  // else queued for the backend to flush. The link owns the item from here.
  void send_item_locked(Link& link, SendItem* item);
  // What the socket did not take of a write just made (`nothing_written`: it took nothing):
  // queued for the backend, or deferred to its batch, without asking the socket again.
  void queue_unsent_locked(Link& link, SendItem* item, bool nothing_written);
  void send_items_locked(Link& link, SendItem* chain);  // each in order
  // The application's bytes through the link's transport, then its output sent. False (error
  // set, the link being closed) if the transport could not take them.
  bool seal_locked(Link& link, const ConstBuf* parts, int parts_count);
  // Writes head (a frame header, or nothing) then data; queues what the socket did not take.
  bool enqueue_copy_locked(Link& link, const uint8_t* head, uint32_t head_len,
                           const uint8_t* data, uint32_t len);
  bool framing() const { return running_opts_[TS_OPT_FRAMING] == TS_FRAMING_LENGTH_PREFIXED; }
  uint32_t frame_overhead() const { return framing() ? kFrameHeaderSize : 0; }
  // Whether `len` more bytes fit under TS_OPT_SEND_QUEUE_LIMIT; if not, the policy applies
  // (error set; the link closed under TS_QUEUE_CLOSE_LINK).
  // A send of `len` more bytes is checked here first. Over TS_OPT_SEND_QUEUE_LIMIT, or over the
  // memory budget while the link already queues (its bytes would be queued too), the policy
  // applies (error set; the link closed under TS_QUEUE_CLOSE_LINK). A send to a link with
  // nothing queued may go out at once; what of it must be queued is checked in send_item_locked.
  bool check_queue_limit_locked(Link& link, size_t len) {
    if (queue_limit_ != 0 && link.queue.bytes() + len > queue_limit_)
      return refuse_over_queue_limit_locked(link, len);
    if (!link.queue.empty() && !budget_.fits(len)) return refuse_over_budget_locked(link, len);
    return true;
  }
  bool refuse_over_queue_limit_locked(Link& link, size_t len);  // the policy; returns false
  bool refuse_over_budget_locked(Link& link, size_t len);       // the policy; returns false
  // The queue reached the high-water mark: stop reading the link until it drains to half.
  void hold_for_high_water_locked(Link& link);
  // Admission (link_life.cpp): false, with the socket closed and the refusal counted and
  // logged, when the accept rate or the address's link limit says no.
  bool admit(socket_t s, const sockaddr* remote, AddressKey* key);
  bool send_copy(Link* link, uint64_t id, const void* buf, int32_t len);
  bool do_post_send(Link* link, uint64_t id, void* mem, int32_t len);
  bool do_close(Link* link, uint64_t id, int32_t flags);
  // flow.cpp
  bool do_set_receive_paused(Link* link, uint64_t id, bool paused);
  int64_t do_send_queue_bytes(Link* link, uint64_t id);
  // dispatch.cpp
  bool call_connect(Link& link, WorkerCtx& w);  // OnConnect: true to accept
  int32_t deliver(Link& link, WorkerCtx& w, uint8_t* data, int32_t len);
  bool deliver_message(Link& link, WorkerCtx& w, uint8_t* data, int32_t len);
  int32_t framing_error(Link& link, FrameDecoder::Status status);
  void link_closed(Link& link, WorkerCtx& w);  // OnDisconnect / OnLinkIdleOvertime
  // link_life.cpp
  bool accept_for_app(Link& link, WorkerCtx& w);       // OnConnect, then visible
  // TS_CLOSE_NONE (a link now, or refused and closed already), or the reason to close it with
  int32_t handshake_completed(Link& link, WorkerCtx& w);
  int32_t transport_failed(Link& link);
  int32_t handshake_failed(Link& link, int32_t cause);  // records why; returns the close reason
  void count_handshake_failure(int32_t cause);
  void handshake_closed(Link& link, bool counted, int32_t reason, int32_t cause);
  void begin_tls_handshake(Link& link);
  void flush_transport_locked(Link& link);
  void charge_transport_locked(Link& link);
  bool tls_resumed_locked(Link& link) const;
  int32_t do_tls_info(Link* link, uint64_t id, int32_t what, char* buf, int32_t len);
  // Bytes and messages out are the application's, as bytes in are: a plain link counts what
  // the socket took; a link with a transport (TLS) counts what it sealed (seal_locked), not the
  // wire bytes (records, handshakes, close_notify).
  void count_written(const Link& link, size_t n, int items) {
    if (link.transport) return;
    count(TS_COUNTER_BYTES_OUT, static_cast<int64_t>(n));
    if (items) count(TS_COUNTER_MSGS_OUT, items);
  }
  // Backpressure: the link waits for buffers (the backend parks it); counted.
  ReadGate pause_for_pool(Link& link);
  int32_t received_before_app(Link& link, WorkerCtx& w, uint8_t* data, int32_t len);
  int32_t received_proxy_header(Link& link, WorkerCtx& w, uint8_t* data, int32_t len,
                                size_t* consumed);
  int32_t received_through_transport(Link& link, WorkerCtx& w, uint8_t* data, int32_t len);
  bool idle_close_still_due(Link& link) const;
  bool message_timeout_still_due(Link& link) const;
  // idle_scanner.cpp
  void service_loop();

  void* const context_;              // CreateTcpServer's Context, first argument of Ex callbacks
  std::mutex stop_mu_;               // one starter/stopper at a time
  mutable std::mutex lifecycle_mu_;  // state, options, callbacks, backend_ (held briefly)
  std::atomic<State> state_{State::kStopped};
  Options opts_;          // as set by SetServerOption
  Options running_opts_;  // frozen at start
  Callbacks cb_;
  LinkSocketOptions link_socket_opts_;  // from running_opts_, for accept_link
  uint64_t queue_limit_ = 0;            // TS_OPT_SEND_QUEUE_LIMIT, from running_opts_
  uint64_t high_water_ = 0;             // TS_OPT_SEND_HIGH_WATER, from running_opts_
  uint32_t links_per_address_ = 0;      // TS_OPT_MAX_LINKS_PER_ADDRESS, from running_opts_
  bool proxy_protocol_ = false;         // TS_OPT_PROXY_PROTOCOL, from running_opts_
  // Connections accepted that are not links yet (their TLS handshake or PROXY header is not
  // complete): GetLinkCount leaves them out.
  MemoryBudget budget_;                 // TS_OPT_MEMORY_BUDGET and what links hold against it
  AddressLimits address_links_;
  AcceptRate accept_rate_;
  std::mutex tls_mu_;               // making tls_
  std::unique_ptr<ServerTls> tls_;  // TLS settings, context, handshake queue (made on first use)
  bool tls_active_ = false;         // TS_OPT_TLS, from running_opts_
  std::atomic<uint64_t> last_refusal_log_ms_{0};

  std::atomic<LinkTable*> table_{nullptr};
  std::vector<std::unique_ptr<LinkTable>> tables_;  // current + retired (ids may still name them)
  std::unique_ptr<IoPool> pool_;
  std::vector<std::unique_ptr<IoPool>> retired_pools_;
  std::atomic<IoPool*> pool_ptr_{nullptr};
  std::unique_ptr<Backend> backend_;
  uint32_t port_ = 0;  // the listener's, while running

  WorkerCtx service_ctx_;
  std::thread service_thread_;
  std::mutex service_mu_;
  std::condition_variable service_cv_;
  bool service_stop_ = false;
  bool service_done_ = true;
  std::atomic<uint32_t> service_exec_ms_{0};
  std::atomic<int32_t> service_exec_count_{0};

  std::atomic<int64_t> counters_[kCounterCount] = {};
  std::atomic<int64_t> close_counts_[kCloseReasonCount] = {};

  // Engine threads that have published their OS id (StartTcpServer waits for all of them,
  // but not for their OnThreadCreate callbacks, which may wait on the starting thread).
  std::mutex ready_mu_;
  std::condition_variable ready_cv_;
  int threads_ready_ = 0;
};

template <typename Recv>
ReadEnd Server::read_until_blocked(Link& link, WorkerCtx& w, uint8_t* buf, size_t size,
                                   bool until_eof, Recv&& recv) {
  for (int budget = kReadBudget; budget > 0; --budget) {
    switch (read_gate(link)) {
      case ReadGate::kRead: break;
      case ReadGate::kStop: return ReadEnd::kStopped;
      case ReadGate::kHeld: return ReadEnd::kHeld;
      case ReadGate::kPoolPaused: return ReadEnd::kPoolPaused;
    }
    RecvResult r = recv(buf, size);
    if (r.n > 0) {
      if (int32_t reason = received(link, w, buf, static_cast<int32_t>(r.n))) {
        close_link(link, w, reason, 0, false);
        return ReadEnd::kStopped;
      }
      if (!link.reading()) return ReadEnd::kStopped;
      // A short read drained the socket: new data brings a new event (edge), unless the peer
      // already hung up, whose event came and will not come again: then read on to the end.
      if (static_cast<size_t>(r.n) < size && !until_eof) return ReadEnd::kDrained;
      continue;
    }
    if (r.n == 0) {
      close_link(link, w, eof_reason(link), 0, false);
      return ReadEnd::kStopped;
    }
    if (r.err == 0) return ReadEnd::kDrained;
    close_for_error(link, w, r.err);
    return ReadEnd::kStopped;
  }
  return ReadEnd::kBudget;
}

}  // namespace ts
