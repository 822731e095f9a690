// One TCP server: options, callbacks, the link table and IO pool, the service thread, and the
// backend that does the IO. The flat C API (abi/exports.cpp) drives the default instance; the
// TcpServer* family (abi/exports_handles.cpp) drives any, through core/registry.h.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "core/io_pool.h"
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

constexpr int kCounterCount = TS_COUNTER_FRAMING_ERRORS + 1;

class Server {
 public:
  explicit Server(void* context = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // ---- lifecycle (application threads) ----
  bool start(const char* ip, uint32_t port);
  bool stop(int timeout_ms);
  bool active() const { return state_.load(std::memory_order_acquire) == State::kRunning; }
  uint32_t port() const;

  // ---- configuration (only while stopped) ----
  void* context() const { return context_; }
  bool set_callbacks(const Callbacks& cb);  // the event group: receive ... worker_thread_create
  bool set_connect(TOnConnect fn, TOnConnectEx fn_ex);
  bool set_thread_exit(TOnThreadExit fn, TOnThreadExitEx fn_ex);
  bool set_option(int32_t id, int64_t value);
  int64_t option(int32_t id) const;

  // ---- IO memory and sending (any thread) ----
  void* get_io_mem();
  bool free_io_mem(void* mem);
  bool post_send(const TcpLink* link, void* mem, int32_t len);
  bool post_send_by_id(uint64_t id, void* mem, int32_t len);
  bool send_buffer(const TcpLink* link, const void* buf, int32_t len);
  bool send_buffer_by_id(uint64_t id, const void* buf, int32_t len);
  bool post_recv(const TcpLink* link, void* mem);
  // Every open link but except_id (0 = none); the number of links reached, or -1.
  int32_t broadcast(const void* buf, int32_t len, uint64_t except_id = 0);
  bool close_link(const TcpLink* link, int32_t flags);
  bool close_link_by_id(uint64_t id, int32_t flags);

  // ---- flow control and enumeration (any thread) ----
  bool set_receive_paused(const TcpLink* link, bool paused);
  bool set_receive_paused_by_id(uint64_t id, bool paused);
  int64_t send_queue_bytes(const TcpLink* link);
  int64_t send_queue_bytes_by_id(uint64_t id);
  // Writes up to `capacity` ids of open links to `ids`; returns how many links are open, or -1.
  int32_t link_ids(uint64_t* ids, int32_t capacity);

  // ---- which server a pointer or id belongs to (core/registry.cpp; no error set) ----
  bool owns_link(const TcpLink* p) const;
  bool has_link_id(uint64_t id) const;
  bool owns_buffer(const void* mem) const;
  // True on this server's own engine threads (its callbacks run there).
  bool on_own_thread() const;

  // ---- statistics ----
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

  // ---- called by the backend, on its worker threads ----
  Link* acquire_link();                 // nullptr (counted as refused) when the table is full
  bool link_opened(Link& link, WorkerCtx& w);  // OnConnect; false: refused and released
  // Bytes read from the link: OnReceive per chunk (raw) or per whole message (framing).
  // Returns TS_CLOSE_NONE, or the reason to close the link with (gracefully).
  int32_t deliver(Link& link, WorkerCtx& w, uint8_t* data, int32_t len);
  // The peer closed (EOF): TS_CLOSE_PEER_CLOSED, or TS_CLOSE_FRAME_TRUNCATED (counted) when a
  // framed message was cut short.
  int32_t eof_reason(Link& link);
  void link_closed(Link& link, WorkerCtx& w);  // OnDisconnect / OnLinkIdleOvertime
  void release_link(Link& link);        // after link_closed, when no event can still name it
  void thread_begin(WorkerCtx& w, bool is_worker);
  void thread_end(WorkerCtx& w, bool is_worker);
  void count(int32_t which, int64_t n = 1) {
    counters_[which].fetch_add(n, std::memory_order_relaxed);
  }
  IoPool& pool() { return *pool_; }
  const Options& opts() const { return running_opts_; }
  bool idle_request_still_due(Link& link) const;
  template <typename Fn>
  void for_each_link(Fn&& fn) {
    LinkTable* table = table_.load(std::memory_order_acquire);
    for (uint32_t slot = 0; table && slot < table->size(); ++slot) fn(table->at(slot));
  }

 private:
  enum class State { kStopped, kRunning, kStopping };

  bool ensure_pool_locked();
  Link* link_from(const TcpLink* p);
  Link* link_by_id(uint64_t id);
  // Lock link.mu and check it is still `id` and open; false (error set) otherwise.
  bool lock_open(Link* link, uint64_t id, std::unique_lock<std::mutex>& lock);
  bool send_item_locked(Link& link, SendItem* item);
  // Writes head (a frame header, or nothing) then data; queues what the socket did not take.
  bool enqueue_copy_locked(Link& link, const uint8_t* head, uint32_t head_len,
                           const uint8_t* data, uint32_t len);
  bool framing() const { return running_opts_[TS_OPT_FRAMING] == TS_FRAMING_LENGTH_PREFIXED; }
  uint32_t frame_overhead() const { return framing() ? kFrameHeaderSize : 0; }
  bool deliver_message(Link& link, WorkerCtx& w, uint8_t* data, int32_t len);
  int32_t framing_error(Link& link, FrameDecoder::Status status);
  bool do_set_receive_paused(Link* link, uint64_t id, bool paused);
  int64_t do_send_queue_bytes(Link* link, uint64_t id);
  bool check_queue_limit_locked(Link& link, size_t len);
  bool send_copy(Link* link, uint64_t id, const void* buf, int32_t len);
  bool do_post_send(Link* link, uint64_t id, void* mem, int32_t len);
  bool do_close(Link* link, uint64_t id, int32_t flags);
  void service_loop();
  void scan_idle(uint64_t now);

  void* const context_;              // CreateTcpServer's Context, first argument of Ex callbacks
  std::mutex stop_mu_;               // one starter/stopper at a time
  mutable std::mutex lifecycle_mu_;  // state, options, callbacks, backend_ (held briefly)
  std::atomic<State> state_{State::kStopped};
  Options opts_;          // as set by SetServerOption
  Options running_opts_;  // frozen at start
  Callbacks cb_;

  std::atomic<LinkTable*> table_{nullptr};
  std::vector<std::unique_ptr<LinkTable>> tables_;  // current + retired (ids may still name them)
  std::unique_ptr<IoPool> pool_;
  std::vector<std::unique_ptr<IoPool>> retired_pools_;
  std::atomic<IoPool*> pool_ptr_{nullptr};
  std::unique_ptr<Backend> backend_;

  WorkerCtx service_ctx_;
  std::thread service_thread_;
  std::mutex service_mu_;
  std::condition_variable service_cv_;
  bool service_stop_ = false;
  bool service_done_ = true;
  std::atomic<uint32_t> service_exec_ms_{0};
  std::atomic<int32_t> service_exec_count_{0};

  std::atomic<int64_t> counters_[kCounterCount] = {};

  // Engine threads that have published their OS id (StartTcpServer waits for all of them,
  // but not for their OnThreadCreate callbacks, which may wait on the starting thread).
  std::mutex ready_mu_;
  std::condition_variable ready_cv_;
  int threads_ready_ = 0;
};

}  // namespace ts
