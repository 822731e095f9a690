// Server: lifecycle (start, stop) and configuration (callbacks, options). Application threads;
// Start and Stop refuse to run where they would wait for themselves (core/wait_graph.h). At the
// end, the test seam (start_for_tests) that tests/unit/core alone calls.
#include "core/server.h"

#include <algorithm>
#include <chrono>

#include "core/errors.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/tls_server.h"
#include "core/wait_graph.h"

namespace ts {

Server::Server(void* context) : context_(context) {}

Server::~Server() { stop(-1); }

bool Server::on_own_thread() const { return thread_server() == this; }

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
  // the last run as they were. (The backend first: on Windows it starts Winsock.)
  backend_.reset();
  std::unique_ptr<Backend> backend = make_backend(*this);
  ListenSpec spec;
  spec.ip = ip ? ip : "";
  spec.port = port;
  spec.backlog = static_cast<int>(opts_[TS_OPT_LISTEN_BACKLOG]);
  spec.reuse_addr = opts_[TS_OPT_REUSEADDR] != 0;
  spec.reuse_port = opts_[TS_OPT_REUSEPORT] != 0;
  spec.ipv6_only = opts_[TS_OPT_IPV6_ONLY] != 0;
  Listener listener;
  if (!open_listener(spec, &listener)) return false;

  if (!ensure_pool_locked()) {
    close_socket(listener.sock, false);
    return false;
  }
  if (!check_budget_options_locked()) {
    close_socket(listener.sock, false);
    return false;
  }
  auto max_links = static_cast<uint32_t>(opts_[TS_OPT_MAX_LINKS]);
  LinkTable* table = table_.load();
  if (!table || table->size() != max_links) {
    tables_.push_back(std::make_unique<LinkTable>(max_links));  // old ones stay: ids may name them
    table_.store(tables_.back().get(), std::memory_order_release);
  }
  const int workers = freeze_running_options_locked();
  if (tls_active_ && !tls().start(running_opts_)) {
    close_socket(listener.sock, false);
    tls_active_ = false;
    return false;
  }

  backend_ = std::move(backend);
  port_ = listener.port;
  {
    std::lock_guard<std::mutex> rlock(ready_mu_);
    threads_ready_ = 0;
  }
  state_.store(State::kRunning, std::memory_order_release);
  if (!backend_->start(listener.sock, listener.family, workers)) {
    state_.store(State::kStopped);
    backend_.reset();
    if (tls_active_) tls_->stop();
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
      spec.ip.empty() ? "all interfaces" : spec.ip.c_str(), port_, workers);
  return true;
}

// The options set become the running ones, with what is derived from them (start and
// start_for_tests). Returns the number of workers.
int Server::freeze_running_options_locked() {
  running_opts_ = opts_;
  link_socket_opts_.no_delay = running_opts_[TS_OPT_TCP_NODELAY] != 0;
  link_socket_opts_.keep_alive = running_opts_[TS_OPT_KEEPALIVE] != 0;
  link_socket_opts_.keep_alive_idle_s = static_cast<int>(running_opts_[TS_OPT_KEEPALIVE_IDLE_S]);
  link_socket_opts_.keep_alive_interval_s =
      static_cast<int>(running_opts_[TS_OPT_KEEPALIVE_INTERVAL_S]);
  link_socket_opts_.keep_alive_count = static_cast<int>(running_opts_[TS_OPT_KEEPALIVE_COUNT]);
  queue_limit_ = static_cast<uint64_t>(running_opts_[TS_OPT_SEND_QUEUE_LIMIT]);
  high_water_ = static_cast<uint64_t>(running_opts_[TS_OPT_SEND_HIGH_WATER]);
  links_per_address_ = static_cast<uint32_t>(running_opts_[TS_OPT_MAX_LINKS_PER_ADDRESS]);
  budget_.set_limit(static_cast<uint64_t>(running_opts_[TS_OPT_MEMORY_BUDGET]));
  accept_rate_.set_rate(static_cast<uint32_t>(running_opts_[TS_OPT_ACCEPT_RATE]));
  proxy_protocol_ = running_opts_[TS_OPT_PROXY_PROTOCOL] != 0;
  tls_active_ = running_opts_[TS_OPT_TLS] != 0;

  int workers = static_cast<int>(opts_[TS_OPT_WORKER_THREADS]);
  if (workers == 0) workers = default_worker_count();
  // Each worker can take one buffer in a callback while readers are paused.
  pool_->set_reserve(static_cast<uint32_t>(std::min<int64_t>(workers, pool_->count() / 2)));
  return workers;
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
  if (tls_active_) tls_->stop();  // no handshake can start any more
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  state_.store(State::kStopped, std::memory_order_release);
  if (pool_ && pool_->free_count() != pool_->count())
    log(TS_LOG_INFO, "server stopped; the application still holds %u IO buffers",
        pool_->count() - pool_->free_count());
  return true;
}

