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

#if defined(_WIN32)
#include <windows.h>
#else
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ts {
namespace {

// Set on every engine thread: Stop from there would wait for itself.
thread_local const Server* t_engine_server = nullptr;

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
    w.exec_count.fetch_add(1, std::memory_order_relaxed);
  }
  ~WorkerScope() { pub.Worker = nullptr; }
};

}  // namespace

Server::Server() = default;

Server::~Server() { stop(-1); }

bool Server::calling_from_engine_thread() const { return t_engine_server != nullptr; }

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
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  State st = state_.load();
  if (st == State::kRunning) return fail(TS_ERR_ALREADY_ACTIVE, "the server is already running");
  if (st == State::kStopping)
    return fail(TS_ERR_ALREADY_ACTIVE,
                "the server is still stopping; call StopTcpServer until it returns 1, then start");

  if (!ensure_pool_locked()) return false;
  auto max_links = static_cast<uint32_t>(opts_[TS_OPT_MAX_LINKS]);
  LinkTable* table = table_.load();
  if (!table || table->size() != max_links) {
    tables_.push_back(std::make_unique<LinkTable>(max_links));  // old ones stay: ids may name them
    table_.store(tables_.back().get(), std::memory_order_release);
  }
  running_opts_ = opts_;
  set_log_level(static_cast<int32_t>(opts_[TS_OPT_LOG_LEVEL]));

  int workers = static_cast<int>(opts_[TS_OPT_WORKER_THREADS]);
  if (workers == 0) workers = default_worker_count();
  // Each worker can take one buffer in a callback while readers are paused.
  pool_->set_reserve(static_cast<uint32_t>(std::min<int64_t>(workers, pool_->count() / 2)));

  backend_.reset();
  std::unique_ptr<Backend> backend = make_backend(*this);
  ListenSpec spec;
  spec.ip = ip ? ip : "";
  spec.port = port;
  spec.backlog = static_cast<int>(opts_[TS_OPT_LISTEN_BACKLOG]);
  spec.reuse_addr = opts_[TS_OPT_REUSEADDR] != 0;
  spec.reuse_port = opts_[TS_OPT_REUSEPORT] != 0;
  if (!backend->listen(spec)) return false;

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
  if (calling_from_engine_thread())
    return fail(TS_ERR_IN_CALLBACK,
                "StopTcpServer was called from a callback (an engine thread); it would wait for "
                "itself. Call it from another thread");
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
  TOnConnect connect = cb_.connect;
  TOnThreadExit thread_exit = cb_.thread_exit;
  cb_ = cb;
  cb_.connect = connect;
  cb_.thread_exit = thread_exit;
  return true;
}

bool Server::set_connect(TOnConnect fn) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_.load() != State::kStopped) return refuse_while_running("SetConnectProc");
  cb_.connect = fn;
  return true;
}

bool Server::set_thread_exit(TOnThreadExit fn) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_.load() != State::kStopped) return refuse_while_running("SetThreadExitProc");
  cb_.thread_exit = fn;
  return true;
}

bool Server::set_option(int32_t id, int64_t value) {
  const OptionSpec* spec = option_spec(id);
  if (!spec) return fail(TS_ERR_UNKNOWN_OPTION, "unknown option %d", id);
  if (value < spec->min || value > spec->max) {
    if (id == TS_OPT_FRAMING)
      return fail(TS_ERR_NOT_SUPPORTED,
                  "TS_OPT_FRAMING=%lld: only TS_FRAMING_RAW is available in this version",
                  static_cast<long long>(value));
    return fail(TS_ERR_OPTION_RANGE, "%s=%lld is out of range (%lld..%lld)", spec->name,
                static_cast<long long>(value), static_cast<long long>(spec->min),
                static_cast<long long>(spec->max));
  }
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (id == TS_OPT_LOG_LEVEL) {  // the one option that applies at once
    opts_.v[id] = value;
    set_log_level(static_cast<int32_t>(value));
    return true;
  }
  if (state_.load() != State::kStopped) return refuse_while_running(spec->name);
  opts_.v[id] = value;
  return true;
}

int64_t Server::option(int32_t id) const {
  if (!option_spec(id)) {
    fail(TS_ERR_UNKNOWN_OPTION, "unknown option %d", id);
    return -1;
  }
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

bool Server::enqueue_copy_locked(Link& link, const uint8_t* data, uint32_t len) {
  int err = 0;
  size_t done = backend_->write_now_locked(link, data, len, &err);
  if (err) return true;  // broken: the link is being closed and will report why
  data += done;
  uint32_t left = len - static_cast<uint32_t>(done);
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
      std::memcpy(buf->data(), data, n);
      buf->item.data = buf->data();
      buf->item.left = n;
      send_item_locked(link, &buf->item);
      data += n;
      left -= n;
    }
    if (left == 0) return true;
  }
  SharedBlock* block = SharedBlock::create(data, left);
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
    if (!pool) fail(TS_ERR_NOT_A_BUFFER, "PostSend: %p is not an IO buffer from GetIOMem", mem);
    return false;
  }
  if (len <= 0 || static_cast<uint32_t>(len) > pool->buffer_size())
    return fail(TS_ERR_BAD_LENGTH, "PostSend: length %d is outside 1..%u (the IO buffer size)", len,
                pool->buffer_size());
  std::unique_lock<std::mutex> lock;
  if (!lock_open(link, id, lock)) return false;
  if (!check_queue_limit_locked(*link, static_cast<size_t>(len))) return false;
  uint32_t expected = static_cast<uint32_t>(BufState::kApp);
  if (!buf->state.compare_exchange_strong(expected, static_cast<uint32_t>(BufState::kQueued)))
    return fail(TS_ERR_BUFFER_NOT_OWNED,
                "PostSend: IO buffer %p is not yours to send (already freed, or already sent)",
                mem);
  buf->item.next = nullptr;
  buf->item.data = buf->data();
  buf->item.left = static_cast<uint32_t>(len);
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
  if (!check_queue_limit_locked(*link, static_cast<size_t>(len))) return false;
  return enqueue_copy_locked(*link, static_cast<const uint8_t*>(buf), static_cast<uint32_t>(len));
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

