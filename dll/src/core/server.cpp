#include "core/server.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#if defined(__GLIBCXX__)
#include <cxxabi.h>
#endif

#include "core/clock.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/registry.h"

#if defined(_WIN32)
#include <windows.h>
#else
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ts {
namespace {

// Set on every engine thread: the server whose callbacks run there.
thread_local const Server* t_engine_server = nullptr;

// Start and Stop wait: for the server's callbacks to return, and for a concurrent Start/Stop
// (stop_mu_). Called from a callback of server A on server B, that wait is an edge A -> B
// ("A's callback waits for B"); a call whose edge would close a cycle could never return.
// It fails instead (TS_ERR_IN_CALLBACK): A stopping itself, or A stopping B while a callback
// of B is stopping A (directly or through more servers). Calls from application threads add
// no edge: nothing in the engine waits for them.
std::mutex g_waits_mu;
std::vector<std::pair<const Server*, const Server*>> g_waits;  // few: one per blocked callback

bool reaches(const Server* from, const Server* to, int depth = 0) {
  if (from == to) return true;
  if (depth > static_cast<int>(g_waits.size())) return false;  // edges cannot make a longer path
  for (const auto& e : g_waits)
    if (e.first == from && reaches(e.second, to, depth + 1)) return true;
  return false;
}

class WaitEdge {
 public:
  explicit WaitEdge(const Server* target) : from_(t_engine_server), to_(target) {
    if (!from_) return;
    std::lock_guard<std::mutex> lock(g_waits_mu);
    if (reaches(to_, from_)) {
      ok_ = false;
      return;
    }
    g_waits.emplace_back(from_, to_);
    added_ = true;
  }
  ~WaitEdge() {
    if (!added_) return;
    std::lock_guard<std::mutex> lock(g_waits_mu);
    g_waits.erase(std::find(g_waits.begin(), g_waits.end(), std::make_pair(from_, to_)));
  }
  WaitEdge(const WaitEdge&) = delete;
  WaitEdge& operator=(const WaitEdge&) = delete;
  bool ok() const { return ok_; }
  // The reason, as a failure of `what` ("StopTcpServer", "StartTcpServer").
  bool fail_in_callback(const char* what) const {
    if (from_ == to_)
      return fail(TS_ERR_IN_CALLBACK,
                  "%s was called from a callback of the same server (an engine thread); it would "
                  "wait for itself. Call it from another thread",
                  what);
    return fail(TS_ERR_IN_CALLBACK,
                "%s was called from a callback of another server, while a callback of this server "
                "waits for that one to start or stop; each would wait for the other forever. "
                "Call it from a thread that is not a callback",
                what);
  }

 private:
  const Server* from_;
  const Server* to_;
  bool ok_ = true;
  bool added_ = false;
};

uint32_t os_thread_id() {
#if defined(_WIN32)
  return static_cast<uint32_t>(GetCurrentThreadId());
#else
  return static_cast<uint32_t>(syscall(SYS_gettid));
#endif
}

// Runs an application callback so that nothing it throws reaches the engine.
// (UBSan's null check misfires on binding abi::__forced_unwind, which has no object.)
template <typename Fn>
TS_NO_SANITIZE_NULL bool guarded(const char* what, Fn&& fn) {
  try {
    fn();
    return true;
#if defined(__GLIBCXX__)
  } catch (abi::__forced_unwind&) {
    throw;  // the thread is being cancelled or exited inside the callback: let it unwind
#endif
  } catch (const std::exception& e) {
    log(TS_LOG_ERROR, "%s threw an exception (%s); the engine caught it", what, e.what());
  } catch (...) {
    log(TS_LOG_ERROR, "%s threw an exception; the engine caught it", what);
  }
  return false;
}

// Sets Link->Worker for the duration of a callback.
struct WorkerScope {
  TcpLink& pub;
  WorkerScope(Link& link, WorkerCtx& w) : pub(link.pub) {
    pub.Worker = &w.pub;
    w.count_exec();
  }
  ~WorkerScope() { pub.Worker = nullptr; }
};

}  // namespace

Server::Server(void* context) : context_(context) {}

Server::~Server() { stop(-1); }

bool Server::on_own_thread() const { return t_engine_server == this; }

// ------------------------------------------------------------------------------------------
// Lifecycle
// ------------------------------------------------------------------------------------------

bool Server::ensure_pool_locked() {
  auto size = static_cast<uint32_t>(opts_[TS_OPT_IO_BUFFER_SIZE]);
  auto count = static_cast<uint32_t>(opts_[TS_OPT_IO_BUFFER_COUNT]);
  if (pool_ && pool_->buffer_size() == size && pool_->count() == count) return true;
  if (pool_ && pool_->free_count() != pool_->count())
    return fail(TS_ERR_BUSY,
                "cannot resize the IO pool: %u buffers are still held by the application; "
                "FreeIOMem them first",
                pool_->count() - pool_->free_count());
  auto pool = std::make_unique<IoPool>(size, count);
  if (!pool->ok())
    return fail(TS_ERR_OUT_OF_MEMORY, "cannot allocate the IO pool (%u buffers of %u bytes)",
                count, size);
  pool->set_on_available([this] {
    if (backend_) backend_->resume_paused_readers();
  });
  // A replaced pool stays allocated: another thread may still be validating a pointer into it.
  if (pool_) retired_pools_.push_back(std::move(pool_));
  pool_ = std::move(pool);
  pool_ptr_.store(pool_.get(), std::memory_order_release);
  return true;
}

bool Server::start(const char* ip, uint32_t port) {
  if (port > 65535) return fail(TS_ERR_INVALID_ARGUMENT, "port %u is out of range (0..65535)", port);
  // From its own callback Start would wait for stop_mu_, which a stopper holds while it waits
  // for that very callback.
  WaitEdge edge(this);
  if (!edge.ok()) return edge.fail_in_callback("StartTcpServer / TcpServerStart");
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  State st = state_.load();
  if (st == State::kRunning) return fail(TS_ERR_ALREADY_ACTIVE, "the server is already running");
  if (st == State::kStopping)
    return fail(TS_ERR_ALREADY_ACTIVE,
                "the server is still stopping; call StopTcpServer until it returns 1, then start");

  // Listen first: a bad address or a port in use must leave the pool and the link table of
  // the last run as they were (the listener closes with `backend` on any failure below).
  backend_.reset();
  std::unique_ptr<Backend> backend = make_backend(*this);
  ListenSpec spec;
  spec.ip = ip ? ip : "";
  spec.port = port;
  spec.backlog = static_cast<int>(opts_[TS_OPT_LISTEN_BACKLOG]);
  spec.reuse_addr = opts_[TS_OPT_REUSEADDR] != 0;
  spec.reuse_port = opts_[TS_OPT_REUSEPORT] != 0;
  spec.ipv6_only = opts_[TS_OPT_IPV6_ONLY] != 0;
  if (!backend->listen(spec)) return false;

  if (!ensure_pool_locked()) return false;
  auto max_links = static_cast<uint32_t>(opts_[TS_OPT_MAX_LINKS]);
  LinkTable* table = table_.load();
  if (!table || table->size() != max_links) {
    tables_.push_back(std::make_unique<LinkTable>(max_links));  // old ones stay: ids may name them
    table_.store(tables_.back().get(), std::memory_order_release);
  }
  running_opts_ = opts_;

  int workers = static_cast<int>(opts_[TS_OPT_WORKER_THREADS]);
  if (workers == 0) workers = default_worker_count();
  // Each worker can take one buffer in a callback while readers are paused.
  pool_->set_reserve(static_cast<uint32_t>(std::min<int64_t>(workers, pool_->count() / 2)));

  backend_ = std::move(backend);
  {
    std::lock_guard<std::mutex> rlock(ready_mu_);
    threads_ready_ = 0;
  }
  state_.store(State::kRunning, std::memory_order_release);
  if (!backend_->start_workers(workers)) {
    state_.store(State::kStopped);
    backend_.reset();
    return false;
  }
  {
    std::lock_guard<std::mutex> slock(service_mu_);
    service_stop_ = false;
    service_done_ = false;
  }
  try {
    service_thread_ = std::thread([this] { service_loop(); });
  } catch (const std::exception& e) {
    state_.store(State::kStopping);
    backend_->begin_stop();
    backend_->finish_stop(-1);
    backend_.reset();
    state_.store(State::kStopped);
    return fail(TS_ERR_SYSTEM, "cannot start the service thread: %s", e.what());
  }
  {  // GetWorkerID is valid once StartTcpServer returns, as in the original
    std::unique_lock<std::mutex> rlock(ready_mu_);
    ready_cv_.wait(rlock, [&] { return threads_ready_ == workers + 1; });
  }
  log(TS_LOG_INFO, "listening on %s port %u with %d workers",
      spec.ip.empty() ? "all interfaces" : spec.ip.c_str(), backend_->bound_port(), workers);
  return true;
}

bool Server::stop(int timeout_ms) {
  if (timeout_ms < -1)
    return fail(TS_ERR_INVALID_ARGUMENT, "stop: timeout %d ms must be -1 (wait for ever) or >= 0",
                timeout_ms);
  WaitEdge edge(this);
  if (!edge.ok()) return edge.fail_in_callback("StopTcpServer / TcpServerStop");
  // stop_mu_ serializes stoppers; lifecycle_mu_ is taken only briefly, so callbacks that read
  // statistics while we wait do not block.
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (state_.load() == State::kStopped) return true;
    if (state_.load() == State::kRunning) {
      state_.store(State::kStopping, std::memory_order_release);
      backend_->begin_stop();
      std::lock_guard<std::mutex> slock(service_mu_);
      service_stop_ = true;
      service_cv_.notify_all();
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto left_ms = [&]() -> int {
    if (timeout_ms < 0) return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now()).count();
    return static_cast<int>(std::max<int64_t>(0, left));
  };
  // The service thread first: its idle scan posts to workers, which must outlive it.
  bool done;
  {
    std::unique_lock<std::mutex> slock(service_mu_);
    auto is_done = [this] { return service_done_; };
    if (timeout_ms < 0) service_cv_.wait(slock, is_done), done = true;
    else done = service_cv_.wait_for(slock, std::chrono::milliseconds(left_ms()), is_done);
  }
  if (done) done = backend_->finish_stop(left_ms());
  if (!done)
    return fail(TS_ERR_TIMEOUT,
                "the server is still stopping (a callback has not returned yet); call "
                "StopTcpServer again to keep waiting");
  if (service_thread_.joinable()) service_thread_.join();
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  state_.store(State::kStopped, std::memory_order_release);
  if (pool_ && pool_->free_count() != pool_->count())
    log(TS_LOG_INFO, "server stopped; the application still holds %u IO buffers",
        pool_->count() - pool_->free_count());
  return true;
}

uint32_t Server::port() const {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return state_.load() == State::kRunning && backend_ ? backend_->bound_port() : 0;
}

// ------------------------------------------------------------------------------------------
// Configuration
// ------------------------------------------------------------------------------------------

static bool refuse_while_running(const char* what) {
  return fail(TS_ERR_ALREADY_ACTIVE, "%s: the server is running; stop it first", what);
}

bool Server::set_callbacks(const Callbacks& cb) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_.load() != State::kStopped) return refuse_while_running("SetEventProc");
  Callbacks next = cb;
  next.connect = cb_.connect;
  next.connect_ex = cb_.connect_ex;
  next.thread_exit = cb_.thread_exit;
  next.thread_exit_ex = cb_.thread_exit_ex;
  cb_ = next;
  return true;
}

