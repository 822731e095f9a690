// The engine's view of a connection (a "link"). TcpLink, the public record, comes first, so the
// PLink an application holds is the address of a Link. Owned by the LinkTable (one per slot,
// reused); the fields say which thread may touch them. A backend keeps what only it needs in
// the link's backend area (backend_state<T>()), never here.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <type_traits>

#include "core/framing.h"
#include "core/send_queue.h"
#include "platform/socket.h"
#include "tcpserver.h"

namespace ts {

struct WorkerCtx;
class Transport;
class ProxyHeaderParser;

enum class LinkState : uint8_t {
  kFree,         // in the free list
  kHandshaking,  // its transport (TLS) is setting up: read, but not a link for the app yet
  kOpen,         // serving: reads, sends
  kClosing,  // closed by the app (or peer EOF) with sends pending: flushing, no more reads
  kClosed,   // socket closed; OnDisconnect runs, then the slot is freed
};

// Ids carry their slot in the low bits, so lookup by id is an index plus a compare; the high
// bits come from a process-wide sequence, so an id is never reused.
constexpr int kSlotBits = 24;
constexpr uint32_t kMaxLinks = (1u << kSlotBits) - 1;

// Why a link is held (Link::hold): it is not read until every reason is gone.
enum : uint8_t {
  kHeldByApp = 1,        // PauseReceive
  kHeldByHighWater = 2,  // its send queue reached TS_OPT_SEND_HIGH_WATER
};

// Room for a backend's per-link state (epoll: two flags; IOCP: a pointer).
constexpr size_t kBackendAreaSize = 16;

struct Link {
  TcpLink pub{};

  // `mu` guards sock, queue, the close fields and every change of `state`. Sends from any
  // thread take it; the owning worker takes it to flush and to close.
  std::mutex mu;
  // Written under `mu`; read anywhere (enumeration, broadcast and the idle scan look without
  // the lock, then check again under it).
  std::atomic<LinkState> state{LinkState::kFree};
  socket_t sock = kNoSocket;
  SendQueue queue;
  int32_t close_reason = TS_CLOSE_NONE;
  int32_t close_error = 0;
  bool counted_open = false;  // LinkTable::mark_open_locked ran, mark_closed_locked not yet
  // The transport stage between the backend and the core (core/transport.h); nullptr is the
  // plain pass-through, which costs one predictable branch. Set before the link opens.
  Transport* transport = nullptr;
  // TS_OPT_PROXY_PROTOCOL: the balancer's header is still being read (owner thread; freed once
  // it is complete). Until then the connection is not a link for the application.
  ProxyHeaderParser* proxy = nullptr;

  // Readable without `mu` (idle scan, id lookup, flow control); written under it.
  std::atomic<uint64_t> id{0};
  std::atomic<uint64_t> last_active_ms{0};
  // The service thread asked the owner to close it (idle, or a message that stopped growing);
  // the owner checks again, and clears this if the link spoke since.
  std::atomic<bool> scan_requested{false};
  std::atomic<bool> close_requested{false};  // CloseLink seen: stop delivering data
  // kHeldBy* bits: the owner reads nothing while any is set (set and cleared under `mu`).
  std::atomic<uint8_t> hold{0};
  // Framing: a message has begun and is not complete (written by the owner after each read).
  std::atomic<bool> message_pending{false};
  // The pool ran low: reading waits for buffers to come back (written by the owner only).
  std::atomic<bool> paused_by_pool{false};

  // Set before the link becomes visible (kOpen), read by threads that post to the owner.
  std::atomic<WorkerCtx*> owner{nullptr};
  // When its handshake began (TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS); 0 when not in one.
  std::atomic<uint64_t> handshake_started_ms{0};

  // Owner-thread only.
  uint32_t slot = 0;
  bool visible = false;          // OnConnect accepted it: its OnDisconnect is due
  size_t transport_charged = 0;  // what the memory budget holds for its transport (under mu)
  // The remote address as TS_OPT_MAX_LINKS_PER_ADDRESS counts it (core/admission.h); family 0:
  // not counted. Set at accept, given back as the link closes (close_link; release_link for a
  // connection that never got that far).
  uint64_t address_key = 0;
  uint8_t address_family = 0;
  FrameDecoder decoder;  // TS_FRAMING_LENGTH_PREFIXED: holds a buffer only mid-message

  void set_state(LinkState s) { state.store(s, std::memory_order_release); }
  LinkState state_now() const { return state.load(std::memory_order_acquire); }
  bool open() const { return state_now() == LinkState::kOpen; }
  // Open, or still in its handshake: the socket is read.
  bool reading() const {
    LinkState s = state_now();
    return s == LinkState::kOpen || s == LinkState::kHandshaking;
  }
  // Open, or closing with sends still to flush: the socket is still the link's.
  bool live() const {
    LinkState s = state_now();
    return s == LinkState::kOpen || s == LinkState::kClosing || s == LinkState::kHandshaking;
  }

  // The backend's own per-link state, constructed by the backend when it takes the link
  // (make_backend_state) and valid until the link is released.
  template <typename T>
  T& backend_state() {
    static_assert(sizeof(T) <= kBackendAreaSize && alignof(T) <= alignof(std::max_align_t),
                  "grow kBackendAreaSize");
    return *std::launder(reinterpret_cast<T*>(backend_area_));
  }
  template <typename T>
  T& make_backend_state() {
    static_assert(std::is_trivially_destructible<T>::value, "released without a destructor");
    static_assert(sizeof(T) <= kBackendAreaSize && alignof(T) <= alignof(std::max_align_t),
                  "grow kBackendAreaSize");
    return *new (backend_area_) T{};
  }

 private:
  alignas(std::max_align_t) unsigned char backend_area_[kBackendAreaSize] = {};
};

}  // namespace ts
