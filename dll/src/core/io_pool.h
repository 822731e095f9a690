// The IO buffer pool behind GetIOMem/FreeIOMem: `count` buffers of `size` bytes in one
// allocation, each preceded by a small header. Pointers are validated by address arithmetic
// (never dereferenced before they are known to be ours), and each buffer's owner is an atomic
// state, so a foreign pointer, a double free or freeing a buffer that is being sent is an error
// instead of memory corruption. Untouched buffers are never written, so a large pool costs
// address space, not resident memory, until it is used.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "core/framing.h"
#include "core/send_queue.h"

namespace ts {

enum class BufState : uint32_t { kFree = 0, kApp = 1, kQueued = 2 };

struct IoBuf {
  SendItem item;  // used while the buffer is queued for sending
  std::atomic<uint32_t> state;
  uint8_t* data() { return reinterpret_cast<uint8_t*>(this) + kHeaderSize; }
  // With framing, PostSend writes the message header into the last bytes of the buffer's own
  // header, right before data(): header and payload then go out as one contiguous item, with
  // no allocation and no extra queue entry per send.
  uint8_t* frame_header() { return data() - kFrameHeaderSize; }
  static constexpr size_t kHeaderSize = 64;
};
static_assert(sizeof(IoBuf) + kFrameHeaderSize <= IoBuf::kHeaderSize,
              "IoBuf header grew into the frame header slot");

class IoPool {
 public:
  IoPool(uint32_t buffer_size, uint32_t count);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;
  bool ok() const { return base_ != nullptr; }

  // A buffer in state `as` (kApp for GetIOMem, kQueued for the engine's own sends), or nullptr.
  IoBuf* get(BufState as);
  // Returns a buffer to the free list (any state); wakes readers paused on an empty pool.
  void put(IoBuf* buf);

  // Whether `mem` is the data of one of this pool's buffers (no error set).
  bool contains(const void* mem) const;
  // The buffer whose data starts at `mem`, or nullptr (error set) if `mem` is not one.
  IoBuf* lookup(const void* mem) const;
  // FreeIOMem: only a buffer the application owns (state kApp) can be freed.
  bool free_app(const void* mem);

  uint32_t buffer_size() const { return size_; }
  uint32_t count() const { return count_; }
  uint32_t free_count() const { return free_.load(std::memory_order_relaxed); }
  size_t bytes() const { return static_cast<size_t>(stride_) * count_; }

  // Readers pause while free buffers are at or below the reserve; `on_available` runs (on the
  // freeing thread, outside the pool's lock) when a buffer returns while someone waits.
  //
  // No lost wake-up: a reader parks its link, calls mark_waiting(), then looks at low() again
  // (Server::wait_for_pool); put() raises the free count, then looks at the waiting flag. These
  // four accesses are sequentially consistent, so at least one side sees the other's write:
  // either the reader's second look sees the buffer, or the put sees the waiter and wakes it.
  // With weaker orders both could miss (store-load reordering, which x86 does), leaving the
  // link parked while the pool has buffers. (On x86 a seq_cst load is a plain load: the read
  // gate's low() costs nothing more.)
  void set_reserve(uint32_t reserve) { reserve_ = reserve; }
  bool low() const { return free_.load(std::memory_order_seq_cst) <= reserve_; }
  void mark_waiting() { waiting_.store(true, std::memory_order_seq_cst); }
  void set_on_available(std::function<void()> fn) { on_available_ = std::move(fn); }

 private:
  IoBuf* at(uint32_t index) const {
    return reinterpret_cast<IoBuf*>(base_ + static_cast<size_t>(index) * stride_);
  }

  uint8_t* base_ = nullptr;
  uint32_t size_;
  uint32_t count_;
  uint32_t stride_;
  std::mutex mu_;
  std::vector<uint32_t> free_list_;  // freed indices (LIFO keeps hot buffers in cache)
  std::atomic<uint32_t> next_fresh_{0};  // buffers at or above this index were never handed out
  std::atomic<uint32_t> free_{0};
  uint32_t reserve_ = 0;
  std::atomic<bool> waiting_{false};
  std::function<void()> on_available_;
};

}  // namespace ts