bool Server::set_connect(TOnConnect fn, TOnConnectEx fn_ex) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_.load() != State::kStopped) return refuse_while_running("SetConnectProc");
  cb_.connect = fn;
  cb_.connect_ex = fn_ex;
  return true;
}

bool Server::set_thread_exit(TOnThreadExit fn, TOnThreadExitEx fn_ex) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_.load() != State::kStopped) return refuse_while_running("SetThreadExitProc");
  cb_.thread_exit = fn;
  cb_.thread_exit_ex = fn_ex;
  return true;
}

bool Server::set_option(int32_t id, int64_t value) {
  const OptionSpec* spec = option_spec(id);
  if (!spec) return fail(TS_ERR_UNKNOWN_OPTION, "unknown option %d", id);
  if (value < spec->min || value > spec->max) {
    return fail(TS_ERR_OPTION_RANGE, "%s=%lld is out of range (%lld..%lld)", spec->name,
                static_cast<long long>(value), static_cast<long long>(spec->min),
                static_cast<long long>(spec->max));
  }
  // The log level belongs to the log, which is process-wide like its sink (SetLogProc):
  // setting it on any server applies at once, to every server.
  if (id == TS_OPT_LOG_LEVEL) {
    set_log_level(static_cast<int32_t>(value));
    return true;
  }
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_.load() != State::kStopped) return refuse_while_running(spec->name);
  opts_.v[id] = value;
  return true;
}

