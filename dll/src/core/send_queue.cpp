// A link's send queue (send_queue.h): push (charged to the memory budget), consume what was
// written, release. Owns nothing beyond the items queued. Called with the link's lock held.
#include "core/send_queue.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/io_pool.h"

namespace ts {

SharedBlock* SharedBlock::create(const void* src, uint32_t size) {
  void* mem = std::malloc(sizeof(SharedBlock) + size);
  if (!mem) return nullptr;
  auto* b = new (mem) SharedBlock;
  b->refs.store(1, std::memory_order_relaxed);
  b->size = size;
  if (src && size) std::memcpy(b->data(), src, size);
  return b;
}

void SharedBlock::unref() {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    this->~SharedBlock();
    std::free(this);
  }
}

SendItem* SendItem::for_block(SharedBlock* block, const uint8_t* data, uint32_t len) {
  auto* item = new (std::nothrow) SendItem;
  if (!item) return nullptr;
  block->ref();
  item->block = block;
  item->data = data;
  item->left = len;
  return item;
}

void release_item(IoPool& pool, SendItem* item) {
  if (item->buf) {
    pool.put(item->buf);
  } else {
    item->block->unref();
    delete item;
  }
}

bool SendQueue::push(SendItem* item) {
  if (budget_ && !budget_->try_charge(item->left)) return false;
  append(item);
  return true;
}

void SendQueue::push_charged_anyway(SendItem* item) {
  if (budget_) budget_->charge(item->left);
  append(item);
}

void SendQueue::append(SendItem* item) {
  item->next = nullptr;
  if (tail_) tail_->next = item; else head_ = item;
  tail_ = item;
  bytes_ += item->left;
}

SendItem* SendQueue::consume_front(size_t n) {
  SendItem* item = head_;
  item->data += n;
  item->left -= static_cast<uint32_t>(n);
  bytes_ -= n;
  if (budget_) budget_->release(n);
  if (item->left != 0) return nullptr;
  head_ = item->next;
  if (!head_) tail_ = nullptr;
  return item;
}

SendItem* SendQueue::take_all() {
  SendItem* all = head_;
  head_ = tail_ = nullptr;
  if (budget_) budget_->release(bytes_);
  bytes_ = 0;
  return all;
}

}  // namespace ts
