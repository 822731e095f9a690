// What a link has still to send: a FIFO of SendItems. An item points either into a pool buffer
// (PostSend, SendBuffer) or into a reference-counted block shared by many links (PostBroadcast,
// and SendBuffer when the pool is short), so a broadcast copies its data once.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/memory_budget.h"

namespace ts {

class IoPool;
struct IoBuf;

// Heap block shared by every link that sends it; freed by the last release.
struct SharedBlock {
  std::atomic<int32_t> refs;
  uint32_t size;
  uint8_t* data() { return reinterpret_cast<uint8_t*>(this + 1); }

  // refs = 1; nullptr if no memory. With src NULL the caller fills data().
  static SharedBlock* create(const void* src, uint32_t size);
  void ref() { refs.fetch_add(1, std::memory_order_relaxed); }
  void unref();
};

struct SendItem {
  SendItem* next = nullptr;
  const uint8_t* data = nullptr;  // first unsent byte
  uint32_t left = 0;              // unsent bytes from data
  IoBuf* buf = nullptr;           // owning pool buffer (the item lives in its header), or
  SharedBlock* block = nullptr;   // owning shared block (the item is heap-allocated)

  // A heap item over `block` (takes one reference); nullptr if out of memory.
  static SendItem* for_block(SharedBlock* block, const uint8_t* data, uint32_t len);
};

// Gives an item's memory back (pool buffer to its pool, block reference, heap item).
void release_item(IoPool& pool, SendItem* item);

// The bytes queued are charged to the server's memory budget (set_budget) as they are pushed
// and released as they are written or taken away.
class SendQueue {
 public:
  void set_budget(MemoryBudget* budget) { budget_ = budget; }  // while empty
  bool empty() const { return head_ == nullptr; }
  size_t bytes() const { return bytes_; }
  SendItem* front() const { return head_; }
  // Queues `item` unless its bytes would pass the budget: then false, and nothing changed.
  bool push(SendItem* item);
  // Queues `item` and charges its bytes even past the budget (a write going out now, which a
  // batching backend sends with its batch: Backend::deferred_write_max).
  void push_charged_anyway(SendItem* item);
  // Marks n bytes of the front item as sent; pops and returns it when it is done, else nullptr.
  SendItem* consume_front(size_t n);
  // Unlinks everything (for release outside the link's lock).
  SendItem* take_all();

 private:
  void append(SendItem* item);
  SendItem* head_ = nullptr;
  SendItem* tail_ = nullptr;
  size_t bytes_ = 0;
  MemoryBudget* budget_ = nullptr;
};

}  // namespace ts