int64_t Server::option(int32_t id) const {
  if (!option_spec(id)) {
    fail(TS_ERR_UNKNOWN_OPTION, "unknown option %d", id);
    return -1;
  }
  if (id == TS_OPT_LOG_LEVEL) return log_level();
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return opts_[id];
}

// ------------------------------------------------------------------------------------------
// IO memory and sending
// ------------------------------------------------------------------------------------------

void* Server::get_io_mem() {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  if (!pool) {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (!ensure_pool_locked()) return nullptr;
    pool = pool_.get();
  }
  IoBuf* buf = pool->get(BufState::kApp);
  if (!buf) {
    fail(TS_ERR_POOL_EXHAUSTED,
         "the IO pool is exhausted (%u buffers in use); free buffers or raise "
         "TS_OPT_IO_BUFFER_COUNT",
         pool->count());
    return nullptr;
  }
  return buf->data();
}

bool Server::free_io_mem(void* mem) {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  if (!mem) return fail(TS_ERR_INVALID_ARGUMENT, "FreeIOMem: the buffer pointer is NULL");
  if (!pool) return fail(TS_ERR_NOT_A_BUFFER, "FreeIOMem: %p is not an IO buffer (no pool yet)", mem);
  return pool->free_app(mem);
}

bool Server::owns_link(const TcpLink* p) const {
  LinkTable* table = table_.load(std::memory_order_acquire);
  return table && table->from_public(p);
}

bool Server::has_link_id(uint64_t id) const {
  LinkTable* table = table_.load(std::memory_order_acquire);
  return table && table->by_id(id);
}

bool Server::owns_buffer(const void* mem) const {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  return pool && pool->contains(mem);
}

Link* Server::link_from(const TcpLink* p) {
  if (!p) {
    fail(TS_ERR_INVALID_ARGUMENT, "the link pointer is NULL");
    return nullptr;
  }
  LinkTable* table = table_.load(std::memory_order_acquire);
  Link* link = table ? table->from_public(p) : nullptr;
  if (!link) fail(TS_ERR_NOT_A_LINK, "%p is not a link of this server", static_cast<const void*>(p));
  return link;
}

Link* Server::link_by_id(uint64_t id) {
  if (state_.load(std::memory_order_acquire) == State::kStopped) {
    fail(TS_ERR_NOT_ACTIVE, "the server is not running");
    return nullptr;
  }
  LinkTable* table = table_.load(std::memory_order_acquire);
  Link* link = table ? table->by_id(id) : nullptr;
  if (!link)
    fail(TS_ERR_LINK_CLOSED, "no open link has id %llu (closed, or never existed)",
         static_cast<unsigned long long>(id));
  return link;
}

bool Server::lock_open(Link* link, uint64_t id, std::unique_lock<std::mutex>& lock) {
  lock = std::unique_lock<std::mutex>(link->mu);
  if ((id != 0 && link->pub.Id != id) || link->state != LinkState::kOpen) {
    lock.unlock();
    return fail(TS_ERR_LINK_CLOSED, "link %llu is closed or closing",
                static_cast<unsigned long long>(id ? id : link->pub.Id));
  }
  return true;
}

