// The engine's view of a connection. TcpLink (the public record) comes first, so the PLink an
// application holds is the address of a Link.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>

#include "core/framing.h"
#include "core/send_queue.h"
#include "tcpserver.h"

namespace ts {

#if defined(_WIN32)
using socket_t = uintptr_t;
constexpr socket_t kNoSocket = ~static_cast<uintptr_t>(0);
#else
using socket_t = int;
constexpr socket_t kNoSocket = -1;
#endif

struct WorkerCtx;

enum class LinkState : uint8_t {
  kFree,     // in the free list
  kOpen,     // serving: reads, sends
  kClosing,  // closed by the app (or peer EOF) with sends pending: flushing, no more reads
  kClosed,   // socket closed; OnDisconnect runs, then the slot is freed
};

// Ids carry their slot in the low bits, so lookup by id is an index plus a compare; the high
// bits come from a process-wide sequence, so an id is never reused.
constexpr int kSlotBits = 24;
constexpr uint32_t kMaxLinks = (1u << kSlotBits) - 1;

struct Link {
  TcpLink pub{};

  // `mu` guards state, sock (for writing), queue and the close fields. Sends from any thread
  // take it; the owning worker takes it to flush and to close.
  std::mutex mu;
  LinkState state = LinkState::kFree;
  socket_t sock = kNoSocket;
  SendQueue queue;
  int32_t close_reason = TS_CLOSE_NONE;
  int32_t close_error = 0;
  bool write_armed = false;  // epoll: EPOLLOUT is watched, because something is queued
  bool counted_closed = false;  // LinkTable::mark_closed_locked ran; cleared on release

  // Readable without `mu` (idle scan, id lookup); written under it.
  std::atomic<uint64_t> id{0};
  std::atomic<LinkState> astate{LinkState::kFree};
  std::atomic<uint64_t> last_active_ms{0};
  std::atomic<bool> idle_requested{false};
  std::atomic<bool> close_requested{false};  // CloseLink seen: stop delivering data
  // PauseReceive: the owner reads nothing until ResumeReceive (separate from read_paused,
  // the pool's backpressure, so neither resumes a link the other paused).
  std::atomic<bool> app_paused{false};

  // Set before the link becomes visible (kOpen), read by threads that post to the owner.
  std::atomic<WorkerCtx*> owner{nullptr};
  // Owner-thread only.
  bool read_paused = false;  // waiting for pool buffers (backpressure)
  bool peer_hung_up = false; // the backend saw FIN/RST/error: read until EOF, not just EAGAIN
  uint32_t slot = 0;
  void* backend = nullptr;   // backend's per-link state (IOCP overlapped records)
  FrameDecoder decoder;      // TS_FRAMING_LENGTH_PREFIXED: holds a buffer only mid-message

  void set_state(LinkState s) {
    state = s;
    astate.store(s, std::memory_order_release);
  }
};

}  // namespace ts
