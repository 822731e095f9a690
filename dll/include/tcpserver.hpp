// tcpserver.hpp — a header-only C++17 face of tcpserver.h: tcpserver::server owns one engine
// server of the handle family (CreateTcpServer ... DestroyTcpServer), takes any callable as a
// handler, stops and destroys itself when it goes out of scope, and hands handlers a
// tcpserver::link (a view of TcpLink) and a tcpserver::bytes_view (pointer + length;
// std::span<const std::uint8_t> when compiled as C++20).
//
//   tcpserver::server server;
//   server.on_receive([](tcpserver::link link, tcpserver::bytes_view data) {
//     link.send(data);                      // echo; return false (or nothing) as below
//   });
//   server.start("127.0.0.1", 7000);        // throws tcpserver::error
//
// Threads: handlers run on engine threads, the handlers of one link never at the same time
// (tcpserver.h's guarantees). A server object is used from one thread at a time (the one that
// starts, stops and destroys it); send(), close(), broadcast() and the statistics are safe from
// any thread. Nothing here crosses the C ABI but plain C types: a handler's exception is caught
// in this header, written to the library's log, and closes the link (refuses it in on_connect).
#ifndef TCPSERVER_HPP
#define TCPSERVER_HPP

#include "tcpserver.h"

#if !defined(__cplusplus) || ((defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201703L)
#error "tcpserver.hpp needs C++17 or later (e.g. -std=c++17, /std:c++17); C code uses tcpserver.h"
#endif

#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) >= 202002L && __has_include(<span>)
#include <span>
#define TCPSERVER_HPP_SPAN 1
#endif

namespace tcpserver {

// ---- Byte views ------------------------------------------------------------------------------

#ifdef TCPSERVER_HPP_SPAN
// Received data and data to send: a pointer and a length, never a copy.
using bytes_view = std::span<const std::uint8_t>;
#else
// Received data and data to send: a pointer and a length, never a copy (the subset of
// std::span<const std::uint8_t> that C++17 code needs; C++20 gets std::span itself).
class bytes_view {
 public:
  using element_type = const std::uint8_t;
  using value_type = std::uint8_t;
  using size_type = std::size_t;
  using pointer = const std::uint8_t*;
  using iterator = const std::uint8_t*;

  constexpr bytes_view() noexcept = default;
  constexpr bytes_view(const std::uint8_t* data, std::size_t size) noexcept
      : data_(data), size_(size) {}
  // Any contiguous container of bytes: std::vector<uint8_t>, std::array<uint8_t, N>, ...
  template <class C, class = std::enable_if_t<std::is_convertible_v<
                         decltype(std::declval<const C&>().data()), const std::uint8_t*>>>
  constexpr bytes_view(const C& container) noexcept
      : data_(container.data()), size_(container.size()) {}

  constexpr const std::uint8_t* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr std::size_t size_bytes() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr const std::uint8_t* begin() const noexcept { return data_; }
  constexpr const std::uint8_t* end() const noexcept { return data_ + size_; }
  constexpr const std::uint8_t& operator[](std::size_t i) const noexcept { return data_[i]; }
  constexpr bytes_view first(std::size_t n) const noexcept { return {data_, n}; }
  constexpr bytes_view subspan(std::size_t offset) const noexcept {
    return {data_ + offset, size_ - offset};
  }
  constexpr bytes_view subspan(std::size_t offset, std::size_t n) const noexcept {
    return {data_ + offset, n};
  }