bool Server::check_queue_limit_locked(Link& link, size_t len) {
  auto limit = static_cast<uint64_t>(running_opts_[TS_OPT_SEND_QUEUE_LIMIT]);
  if (limit == 0 || link.queue.bytes() + len <= limit) return true;
  count(TS_COUNTER_SEND_QUEUE_DROPS);
  if (running_opts_[TS_OPT_SEND_QUEUE_POLICY] == TS_QUEUE_CLOSE_LINK) {
    backend_->request_close(link, link.pub.Id, TS_CLOSE_SEND_QUEUE_FULL, true);
    return fail(TS_ERR_SEND_QUEUE_FULL,
                "link %llu: %zu bytes already queued, the send would exceed "
                "TS_OPT_SEND_QUEUE_LIMIT=%llu; the link is being closed",
                static_cast<unsigned long long>(link.pub.Id), link.queue.bytes(),
                static_cast<unsigned long long>(limit));
  }
  return fail(TS_ERR_SEND_QUEUE_FULL,
              "link %llu: %zu bytes already queued, the send would exceed "
              "TS_OPT_SEND_QUEUE_LIMIT=%llu; try again when the peer has read",
              static_cast<unsigned long long>(link.pub.Id), link.queue.bytes(),
              static_cast<unsigned long long>(limit));
}

bool Server::send_item_locked(Link& link, SendItem* item) {
  // An error here means the connection broke; the item went into the queue and is released
  // when the backend closes the link, which tells the application through OnDisconnect.
  backend_->send_locked(link, item);
  return true;
}

namespace {
// The bytes of up to two pieces (frame header, payload) not yet written, copied out in order.
struct Pieces {
  ConstBuf part[2];
  uint32_t left() const { return static_cast<uint32_t>(part[0].len + part[1].len); }
  void skip(size_t n) {
    for (ConstBuf& p : part) {
      size_t k = std::min(n, p.len);
      p.data += k;
      p.len -= k;
      n -= k;
    }
  }
  void copy_out(uint8_t* dst, uint32_t n) {  // n <= left()
    size_t first = std::min<size_t>(n, part[0].len);
    if (first) std::memcpy(dst, part[0].data, first);
    if (n > first) std::memcpy(dst + first, part[1].data, n - first);
    skip(n);
  }
};
}  // namespace

bool Server::enqueue_copy_locked(Link& link, const uint8_t* head, uint32_t head_len,
                                 const uint8_t* data, uint32_t len) {
  Pieces src{{{head, head_len}, {data, len}}};
  int err = 0;
  size_t done = head_len ? backend_->write_now_locked(link, src.part, 2, &err)
                         : backend_->write_now_locked(link, data, len, &err);
  if (err) return true;  // broken: the link is being closed and will report why
  src.skip(done);
  uint32_t left = src.left();
  if (left == 0) return true;

  IoPool& pool = *pool_;
  uint32_t size = pool.buffer_size();
  uint32_t needed = (left + size - 1) / size;
  // Chain pool buffers while that leaves the readers' reserve; otherwise one heap block.
  if (pool.free_count() > needed + 4 * pool.count() / 100 + 1 && !pool.low()) {
    while (left > 0) {
      IoBuf* buf = pool.get(BufState::kQueued);
      if (!buf) break;  // raced with other takers: the rest goes into a block
      uint32_t n = std::min(left, size);
      src.copy_out(buf->data(), n);
      buf->item.data = buf->data();
      buf->item.left = n;
      send_item_locked(link, &buf->item);
      left -= n;
    }
    if (left == 0) return true;
  }
  SharedBlock* block = SharedBlock::create(nullptr, left);
  if (block) src.copy_out(block->data(), left);
  SendItem* item = block ? SendItem::for_block(block, block->data(), left) : nullptr;
  if (block) block->unref();  // the item holds the only reference now
  if (!item) {
    backend_->request_close(link, link.pub.Id, TS_CLOSE_ERROR, true);
    return fail(TS_ERR_OUT_OF_MEMORY, "out of memory queueing %u bytes; the link is being closed",
                left);
  }
  return send_item_locked(link, item);
}

bool Server::do_post_send(Link* link, uint64_t id, void* mem, int32_t len) {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  if (!mem) return fail(TS_ERR_INVALID_ARGUMENT, "PostSend: the buffer pointer is NULL");
  IoBuf* buf = pool ? pool->lookup(mem) : nullptr;
  if (!buf) {
    if (buffer_of_another_server(mem, this))
      return fail(TS_ERR_NOT_A_BUFFER,
                  "PostSend: %p is an IO buffer of another server; a link sends only buffers of "
                  "its own server's pool (TcpServerGetIOMem of that server). It is still yours",
                  mem);
    if (!pool) fail(TS_ERR_NOT_A_BUFFER, "PostSend: %p is not an IO buffer from GetIOMem", mem);
    return false;
  }
  if (len <= 0 || static_cast<uint32_t>(len) > pool->buffer_size())
    return fail(TS_ERR_BAD_LENGTH, "PostSend: length %d is outside 1..%u (the IO buffer size)", len,
                pool->buffer_size());
  std::unique_lock<std::mutex> lock;
  if (!lock_open(link, id, lock)) return false;
  const uint32_t head = frame_overhead();
  if (!check_queue_limit_locked(*link, static_cast<size_t>(len) + head)) return false;
  uint32_t expected = static_cast<uint32_t>(BufState::kApp);
  if (!buf->state.compare_exchange_strong(expected, static_cast<uint32_t>(BufState::kQueued)))
    return fail(TS_ERR_BUFFER_NOT_OWNED,
                "PostSend: IO buffer %p is not yours to send (already freed, or already sent)",
                mem);
  buf->item.next = nullptr;
  buf->item.data = buf->data();
  buf->item.left = static_cast<uint32_t>(len);
  if (head) {  // the header goes in the buffer's reserved slot: one item, no allocation
    put_frame_header(buf->frame_header(), static_cast<uint32_t>(len));
    buf->item.data = buf->frame_header();
    buf->item.left += head;
  }
  return send_item_locked(*link, &buf->item);
}

