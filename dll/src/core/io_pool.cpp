// The IO buffer pool (see io_pool.h): handing buffers out and taking them back under one lock,
// validating application pointers, and waking readers paused on a low pool. Any thread.
#include "core/io_pool.h"

#include <cstdlib>
#include <new>

#include "core/errors.h"
#include "tcpserver.h"

namespace ts {

IoPool::IoPool(uint32_t buffer_size, uint32_t count)
    : size_(buffer_size), count_(count),
      stride_(static_cast<uint32_t>(IoBuf::kHeaderSize + ((buffer_size + 63u) & ~63u))) {
  // calloc of a large block maps zero pages lazily: buffers cost memory once they are used.
  base_ = static_cast<uint8_t*>(std::calloc(count_, stride_));
  if (base_) {
    free_list_.reserve(count_);
    free_.store(count_, std::memory_order_relaxed);
  }
}

IoPool::~IoPool() { std::free(base_); }

IoBuf* IoPool::get(BufState as) {
  IoBuf* buf;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_list_.empty()) {
      buf = at(free_list_.back());
      free_list_.pop_back();
    } else if (uint32_t fresh = next_fresh_.load(std::memory_order_relaxed); fresh < count_) {
      buf = new (at(fresh)) IoBuf{};
      next_fresh_.store(fresh + 1, std::memory_order_release);
    } else {
      return nullptr;
    }
    free_.fetch_sub(1, std::memory_order_relaxed);
  }
  buf->state.store(static_cast<uint32_t>(as), std::memory_order_release);
  buf->item = SendItem{};
  buf->item.buf = buf;
  return buf;
}

void IoPool::put(IoBuf* buf) {
  buf->state.store(static_cast<uint32_t>(BufState::kFree), std::memory_order_release);
  uint32_t index = static_cast<uint32_t>((reinterpret_cast<uint8_t*>(buf) - base_) / stride_);
  uint32_t now_free;
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_list_.push_back(index);
    now_free = free_.fetch_add(1, std::memory_order_seq_cst) + 1;  // seq_cst: see low()
  }
  if (now_free > reserve_ && waiting_.load(std::memory_order_seq_cst) &&
      waiting_.exchange(false, std::memory_order_acq_rel) && on_available_) {
    on_available_();
  }
}

bool IoPool::contains(const void* mem) const {
  auto p = reinterpret_cast<uintptr_t>(mem);
  auto lo = reinterpret_cast<uintptr_t>(base_);
  uintptr_t hi = lo + static_cast<uintptr_t>(stride_) * count_;
  return p >= lo + IoBuf::kHeaderSize && p < hi && (p - lo) % stride_ == IoBuf::kHeaderSize;
}

IoBuf* IoPool::lookup(const void* mem) const {
  if (!mem) {
    fail(TS_ERR_INVALID_ARGUMENT, "the buffer pointer is NULL");
    return nullptr;
  }
  if (!contains(mem)) {
    fail(TS_ERR_NOT_A_BUFFER,
         "%p is not an IO buffer from GetIOMem (foreign memory, or a pointer into the middle of one)",
         mem);
    return nullptr;
  }
  auto index = static_cast<uint32_t>((reinterpret_cast<const uint8_t*>(mem) - base_) / stride_);
  if (index >= next_fresh_.load(std::memory_order_acquire)) {  // never handed out, so certainly not owned by the caller
    fail(TS_ERR_BUFFER_NOT_OWNED, "IO buffer %p is free (it was never taken with GetIOMem)", mem);
    return nullptr;
  }
  return at(index);
}

bool IoPool::free_app(const void* mem) {
  IoBuf* buf = lookup(mem);
  if (!buf) return false;
  uint32_t expected = static_cast<uint32_t>(BufState::kApp);
  if (!buf->state.compare_exchange_strong(expected, static_cast<uint32_t>(BufState::kFree))) {
    return fail(TS_ERR_BUFFER_NOT_OWNED,
                expected == static_cast<uint32_t>(BufState::kFree)
                    ? "IO buffer %p is already free (double FreeIOMem)"
                    : "IO buffer %p belongs to a pending send: the engine frees it after sending",
                mem);
  }
  put(buf);
  return true;
}

}  // namespace ts