// A per-link limit above the whole budget would let one link take it all, or break a setting
// that worked before the budget existed: refuse to start, saying what to change.
bool Server::check_budget_options_locked() const {
  const int64_t budget = opts_[TS_OPT_MEMORY_BUDGET];
  if (budget == 0) return true;
  // (A queue limit of 0, "no limit per link", is bounded by the budget itself.)
  const int64_t queue = opts_[TS_OPT_SEND_QUEUE_LIMIT];
  if (queue > budget)
    return fail(TS_ERR_OPTION_RANGE,
                "TS_OPT_SEND_QUEUE_LIMIT=%lld lets one link queue more than "
                "TS_OPT_MEMORY_BUDGET=%lld bytes for the whole server: lower the limit, raise "
                "the budget, or set TS_OPT_MEMORY_BUDGET=0 for no budget",
                static_cast<long long>(queue), static_cast<long long>(budget));
  const int64_t message = opts_[TS_OPT_MAX_MESSAGE_SIZE];
  if (opts_[TS_OPT_FRAMING] == TS_FRAMING_LENGTH_PREFIXED && message > budget)
    return fail(TS_ERR_OPTION_RANGE,
                "TS_OPT_MAX_MESSAGE_SIZE=%lld is larger than TS_OPT_MEMORY_BUDGET=%lld: such a "
                "message could never be assembled; lower it, raise the budget, or set "
                "TS_OPT_MEMORY_BUDGET=0 for no budget",
                static_cast<long long>(message), static_cast<long long>(budget));
  return true;
}

int32_t Server::drain(int timeout_ms) {
  if (timeout_ms < 0)
    return fail(TS_ERR_INVALID_ARGUMENT, "drain: timeout %d ms must be 0 or more", timeout_ms), -1;
  {
    WaitEdge edge(this);
    if (!edge.ok()) return edge.fail_in_callback("DrainTcpServer / TcpServerDrain"), -1;
    std::lock_guard<std::mutex> stop_lock(stop_mu_);
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (state_.load() != State::kRunning)
      return fail(TS_ERR_NOT_ACTIVE, "drain: the server is not running"), -1;
    backend_->stop_accepting();  // new connections are refused by the OS from here
    log(TS_LOG_INFO, "draining: no new connections; waiting up to %d ms for %d links to close",
        timeout_ms, link_count());
  }
  // Bounded: the deadline, checked every few milliseconds (links close on their own threads).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto left_open = [this] {
    LinkTable* t = table_.load(std::memory_order_acquire);
    return t ? static_cast<int32_t>(t->open_count()) : 0;
  };
  while (left_open() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int32_t closed_at_deadline = left_open();
  if (closed_at_deadline > 0)
    log(TS_LOG_WARN, "drain: %d links still open after %d ms; closing them (TS_CLOSE_SERVER_STOP)",
        closed_at_deadline, timeout_ms);
  if (!stop(-1)) return -1;
  return closed_at_deadline;
}

uint32_t Server::port() const {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  return state_.load() == State::kRunning && backend_ ? port_ : 0;
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
// Test seam: tests/unit/core only (see server.h)
// ------------------------------------------------------------------------------------------

bool Server::start_for_tests(std::unique_ptr<Backend> backend) {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_.load() != State::kStopped) return refuse_while_running("start_for_tests");
  if (!ensure_pool_locked() || !check_budget_options_locked()) return false;
  tables_.push_back(std::make_unique<LinkTable>(static_cast<uint32_t>(opts_[TS_OPT_MAX_LINKS])));
  table_.store(tables_.back().get(), std::memory_order_release);
  freeze_running_options_locked();
  backend_ = std::move(backend);
  state_.store(State::kRunning, std::memory_order_release);
  return true;
}

}  // namespace ts