bool Server::post_send(const TcpLink* p, void* mem, int32_t len) {
  Link* link = link_from(p);
  return link && do_post_send(link, 0, mem, len);
}

bool Server::post_send_by_id(uint64_t id, void* mem, int32_t len) {
  Link* link = link_by_id(id);
  return link && do_post_send(link, id, mem, len);
}

bool Server::send_copy(Link* link, uint64_t id, const void* buf, int32_t len) {
  if (!buf) return fail(TS_ERR_INVALID_ARGUMENT, "SendBuffer: the data pointer is NULL");
  if (len <= 0) return fail(TS_ERR_BAD_LENGTH, "SendBuffer: length %d must be at least 1", len);
  std::unique_lock<std::mutex> lock;
  if (!lock_open(link, id, lock)) return false;
  uint8_t header[kFrameHeaderSize];
  const uint32_t head = frame_overhead();
  if (head) put_frame_header(header, static_cast<uint32_t>(len));
  if (!check_queue_limit_locked(*link, static_cast<size_t>(len) + head)) return false;
  return enqueue_copy_locked(*link, header, head, static_cast<const uint8_t*>(buf),
                             static_cast<uint32_t>(len));
}

bool Server::send_buffer(const TcpLink* p, const void* buf, int32_t len) {
  Link* link = link_from(p);
  return link && send_copy(link, 0, buf, len);
}

bool Server::send_buffer_by_id(uint64_t id, const void* buf, int32_t len) {
  Link* link = link_by_id(id);
  return link && send_copy(link, id, buf, len);
}

bool Server::post_recv(const TcpLink* p, void* mem) {
  Link* link = link_from(p);
  if (!link) return false;
  // The link first: on failure the caller still owns Mem, as with every send call.
  std::unique_lock<std::mutex> lock;
  if (!lock_open(link, 0, lock)) return false;
  lock.unlock();
  if (mem) {
    IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
    if (!pool || !pool->free_app(mem)) return false;
  }
  return true;
}

int32_t Server::broadcast(const void* buf, int32_t len, uint64_t except_id) {
  if (!buf) return fail(TS_ERR_INVALID_ARGUMENT, "PostBroadcast: the data pointer is NULL"), -1;
  if (len <= 0) return fail(TS_ERR_BAD_LENGTH, "PostBroadcast: length %d must be at least 1", len), -1;
  if (state_.load(std::memory_order_acquire) != State::kRunning)
    return fail(TS_ERR_NOT_ACTIVE, "PostBroadcast: the server is not running"), -1;
  LinkTable* table = table_.load(std::memory_order_acquire);
  // One copy for every link, with its frame header in front when framing is on.
  const uint32_t head = frame_overhead();
  SharedBlock* block = SharedBlock::create(nullptr, static_cast<uint32_t>(len) + head);
  if (!block) return fail(TS_ERR_OUT_OF_MEMORY, "PostBroadcast: out of memory for %d bytes", len), -1;
  if (head) put_frame_header(block->data(), static_cast<uint32_t>(len));
  std::memcpy(block->data() + head, buf, static_cast<size_t>(len));
  int32_t reached = 0;
  for (uint32_t slot = 0; slot < table->high_water(); ++slot) {
    Link& link = table->at(slot);
    if (link.astate.load(std::memory_order_acquire) != LinkState::kOpen) continue;
    std::lock_guard<std::mutex> lock(link.mu);
    if (link.state != LinkState::kOpen || (except_id != 0 && link.pub.Id == except_id)) continue;
    if (!check_queue_limit_locked(link, block->size)) continue;
    int err = 0;
    size_t done = backend_->write_now_locked(link, block->data(), block->size, &err);
    if (!err && done < block->size) {
      SendItem* item = SendItem::for_block(block, block->data() + done,
                                           block->size - static_cast<uint32_t>(done));
      if (!item) {
        backend_->request_close(link, link.pub.Id, TS_CLOSE_ERROR, true);
        continue;
      }
      send_item_locked(link, item);
    }
    ++reached;
  }
  block->unref();
  return reached;
}

bool Server::do_close(Link* link, uint64_t id, int32_t flags) {
  if (flags & ~TS_CLOSE_FLAG_ABORT) return fail(TS_ERR_INVALID_ARGUMENT, "CloseLink: unknown flags %d", flags);
  std::unique_lock<std::mutex> lock(link->mu);
  bool current = id == 0 || link->pub.Id == id;
  bool closable = link->state == LinkState::kOpen ||
                  (link->state == LinkState::kClosing && (flags & TS_CLOSE_FLAG_ABORT));
  if (!current || !closable) {
    if (current && link->state == LinkState::kClosing) return true;  // already on its way
    return fail(TS_ERR_LINK_CLOSED, "CloseLink: link %llu is already closed",
                static_cast<unsigned long long>(id ? id : link->pub.Id));
  }
  backend_->request_close(*link, link->pub.Id, TS_CLOSE_BY_APP, (flags & TS_CLOSE_FLAG_ABORT) != 0);
  return true;
}

bool Server::close_link(const TcpLink* p, int32_t flags) {
  Link* link = link_from(p);
  return link && do_close(link, 0, flags);
}

bool Server::close_link_by_id(uint64_t id, int32_t flags) {
  Link* link = link_by_id(id);
  return link && do_close(link, id, flags);
}