 private:
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};
#endif

// Text as bytes (the view does not own it).
inline bytes_view as_bytes(std::string_view text) noexcept {
  return bytes_view(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}
// Bytes as text, e.g. to compare a received message with a string.
inline std::string_view as_text(bytes_view data) noexcept {
  return std::string_view(reinterpret_cast<const char*>(data.data()), data.size());
}

// ---- Errors ----------------------------------------------------------------------------------

// A call the library refused: code() is its TS_ERR_* code, what() its text.
class error : public std::runtime_error {
 public:
  error(std::int32_t code, const std::string& text) : std::runtime_error(text), code_(code) {}
  std::int32_t code() const noexcept { return code_; }

  // The calling thread's last library error, prefixed with what was being done.
  static error last(const char* doing) {
    const char* text = GetLastErrorText();
    return error(GetLastErrorCode(), std::string(doing) + ": " + (text ? text : "unknown error"));
  }

 private:
  std::int32_t code_;
};

namespace detail {

inline int32_t checked_length(std::size_t size) {
  if (size > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw std::length_error("tcpserver: one send takes at most 2^31-1 bytes; split the data");
  }
  return static_cast<std::int32_t>(size);
}

}  // namespace detail

// ---- A link ----------------------------------------------------------------------------------

// A view of one connection, valid only during the handler it was given to (the engine recycles
// the record afterwards): keep id() instead, and use server::send / server::close with it.
class link {
 public:
  explicit link(TcpLink* raw) noexcept : raw_(raw) {}

  std::uint64_t id() const noexcept { return raw_->Id; }
  std::string_view remote_ip() const noexcept { return raw_->RemoteIP; }
  std::uint32_t remote_port() const noexcept { return raw_->RemotePort; }
  // TS_CLOSE_* (tcpserver.h), set before on_disconnect / on_idle.
  std::int32_t close_reason() const noexcept { return raw_->CloseReason; }
  std::int32_t close_error() const noexcept { return raw_->CloseError; }
  std::string_view close_reason_text() const noexcept {
    return GetCloseReasonText(raw_->CloseReason);
  }
  // The application's pointer for this link (TcpLink.Data), nullptr for a new link.
  void* data() const noexcept { return raw_->Data; }
  void set_data(void* data) noexcept { raw_->Data = data; }

  // Copies and queues the bytes (any length). False: nothing was queued (the link is closing,
  // or its send-queue limit would be passed); GetLastErrorText() says why.
  bool send(bytes_view data) const {
    return data.empty() || SendBuffer(raw_, data.data(), detail::checked_length(data.size())) != 0;
  }
  bool send(std::string_view text) const { return send(as_bytes(text)); }
  // Closes the link after its queued sends (abort: drops them and resets the connection).
  bool close(bool abort = false) const {
    return CloseLinkEx(raw_, abort ? TS_CLOSE_FLAG_ABORT : 0) != 0;
  }
  bool pause_receive() const { return PauseReceive(raw_) != 0; }
  bool resume_receive() const { return ResumeReceive(raw_) != 0; }
  std::int64_t send_queue_bytes() const { return GetSendQueueBytes(raw_); }

  TcpLink* raw() const noexcept { return raw_; }

 private:
  TcpLink* raw_;
};

namespace detail {

// A move-only type-erased callable (std::function needs copyable ones): handlers may own
// unique_ptrs, sockets, anything.
template <class Signature>
class handler;

template <class R, class... Args>
class handler<R(Args...)> {
 public:
  handler() = default;
  template <class F>
  explicit handler(F&& f) : impl_(new model<std::decay_t<F>>(std::forward<F>(f))) {}
  explicit operator bool() const noexcept { return impl_ != nullptr; }
  R operator()(Args... args) const { return impl_->call(std::forward<Args>(args)...); }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    virtual R call(Args... args) = 0;
  };
  template <class F>
  struct model final : concept_t {
    explicit model(F&& f) : fn(std::move(f)) {}
    explicit model(const F& f) : fn(f) {}
    R call(Args... args) override { return invoke_as<R>(fn, std::forward<Args>(args)...); }
    F fn;
  };
  // A handler returning void keeps the link (accepts it): bool-returning ones decide.
  template <class Result, class F, class... A>
  static Result invoke_as(F& f, A&&... args) {
    if constexpr (std::is_void_v<Result>) {
      f(std::forward<A>(args)...);
    } else if constexpr (std::is_void_v<decltype(f(std::forward<A>(args)...))>) {
      f(std::forward<A>(args)...);
      return Result(true);
    } else {
      return static_cast<Result>(f(std::forward<A>(args)...));
    }
  }
  std::unique_ptr<concept_t> impl_;
};

// What the engine's callbacks reach through their Context: it stays at one address while the
// server object that owns it moves.
struct state {
  handler<bool(link, bytes_view)> receive;
  handler<bool(link)> connect;
  handler<void(link)> disconnect;
  handler<void(link)> idle;
};

inline void log_handler_exception(const char* which, TcpLink* raw) noexcept {
  try {
    std::string text = std::string("tcpserver.hpp: the ") + which + " handler threw";
    try {
      throw;
    } catch (const std::exception& e) {
      text += ": ";
      text += e.what();
    } catch (...) {
      text += " a non-std exception";
    }
    if (raw) text += " (link " + std::to_string(raw->Id) + "); the link is closed";
    WriteLog(text.c_str());
  } catch (...) {
    // Out of memory while reporting: nothing more can be said.
  }
}

inline int32_t TS_CALL on_receive(void* context, TcpLink* raw, uint8_t* buf, int32_t len) {
  try {
    return static_cast<state*>(context)->receive(
               link(raw), bytes_view(buf, static_cast<std::size_t>(len)))
               ? 1
               : 0;
  } catch (...) {
    log_handler_exception("on_receive", raw);
    return 0;
  }
}
inline int32_t TS_CALL on_connect(void* context, TcpLink* raw) {
  try {
    return static_cast<state*>(context)->connect(link(raw)) ? 1 : 0;
  } catch (...) {
    log_handler_exception("on_connect", raw);
    return 0;
  }
}
inline void TS_CALL on_disconnect(void* context, TcpLink* raw) {
  try {
    static_cast<state*>(context)->disconnect(link(raw));
  } catch (...) {
    log_handler_exception("on_disconnect", raw);
  }
}
inline void TS_CALL on_idle(void* context, TcpLink* raw) {
  try {
    static_cast<state*>(context)->idle(link(raw));
  } catch (...) {
    log_handler_exception("on_idle", raw);
  }
}

}  // namespace detail

// ---- The server ------------------------------------------------------------------------------

// One engine server (CreateTcpServer): its own options, links, IO pool, threads and counters.
// Move-only; destroying it stops it (waiting for every handler) and frees the engine server.
class server {
 public:
  server() : state_(new detail::state) {
    handle_ = CreateTcpServer(state_.get());
    if (!handle_) throw error::last("CreateTcpServer");
  }
  ~server() { reset(); }
  server(server&& other) noexcept
      : state_(std::move(other.state_)), handle_(std::exchange(other.handle_, nullptr)) {}
  server& operator=(server&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::move(other.state_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Handlers, set before start(). Any callable: a lambda (also a move-only one), a function,
  // a functor. Results: bool decides (false closes the link / refuses it), void keeps it.
  //   on_receive(f):    f(link, bytes_view); the view is valid during the call only. Without
  //                     it the engine echoes.
  //   on_connect(f):    f(link), before the link's first on_receive.
  //   on_disconnect(f): f(link), once per link; link.close_reason() says why.
  //   on_idle(f):       f(link), instead of on_disconnect for a link closed as idle.
  template <class F>
  server& on_receive(F&& f) {
    not_running("on_receive");
    state_->receive = detail::handler<bool(link, bytes_view)>(std::forward<F>(f));
    return *this;
  }
  template <class F>
  server& on_connect(F&& f) {
    not_running("on_connect");
    state_->connect = detail::handler<bool(link)>(std::forward<F>(f));
    return *this;
  }
  template <class F>
  server& on_disconnect(F&& f) {
    not_running("on_disconnect");
    state_->disconnect = detail::handler<void(link)>(std::forward<F>(f));
    return *this;
  }
  template <class F>
  server& on_idle(F&& f) {
    not_running("on_idle");
    state_->idle = detail::handler<void(link)>(std::forward<F>(f));
    return *this;
  }

  // TS_OPT_* (tcpserver.h), applied at the next start.
  server& set_option(std::int32_t option, std::int64_t value) {
    if (!TcpServerSetOption(live(), option, value)) throw error::last("TcpServerSetOption");
    return *this;
  }
  std::int64_t option(std::int32_t option) const {
    std::int64_t value = TcpServerGetOption(live(), option);
    if (value == -1 && GetLastErrorCode() != TS_OK) throw error::last("TcpServerGetOption");
    return value;
  }

  // Binds ip ("" = every interface) and port (0 = any, see port()) and starts serving.
  void start(const std::string& ip, std::uint32_t port) {
    if (active()) throw error(TS_ERR_ALREADY_ACTIVE, "TcpServerStart: the server is running");
    detail::state& s = *state_;
    if (!TcpServerSetEventProc(live(), s.receive ? detail::on_receive : nullptr,
                               s.disconnect ? detail::on_disconnect : nullptr,
                               s.idle ? detail::on_idle : nullptr, nullptr, nullptr) ||
        !TcpServerSetConnectProc(handle_, s.connect ? detail::on_connect : nullptr)) {
      throw error::last("tcpserver: setting the handlers");
    }
    if (!TcpServerStart(handle_, ip.c_str(), port)) throw error::last("TcpServerStart");
  }
  // Stops: closes every link (each gets on_disconnect) and waits for every handler, at most
  // timeout_ms (-1 = as long as it takes). False: still finishing (call again), or called from
  // one of this server's own handlers (TS_ERR_IN_CALLBACK).
  bool stop(std::int32_t timeout_ms = -1) noexcept {
    return handle_ == nullptr || TcpServerStop(handle_, timeout_ms) != 0;
  }
  bool active() const noexcept { return handle_ != nullptr && TcpServerIsActive(handle_) == 1; }
  std::uint32_t port() const noexcept { return handle_ ? TcpServerGetPort(handle_) : 0; }

  // By link id: safe from any thread at any time, for links of any server.
  bool send(std::uint64_t link_id, bytes_view data) const {
    return data.empty() ||
           SendBufferById(link_id, data.data(), detail::checked_length(data.size())) != 0;
  }
  bool send(std::uint64_t link_id, std::string_view text) const {
    return send(link_id, as_bytes(text));
  }
  bool close(std::uint64_t link_id, bool abort = false) const noexcept {
    return CloseLinkByIdEx(link_id, abort ? TS_CLOSE_FLAG_ABORT : 0) != 0;
  }
  // To every open link of this server but except_id (0: none); returns how many.
  std::int32_t broadcast(bytes_view data, std::uint64_t except_id = 0) const {
    std::int32_t n = TcpServerPostBroadcast(live(), data.data(),
                                            detail::checked_length(data.size()), except_id);
    if (n < 0) throw error::last("TcpServerPostBroadcast");
    return n;
  }
  std::int32_t broadcast(std::string_view text, std::uint64_t except_id = 0) const {
    return broadcast(as_bytes(text), except_id);
  }
  // The ids of this server's open links.
  std::vector<std::uint64_t> link_ids() const {
    std::vector<std::uint64_t> ids(64);
    for (;;) {
      std::int32_t n = TcpServerGetLinkIds(live(), ids.data(), static_cast<int32_t>(ids.size()));
      if (n < 0) throw error::last("TcpServerGetLinkIds");
      if (static_cast<std::size_t>(n) <= ids.size()) {
        ids.resize(static_cast<std::size_t>(n));
        return ids;
      }
      ids.resize(static_cast<std::size_t>(n) + 64);  // links arrived meanwhile: room to spare
    }
  }

  std::int32_t link_count() const noexcept { return handle_ ? TcpServerGetLinkCount(handle_) : 0; }
  // A TS_COUNTER_* total of this server.
  std::int64_t counter(std::int32_t which) const noexcept {
    return handle_ ? TcpServerGetCounter(handle_, which) : -1;
  }

  // The engine server, for the C calls not wrapped here; nullptr after a move.
  TcpServerHandle* handle() const noexcept { return handle_; }

 private:
  TcpServerHandle* live() const {
    if (!handle_) throw std::logic_error("tcpserver::server: used after being moved from");
    return handle_;
  }
  void not_running(const char* what) const {
    if (active()) {
      throw std::logic_error(std::string("tcpserver::server::") + what +
                             ": the server is running; stop() it before changing handlers");
    }
  }
  void reset() noexcept {
    if (!handle_) return;
    // Stops first (waits for every handler), then frees. From inside one of this server's own
    // handlers both fail with TS_ERR_IN_CALLBACK: the engine server and the handlers are then
    // left alive rather than freed under a running handler.
    if (DestroyTcpServer(handle_)) {
      handle_ = nullptr;
      state_.reset();
    } else {
      std::string text = std::string("tcpserver::server destroyed without stopping: ") +
                         GetLastErrorText();
      WriteLog(text.c_str());
      handle_ = nullptr;
      (void)state_.release();  // still reachable by the engine's callbacks: must not be freed
    }
  }

  std::unique_ptr<detail::state> state_;
  TcpServerHandle* handle_ = nullptr;
};

}  // namespace tcpserver

#endif  // TCPSERVER_HPP
