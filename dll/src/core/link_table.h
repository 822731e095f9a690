// Every Link a server can have, preallocated (TS_OPT_MAX_LINKS), with a free list. Any thread:
// see each method.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/link.h"

namespace ts {

class LinkTable {
 public:
  explicit LinkTable(uint32_t size);
  LinkTable(const LinkTable&) = delete;
  LinkTable& operator=(const LinkTable&) = delete;

  // A free link with a fresh id, or nullptr when all are in use. It stays invisible (kFree) until
  // Server::link_opened makes it kOpen on its worker.
  Link* acquire();
  // Back to the free list (state kFree). Only after its last callback returned.
  void release(Link* link);

  // The link `p` points to, or nullptr if `p` is not the start of one of ours.
  Link* from_public(const TcpLink* p) const;
  // The link with this id if it is still that link (any state but kFree), else nullptr.
  Link* by_id(uint64_t id) const;

  uint32_t size() const { return size_; }
  // Every slot ever handed out is below this (slots go out lowest first and come back LIFO), so
  // scans over open links (broadcast, idle) stop here instead of at TS_OPT_MAX_LINKS.
  uint32_t high_water() const { return high_water_.load(std::memory_order_acquire); }
  uint32_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  // Called with link->mu held as the link becomes kOpen (a link for the application: at once
  // without TLS, after its handshake with TLS): from then on it is counted as open.
  void mark_open_locked(Link* link);
  // Called with link->mu held as the link closes, before OnDisconnect: from then on it is not
  // counted as open, though its slot returns to the free list only after the backend's event
  // batch (a stale event of that batch may still name it).
  void mark_closed_locked(Link* link);
  // Links opened and not yet closed: one counter, so a reading while many connections come and
  // go (handshakes among them) is never off by more than what changes during the load.
  uint32_t open_count() const { return open_.load(std::memory_order_relaxed); }
  Link& at(uint32_t slot) { return links_[slot]; }
  size_t bytes() const { return sizeof(Link) * size_; }

 private:
  uint32_t size_;
  std::unique_ptr<Link[]> links_;
  std::mutex mu_;
  std::vector<uint32_t> free_;  // LIFO
  std::atomic<uint32_t> in_use_{0};
  std::atomic<uint32_t> open_{0};  // marked open, not yet marked closed
  std::atomic<uint32_t> high_water_{0};
};

}  // namespace ts