// ------------------------------------------------------------------------------------------
// Flow control and enumeration
// ------------------------------------------------------------------------------------------

bool Server::do_set_receive_paused(Link* link, uint64_t id, bool paused) {
  std::unique_lock<std::mutex> lock;
  if (!lock_open(link, id, lock)) return false;
  // The owner checks the flag before every read; only a resume needs it to act (it may be
  // waiting for an edge that already came).
  if (paused) link->app_paused.store(true, std::memory_order_release);
  else if (link->app_paused.exchange(false, std::memory_order_acq_rel))
    backend_->resume_reading(*link, link->pub.Id);
  return true;
}

bool Server::set_receive_paused(const TcpLink* p, bool paused) {
  Link* link = link_from(p);
  return link && do_set_receive_paused(link, 0, paused);
}

bool Server::set_receive_paused_by_id(uint64_t id, bool paused) {
  Link* link = link_by_id(id);
  return link && do_set_receive_paused(link, id, paused);
}

int64_t Server::do_send_queue_bytes(Link* link, uint64_t id) {
  std::lock_guard<std::mutex> lock(link->mu);
  // A closing link is still flushing: its queue is still worth knowing.
  if ((id != 0 && link->pub.Id != id) ||
      (link->state != LinkState::kOpen && link->state != LinkState::kClosing))
    return fail(TS_ERR_LINK_CLOSED, "link %llu is closed",
                static_cast<unsigned long long>(id ? id : link->pub.Id)), -1;
  return static_cast<int64_t>(link->queue.bytes());
}

int64_t Server::send_queue_bytes(const TcpLink* p) {
  Link* link = link_from(p);
  return link ? do_send_queue_bytes(link, 0) : -1;
}

int64_t Server::send_queue_bytes_by_id(uint64_t id) {
  Link* link = link_by_id(id);
  return link ? do_send_queue_bytes(link, id) : -1;
}

int32_t Server::link_ids(uint64_t* ids, int32_t capacity) {
  if (capacity < 0)
    return fail(TS_ERR_INVALID_ARGUMENT, "GetLinkIds: capacity %d is negative", capacity), -1;
  if (!ids && capacity > 0)
    return fail(TS_ERR_INVALID_ARGUMENT, "GetLinkIds: Ids is NULL but Capacity is %d", capacity), -1;
  if (state_.load(std::memory_order_acquire) == State::kStopped) return 0;
  LinkTable* table = table_.load(std::memory_order_acquire);
  int32_t count = 0;
  for (uint32_t slot = 0; table && slot < table->size(); ++slot) {
    Link& link = table->at(slot);
    // A slot's id changes only when it is acquired again, before it opens: the same id on
    // both sides of an open state means that link was open in between.
    uint64_t id = link.id.load(std::memory_order_acquire);
    if (link.astate.load(std::memory_order_acquire) != LinkState::kOpen) continue;
    if (link.id.load(std::memory_order_acquire) != id || id == 0) continue;
    if (count < capacity) ids[count] = id;
    ++count;
  }
  return count;
}

// ------------------------------------------------------------------------------------------
// Statistics
// ------------------------------------------------------------------------------------------

int32_t Server::link_count() const {
  LinkTable* t = table_.load(std::memory_order_acquire);
  return t ? static_cast<int32_t>(t->open_count()) : 0;
}

int32_t Server::link_free() const {
  LinkTable* t = table_.load(std::memory_order_acquire);
  if (t) return static_cast<int32_t>(t->size() - t->in_use());
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return static_cast<int32_t>(opts_[TS_OPT_MAX_LINKS]);
}

double Server::link_use() const {
  int32_t used = link_count();
  int32_t size = used + link_free();
  return size > 0 ? 100.0 * used / size : 0.0;
}

int64_t Server::link_table_bytes() const {
  LinkTable* t = table_.load(std::memory_order_acquire);
  if (t) return static_cast<int64_t>(t->bytes());
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return opts_[TS_OPT_MAX_LINKS] * static_cast<int64_t>(sizeof(Link));
}

int32_t Server::io_mem_free() {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  if (pool) return static_cast<int32_t>(pool->free_count());
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return static_cast<int32_t>(opts_[TS_OPT_IO_BUFFER_COUNT]);
}

int64_t Server::io_mem_bytes() {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  if (pool) return static_cast<int64_t>(pool->bytes());
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return opts_[TS_OPT_IO_BUFFER_COUNT] * (opts_[TS_OPT_IO_BUFFER_SIZE] + IoBuf::kHeaderSize);
}

double Server::io_mem_use() {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  if (!pool) return 0.0;
  return 100.0 * (pool->count() - pool->free_count()) / pool->count();
}

int32_t Server::worker_count() const {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return state_.load() != State::kStopped && backend_ ? backend_->worker_count() : 0;
}

int32_t Server::worker_id(int32_t index) const {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  int count = state_.load() != State::kStopped && backend_ ? backend_->worker_count() : 0;
  if (index < 1 || index > count)
    return fail(TS_ERR_INVALID_ARGUMENT, "worker index %d is outside 1..%d", index, count), 0;
  return static_cast<int32_t>(backend_->worker(index - 1)->os_id.load());
}

