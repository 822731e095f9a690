// The link table: every Link of a server, preallocated, with a free list and the id sequence.
// Any thread (acquire: a worker accepting; release: the link's owner; lookups: anyone).
#include "core/link_table.h"

#include "platform/clock.h"

namespace ts {
namespace {
std::atomic<uint64_t> g_id_sequence{1};  // process-wide: ids never repeat, across servers too
}

LinkTable::LinkTable(uint32_t size) : size_(size), links_(new Link[size]) {
  free_.reserve(size);
  for (uint32_t i = size; i-- > 0;) {
    links_[i].slot = i;
    free_.push_back(i);
  }
}

Link* LinkTable::acquire() {
  Link* link;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return nullptr;
    link = &links_[free_.back()];
    free_.pop_back();
    if (link->slot >= high_water_.load(std::memory_order_relaxed))
      high_water_.store(link->slot + 1, std::memory_order_release);
  }
  in_use_.fetch_add(1, std::memory_order_relaxed);
  uint64_t id = (g_id_sequence.fetch_add(1, std::memory_order_relaxed) << kSlotBits) | link->slot;
  std::lock_guard<std::mutex> lock(link->mu);
  TcpLink& pub = link->pub;
  pub = TcpLink{};
  pub.Id = id;
  pub.TickCountActive = tick32();
  link->close_reason = TS_CLOSE_NONE;
  link->close_error = 0;
  link->paused_by_pool.store(false, std::memory_order_relaxed);
  link->hold.store(0, std::memory_order_relaxed);
  link->message_pending.store(false, std::memory_order_relaxed);
  link->address_key = 0;
  link->address_family = 0;
  link->transport = nullptr;
  link->proxy = nullptr;
  link->visible = false;
  link->transport_charged = 0;
  link->handshake_started_ms.store(0, std::memory_order_relaxed);
  link->owner.store(nullptr, std::memory_order_relaxed);
  link->scan_requested.store(false, std::memory_order_relaxed);
  link->close_requested.store(false, std::memory_order_relaxed);
  link->last_active_ms.store(now_ms(), std::memory_order_relaxed);
  link->id.store(id, std::memory_order_release);
  return link;
}

void LinkTable::mark_open_locked(Link* link) {
  if (link->counted_open) return;
  link->counted_open = true;
  open_.fetch_add(1, std::memory_order_relaxed);
}

void LinkTable::mark_closed_locked(Link* link) {
  if (!link->counted_open) return;
  link->counted_open = false;
  open_.fetch_sub(1, std::memory_order_relaxed);
}

void LinkTable::release(Link* link) {
  bool was_counted;
  {
    std::lock_guard<std::mutex> lock(link->mu);
    was_counted = link->counted_open;  // never: closing marks it first
    link->counted_open = false;
    link->set_state(LinkState::kFree);
    link->sock = kNoSocket;
    link->owner.store(nullptr, std::memory_order_relaxed);
  }
  // Uncounted first, listed free second: acquire() takes a listed slot before it counts it, so
  // in this order in_use_ never counts more links than slots are off the free list (never more
  // than size()), and GetLinkFree never goes negative while links churn.
  in_use_.fetch_sub(1, std::memory_order_relaxed);
  if (was_counted) open_.fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(link->slot);
}

Link* LinkTable::from_public(const TcpLink* p) const {
  auto addr = reinterpret_cast<uintptr_t>(p);
  auto lo = reinterpret_cast<uintptr_t>(links_.get());
  uintptr_t hi = lo + sizeof(Link) * size_;
  if (addr < lo || addr >= hi || (addr - lo) % sizeof(Link) != 0) return nullptr;
  return reinterpret_cast<Link*>(addr);
}

Link* LinkTable::by_id(uint64_t id) const {
  uint64_t slot = id & kMaxLinks;
  if (id == 0 || slot >= size_) return nullptr;
  Link* link = &links_[slot];
  if (link->id.load(std::memory_order_acquire) != id ||
      link->state_now() == LinkState::kFree)
    return nullptr;
  return link;
}

}  // namespace ts
