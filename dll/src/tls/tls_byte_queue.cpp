// ByteQueue: chunked byte FIFO that frees chunks as they empty (see tls_byte_queue.h).
// One owner, no locking.
#include "tls/tls_byte_queue.h"

#include <algorithm>
#include <cstring>
#include <new>

#include <openssl/crypto.h>

namespace ts {
namespace tls {

bool ByteQueue::append(const void* data, size_t n) {
  if (n == 0) return true;
  const uint8_t* src = static_cast<const uint8_t*>(data);
  // Fill the room left in the last chunk first, then one new chunk for the rest. Allocate the
  // new chunk before touching anything, so a failure appends nothing.
  size_t room = tail_ ? tail_->cap - tail_->end : 0;
  size_t first = std::min(room, n);
  size_t rest = n - first;
  Chunk* fresh = nullptr;
  if (rest > 0) {
    if (rest > UINT32_MAX - sizeof(Chunk)) return false;
    size_t cap = std::max(rest, kMinChunk - sizeof(Chunk));
    fresh = static_cast<Chunk*>(OPENSSL_malloc(sizeof(Chunk) + cap));
    if (!fresh) return false;
    fresh->next = nullptr;
    fresh->begin = 0;
    fresh->end = static_cast<uint32_t>(rest);
    fresh->cap = static_cast<uint32_t>(cap);
    std::memcpy(fresh->data(), src + first, rest);
    allocated_ += sizeof(Chunk) + cap;
  }
  if (first > 0) {
    std::memcpy(tail_->data() + tail_->end, src, first);
    tail_->end += static_cast<uint32_t>(first);
  }
  if (fresh) {
    if (tail_)
      tail_->next = fresh;
    else
      head_ = fresh;
    tail_ = fresh;
  }
  size_ += n;
  return true;
}

ByteSpan ByteQueue::front() const {
  if (!head_) return ByteSpan{nullptr, 0};
  return ByteSpan{head_->data() + head_->begin, size_t(head_->end - head_->begin)};
}

size_t ByteQueue::pieces(ByteSpan* out, size_t max) const {
  size_t i = 0;
  for (Chunk* c = head_; c && i < max; c = c->next) {
    if (c->end > c->begin) out[i++] = ByteSpan{c->data() + c->begin, size_t(c->end - c->begin)};
  }
  return i;
}

void ByteQueue::consume(size_t n) {
  n = std::min(n, size_);
  size_ -= n;
  while (head_ && n > 0) {
    size_t avail = head_->end - head_->begin;
    size_t take = std::min(avail, n);
    head_->begin += static_cast<uint32_t>(take);
    n -= take;
    if (head_->begin == head_->end) {
      // A drained chunk goes at once, even the last one: an idle link holds nothing here.
      Chunk* next = head_->next;
      allocated_ -= sizeof(Chunk) + head_->cap;
      OPENSSL_free(head_);
      head_ = next;
      if (!head_) tail_ = nullptr;
    }
  }
}

size_t ByteQueue::read(void* out, size_t n) {
  uint8_t* dst = static_cast<uint8_t*>(out);
  size_t done = 0;
  while (done < n && head_) {
    ByteSpan f = front();
    size_t take = std::min(f.size, n - done);
    std::memcpy(dst + done, f.data, take);
    done += take;
    consume(take);
  }
  return done;
}

void ByteQueue::clear() {
  while (head_) {
    Chunk* next = head_->next;
    OPENSSL_free(head_);
    head_ = next;
  }
  tail_ = nullptr;
  size_ = 0;
  allocated_ = 0;
}

}  // namespace tls
}  // namespace ts