int32_t Server::worker_exec_info(int32_t index, uint32_t* busy_ms) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  int count = state_.load() != State::kStopped && backend_ ? backend_->worker_count() : 0;
  if (index < 1 || index > count)
    return fail(TS_ERR_INVALID_ARGUMENT, "worker index %d is outside 1..%d", index, count), -1;
  WorkerCtx* w = backend_->worker(index - 1);
  uint64_t busy_us = w->busy_us.exchange(0, std::memory_order_relaxed);
  if (busy_ms) *busy_ms = static_cast<uint32_t>(busy_us / 1000);
  return static_cast<int32_t>(w->exec_count.load(std::memory_order_relaxed));
}

int64_t Server::counter(int32_t which) const {
  if (which < 1 || which >= kCounterCount)
    return fail(TS_ERR_INVALID_ARGUMENT, "unknown counter %d", which), -1;
  return counters_[which].load(std::memory_order_relaxed);
}

// ------------------------------------------------------------------------------------------
// Backend hooks (worker threads)
// ------------------------------------------------------------------------------------------

Link* Server::acquire_link() {
  Link* link = table_.load(std::memory_order_acquire)->acquire();
  if (!link) {
    count(TS_COUNTER_REFUSED);
    log(TS_LOG_WARN, "connection refused: all %d links are in use (raise TS_OPT_MAX_LINKS)",
        static_cast<int>(running_opts_[TS_OPT_MAX_LINKS]));
  }
  return link;
}

bool Server::link_opened(Link& link, WorkerCtx& w) {
  link.decoder.reset(static_cast<uint32_t>(running_opts_[TS_OPT_MAX_MESSAGE_SIZE]));
  {
    std::lock_guard<std::mutex> lock(link.mu);
    link.set_state(LinkState::kOpen);  // visible from here: sends, broadcasts, ids, idle scan
  }
  bool accepted = true;
  if (cb_.connect || cb_.connect_ex) {
    WorkerScope scope(link, w);
    int32_t r = 0;
    accepted = guarded("OnConnect", [&] {
                 r = cb_.connect_ex ? cb_.connect_ex(context_, &link.pub) : cb_.connect(&link.pub);
               }) && r != 0;
  }
  count(accepted ? TS_COUNTER_ACCEPTS : TS_COUNTER_REFUSED);
  return accepted;
}

int32_t Server::deliver(Link& link, WorkerCtx& w, uint8_t* data, int32_t len) {
  count(TS_COUNTER_BYTES_IN, len);
  // Any bytes count as activity (with framing too: a large message arriving slowly, or a
  // heartbeat, keeps the link alive).
  uint64_t now = now_ms();
  link.last_active_ms.store(now, std::memory_order_relaxed);
  link.pub.TickCountActive = static_cast<uint32_t>(now);
  if (!framing()) return deliver_message(link, w, data, len) ? TS_CLOSE_NONE : TS_CLOSE_BY_APP;

  struct Ctx {
    Server* server;
    Link* link;
    WorkerCtx* w;
    int32_t reason;
  } ctx{this, &link, &w, TS_CLOSE_NONE};
  auto sink = [](void* p, const uint8_t* msg, uint32_t n) -> bool {
    auto* c = static_cast<Ctx*>(p);
    if (n == 0) return true;  // a heartbeat: activity only
    if (!c->server->deliver_message(*c->link, *c->w, const_cast<uint8_t*>(msg),
                                    static_cast<int32_t>(n))) {
      c->reason = TS_CLOSE_BY_APP;
      return false;
    }
    // Closed from the callback (CloseLink, a failed send): no OnReceive after that.
    return !c->link->close_requested.load(std::memory_order_acquire) &&
           c->link->astate.load(std::memory_order_acquire) == LinkState::kOpen;
  };
  FrameDecoder::Status st = link.decoder.feed(data, static_cast<size_t>(len), sink, &ctx);
  if (st == FrameDecoder::Status::kOk || st == FrameDecoder::Status::kStopped) return ctx.reason;
  return framing_error(link, st);
}

int32_t Server::framing_error(Link& link, FrameDecoder::Status status) {
  count(TS_COUNTER_FRAMING_ERRORS);
  auto id = static_cast<unsigned long long>(link.pub.Id);
  switch (status) {
    case FrameDecoder::Status::kTooLarge:
      log(TS_LOG_INFO, "link %llu: a message header announced %u bytes, more than "
          "TS_OPT_MAX_MESSAGE_SIZE=%u; closing the link", id, link.decoder.announced(),
          link.decoder.max_message());
      return TS_CLOSE_FRAME_TOO_LARGE;
    case FrameDecoder::Status::kBadHeader:
      log(TS_LOG_INFO, "link %llu: a message header has its top bit set (0x%08x): the peer "
          "does not speak length-prefixed framing; closing the link", id, link.decoder.announced());
      return TS_CLOSE_BAD_FRAME;
    default:
      log(TS_LOG_ERROR, "link %llu: out of memory assembling a message of %u bytes; closing "
          "the link", id, link.decoder.announced());
      return TS_CLOSE_ERROR;
  }
}

int32_t Server::eof_reason(Link& link) {
  if (!framing() || !link.decoder.pending()) return TS_CLOSE_PEER_CLOSED;
  count(TS_COUNTER_FRAMING_ERRORS);
  return TS_CLOSE_FRAME_TRUNCATED;
}

