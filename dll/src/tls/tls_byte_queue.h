// ts::tls::ByteQueue: a FIFO of bytes kept in a chain of heap chunks, used by TlsSession for
// the ciphertext waiting to be sent and for ciphertext fed in but not yet decrypted.
//
// Why chunks and not one growing buffer: bytes already in the queue never move, so a backend
// may hand a pointer into the queue to the kernel (an overlapped WSASend, a sendmsg) and keep
// appending meanwhile; and a chunk is freed the moment its last byte is consumed, so an empty
// queue holds no memory at all (a plain OpenSSL memory BIO keeps its capacity: ~17 KiB a link).
// Chunks come from OPENSSL_malloc, so OpenSSL's memory hooks (the tests) see them too.
//
// Not thread-safe: owned by one TlsSession, used under the engine's per-link lock.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ts {
namespace tls {

// One contiguous piece of queued bytes (like struct iovec / WSABUF).
struct ByteSpan {
  const uint8_t* data;
  size_t size;
};

class ByteQueue {
 public:
  ByteQueue() = default;
  ~ByteQueue() { clear(); }
  ByteQueue(const ByteQueue&) = delete;
  ByteQueue& operator=(const ByteQueue&) = delete;

  // Appends a copy of n bytes; false (and nothing appended) if out of memory.
  bool append(const void* data, size_t n);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Bytes allocated, including the unused room of the last chunk and the chunk headers.
  size_t allocated() const { return allocated_; }

  // The first contiguous piece (nullptr/0 when empty). Stays valid, and its bytes unchanged,
  // until consume() covers them or clear(); append() never moves it.
  ByteSpan front() const;
  // Up to max pieces from the front, in order; returns how many were written.
  size_t pieces(ByteSpan* out, size_t max) const;
  // Drops n bytes from the front (n <= size()); chunks emptied are freed at once.
  void consume(size_t n);
  // Copies up to n bytes from the front into out and consumes them; returns the count.
  size_t read(void* out, size_t n);
  // Frees everything.
  void clear();

 private:
  struct Chunk {
    Chunk* next;
    uint32_t begin;  // first unconsumed byte
    uint32_t end;    // one past the last byte written
    uint32_t cap;    // bytes of data[]
    uint8_t* data() { return reinterpret_cast<uint8_t*>(this + 1); }
  };
  static constexpr size_t kMinChunk = 2048;  // room for small records (alerts, tickets) together

  Chunk* head_ = nullptr;
  Chunk* tail_ = nullptr;
  size_t size_ = 0;
  size_t allocated_ = 0;
};

}  // namespace tls
}  // namespace ts
