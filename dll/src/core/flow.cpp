// Server: flow control (PauseReceive / ResumeReceive, send-queue sizes) and enumeration
// (GetLinkIds). Any thread.
#include "core/errors.h"
#include "core/server.h"

namespace ts {

bool Server::do_set_receive_paused(Link* link, uint64_t id, bool paused) {
  std::unique_lock<std::mutex> lock;
  if (!lock_open(link, id, lock)) return false;
  // The owner checks the hold before every read; only a resume needs it to act (it may be
  // waiting for an edge that already came), and reads only if nothing else holds the link.
  if (paused) link->hold.fetch_or(kHeldByApp, std::memory_order_acq_rel);
  else if (link->hold.fetch_and(static_cast<uint8_t>(~kHeldByApp), std::memory_order_acq_rel) &
           kHeldByApp)
    backend_->resume_reading(*link, link->pub.Id);
  return true;
}

bool Server::set_receive_paused(const TcpLink* p, bool paused) {
  Link* link = link_from(p);
  return link && do_set_receive_paused(link, 0, paused);
}

bool Server::set_receive_paused_by_id(uint64_t id, bool paused) {
  Link* link = link_by_id(id);
  return link && do_set_receive_paused(link, id, paused);
}

int64_t Server::do_send_queue_bytes(Link* link, uint64_t id) {
  std::lock_guard<std::mutex> lock(link->mu);
  // A closing link is still flushing: its queue is still worth knowing.
  if ((id != 0 && link->pub.Id != id) ||
      (link->state != LinkState::kOpen && link->state != LinkState::kClosing))
    return fail(TS_ERR_LINK_CLOSED, "link %llu is closed",
                static_cast<unsigned long long>(id ? id : link->pub.Id)), -1;
  return static_cast<int64_t>(link->queue.bytes());
}

int64_t Server::send_queue_bytes(const TcpLink* p) {
  Link* link = link_from(p);
  return link ? do_send_queue_bytes(link, 0) : -1;
}

int64_t Server::send_queue_bytes_by_id(uint64_t id) {
  Link* link = link_by_id(id);
  return link ? do_send_queue_bytes(link, id) : -1;
}

int32_t Server::link_ids(uint64_t* ids, int32_t capacity) {
  if (capacity < 0)
    return fail(TS_ERR_INVALID_ARGUMENT, "GetLinkIds: capacity %d is negative", capacity), -1;
  if (!ids && capacity > 0)
    return fail(TS_ERR_INVALID_ARGUMENT, "GetLinkIds: Ids is NULL but Capacity is %d", capacity), -1;
  if (state_.load(std::memory_order_acquire) == State::kStopped) return 0;
  LinkTable* table = table_.load(std::memory_order_acquire);
  int32_t count = 0;
  for (uint32_t slot = 0; table && slot < table->size(); ++slot) {
    Link& link = table->at(slot);
    // A slot's id changes only when it is acquired again, before it opens: the same id on
    // both sides of an open state means that link was open in between.
    uint64_t id = link.id.load(std::memory_order_acquire);
    if (!link.open()) continue;
    if (link.id.load(std::memory_order_acquire) != id || id == 0) continue;
    if (count < capacity) ids[count] = id;
    ++count;
  }
  return count;
}

}  // namespace ts