bool Server::deliver_message(Link& link, WorkerCtx& w, uint8_t* data, int32_t len) {
  count(TS_COUNTER_MSGS_IN);
  // No OnReceive: the original's default, echo (a whole message, framed, with framing).
  if (!cb_.receive && !cb_.receive_ex) {
    w.count_exec();
    std::unique_lock<std::mutex> lock;
    if (!lock_open(&link, 0, lock)) return true;
    uint8_t header[kFrameHeaderSize];
    const uint32_t head = frame_overhead();
    if (head) put_frame_header(header, static_cast<uint32_t>(len));
    if (check_queue_limit_locked(link, static_cast<size_t>(len) + head))
      enqueue_copy_locked(link, header, head, data, static_cast<uint32_t>(len));
    return true;
  }
  WorkerScope scope(link, w);
  int32_t keep = 0;
  if (!guarded("OnReceive", [&] {
        keep = cb_.receive_ex ? cb_.receive_ex(context_, &link.pub, data, len)
                              : cb_.receive(&link.pub, data, len);
      }))
    return false;
  return keep != 0;
}

void Server::link_closed(Link& link, WorkerCtx& w) {
  {
    std::lock_guard<std::mutex> lock(link.mu);
    link.pub.CloseReason = link.close_reason;
    link.pub.CloseError = link.close_error;
    // GetLinkCount no longer counts it, already inside OnDisconnect.
    table_.load(std::memory_order_acquire)->mark_closed_locked(&link);
  }
  count(TS_COUNTER_CLOSED);
  WorkerScope scope(link, w);
  if (link.close_reason == TS_CLOSE_IDLE) {
    count(TS_COUNTER_IDLE_CLOSED);
    if (cb_.idle_ex) {
      guarded("OnLinkIdleOvertime", [&] { cb_.idle_ex(context_, &link.pub); });
      return;
    }
    if (cb_.idle) {
      guarded("OnLinkIdleOvertime", [&] { cb_.idle(&link.pub); });
      return;
    }
  }
  if (cb_.disconnect_ex) guarded("OnDisconnect", [&] { cb_.disconnect_ex(context_, &link.pub); });
  else if (cb_.disconnect) guarded("OnDisconnect", [&] { cb_.disconnect(&link.pub); });
}

void Server::release_link(Link& link) {
  link.decoder.reset(link.decoder.max_message());  // a message cut short frees its buffer
  link.app_paused.store(false, std::memory_order_relaxed);
  table_.load(std::memory_order_acquire)->release(&link);
}

void Server::thread_begin(WorkerCtx& w, bool is_worker) {
  t_engine_server = this;
  w.os_id.store(os_thread_id());
  w.pub.ID = w.os_id.load();
  w.pub.IsWorkerThread = is_worker ? 1 : 0;
  {
    std::lock_guard<std::mutex> lock(ready_mu_);
    ++threads_ready_;
    ready_cv_.notify_all();
  }
  TOnThreadCreate create = is_worker ? cb_.worker_thread_create : cb_.server_thread_create;
  TOnThreadCreateEx create_ex =
      is_worker ? cb_.worker_thread_create_ex : cb_.server_thread_create_ex;
  if (create || create_ex)
    guarded(is_worker ? "OnWorkerThreadCreate" : "OnServerThreadCreate", [&] {
      w.pub.Data = create_ex ? create_ex(context_, is_worker ? 1 : 0) : create(is_worker ? 1 : 0);
    });
}

void Server::thread_end(WorkerCtx& w, bool is_worker) {
  if (cb_.thread_exit_ex)
    guarded("OnThreadExit", [&] { cb_.thread_exit_ex(context_, is_worker ? 1 : 0, w.pub.Data); });
  else if (cb_.thread_exit)
    guarded("OnThreadExit", [&] { cb_.thread_exit(is_worker ? 1 : 0, w.pub.Data); });
  t_engine_server = nullptr;
}

bool Server::idle_request_still_due(Link& link) const {
  auto timeout = static_cast<uint64_t>(running_opts_[TS_OPT_IDLE_TIMEOUT_MS]);
  return timeout != 0 && now_ms() - link.last_active_ms.load(std::memory_order_relaxed) >= timeout;
}

// ------------------------------------------------------------------------------------------
// Service thread: idle timeouts (the original's "server thread")
// ------------------------------------------------------------------------------------------

void Server::service_loop() {
  thread_begin(service_ctx_, false);
  constexpr auto kPeriod = std::chrono::milliseconds(100);
  std::unique_lock<std::mutex> lock(service_mu_);
  while (!service_cv_.wait_for(lock, kPeriod, [this] { return service_stop_; })) {
    lock.unlock();
    uint64_t t0 = now_us();
    if (running_opts_[TS_OPT_IDLE_TIMEOUT_MS] > 0) scan_idle(now_ms());
    service_exec_ms_.store(static_cast<uint32_t>((now_us() - t0) / 1000), std::memory_order_relaxed);
    service_exec_count_.fetch_add(1, std::memory_order_relaxed);
    lock.lock();
  }
  lock.unlock();
  thread_end(service_ctx_, false);
  lock.lock();
  service_done_ = true;
  service_cv_.notify_all();
}

void Server::scan_idle(uint64_t now) {
  auto timeout = static_cast<uint64_t>(running_opts_[TS_OPT_IDLE_TIMEOUT_MS]);
  LinkTable* table = table_.load(std::memory_order_acquire);
  for (uint32_t slot = 0; slot < table->high_water(); ++slot) {
    Link& link = table->at(slot);
    LinkState st = link.astate.load(std::memory_order_acquire);
    if (st != LinkState::kOpen && st != LinkState::kClosing) continue;
    if (now - link.last_active_ms.load(std::memory_order_relaxed) < timeout) continue;
    if (link.idle_requested.exchange(true, std::memory_order_acq_rel)) continue;
    backend_->request_close(link, link.id.load(std::memory_order_acquire), TS_CLOSE_IDLE, true);
  }
}

}  // namespace ts