int32_t Server::broadcast(const void* buf, int32_t len) {
  if (!buf) return fail(TS_ERR_INVALID_ARGUMENT, "PostBroadcast: the data pointer is NULL"), -1;
  if (len <= 0) return fail(TS_ERR_BAD_LENGTH, "PostBroadcast: length %d must be at least 1", len), -1;
  if (state_.load(std::memory_order_acquire) != State::kRunning)
    return fail(TS_ERR_NOT_ACTIVE, "PostBroadcast: the server is not running"), -1;
  LinkTable* table = table_.load(std::memory_order_acquire);
  SharedBlock* block = SharedBlock::create(buf, static_cast<uint32_t>(len));
  if (!block) return fail(TS_ERR_OUT_OF_MEMORY, "PostBroadcast: out of memory for %d bytes", len), -1;
  int32_t reached = 0;
  for (uint32_t slot = 0; slot < table->high_water(); ++slot) {
    Link& link = table->at(slot);
    if (link.astate.load(std::memory_order_acquire) != LinkState::kOpen) continue;
    std::lock_guard<std::mutex> lock(link.mu);
    if (link.state != LinkState::kOpen) continue;
    if (!check_queue_limit_locked(link, static_cast<size_t>(len))) continue;
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
// Statistics
// ------------------------------------------------------------------------------------------

int32_t Server::link_count() const {
  LinkTable* t = table_.load(std::memory_order_acquire);
  return t ? static_cast<int32_t>(t->in_use()) : 0;
}

int32_t Server::link_free() const {
  LinkTable* t = table_.load(std::memory_order_acquire);
  if (t) return static_cast<int32_t>(t->size() - t->in_use());
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return static_cast<int32_t>(opts_[TS_OPT_MAX_LINKS]);
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
  {
    std::lock_guard<std::mutex> lock(link.mu);
    link.set_state(LinkState::kOpen);  // visible from here: sends, broadcasts, ids, idle scan
  }
  bool accepted = true;
  if (cb_.connect) {
    WorkerScope scope(link, w);
    int32_t r = 0;
    accepted = guarded("OnConnect", [&] { r = cb_.connect(&link.pub); }) && r != 0;
  }
  count(accepted ? TS_COUNTER_ACCEPTS : TS_COUNTER_REFUSED);
  return accepted;
}

bool Server::deliver(Link& link, WorkerCtx& w, uint8_t* data, int32_t len) {
  count(TS_COUNTER_MSGS_IN);
  count(TS_COUNTER_BYTES_IN, len);
  uint64_t now = now_ms();
  link.last_active_ms.store(now, std::memory_order_relaxed);
  link.pub.TickCountActive = static_cast<uint32_t>(now);
  if (!cb_.receive) {  // the original's default: echo
    w.exec_count.fetch_add(1, std::memory_order_relaxed);
    std::unique_lock<std::mutex> lock;
    if (!lock_open(&link, 0, lock)) return true;
    if (check_queue_limit_locked(link, static_cast<size_t>(len)))
      enqueue_copy_locked(link, data, static_cast<uint32_t>(len));
    return true;
  }
  WorkerScope scope(link, w);
  int32_t keep = 0;
  if (!guarded("OnReceive", [&] { keep = cb_.receive(&link.pub, data, len); })) return false;
  return keep != 0;
}

void Server::link_closed(Link& link, WorkerCtx& w) {
  {
    std::lock_guard<std::mutex> lock(link.mu);
    link.pub.CloseReason = link.close_reason;
    link.pub.CloseError = link.close_error;
  }
  count(TS_COUNTER_CLOSED);
  WorkerScope scope(link, w);
  if (link.close_reason == TS_CLOSE_IDLE) {
    count(TS_COUNTER_IDLE_CLOSED);
    if (cb_.idle) {
      guarded("OnLinkIdleOvertime", [&] { cb_.idle(&link.pub); });
      return;
    }
  }
  if (cb_.disconnect) guarded("OnDisconnect", [&] { cb_.disconnect(&link.pub); });
}

void Server::release_link(Link& link) { table_.load(std::memory_order_acquire)->release(&link); }

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
  if (create)
    guarded(is_worker ? "OnWorkerThreadCreate" : "OnServerThreadCreate",
            [&] { w.pub.Data = create(is_worker ? 1 : 0); });
}

void Server::thread_end(WorkerCtx& w, bool is_worker) {
  if (cb_.thread_exit)
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

Server& default_server() {
  // Never destroyed: worker threads of a server the application did not stop may still run
  // while the process exits.
  static Server* server = new Server;
  return *server;
}

}  // namespace ts
