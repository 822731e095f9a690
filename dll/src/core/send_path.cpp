// Server: the send path (PostSend, SendBuffer, broadcasts, which all may write to the socket at
// once), closes the application asks for, and the lookups of links and buffers they need. Any
// thread: every change to a link happens under its mutex.
#include <algorithm>
#include <cstring>

#include "core/errors.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/server.h"
#include "core/transport.h"

namespace ts {

void* Server::get_io_mem() {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  if (!pool) {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (!ensure_pool_locked()) return nullptr;
    pool = pool_.get();
  }
  IoBuf* buf = pool->get(BufState::kApp);
  if (!buf) {
    fail(TS_ERR_POOL_EXHAUSTED,
         "the IO pool is exhausted (%u buffers in use); free buffers or raise "
         "TS_OPT_IO_BUFFER_COUNT",
         pool->count());
    return nullptr;
  }
  return buf->data();
}

bool Server::free_io_mem(void* mem) {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  if (!mem) return fail(TS_ERR_INVALID_ARGUMENT, "FreeIOMem: the buffer pointer is NULL");
  if (!pool) return fail(TS_ERR_NOT_A_BUFFER, "FreeIOMem: %p is not an IO buffer (no pool yet)", mem);
  return pool->free_app(mem);
}

bool Server::owns_link(const TcpLink* p) const {
  LinkTable* table = table_.load(std::memory_order_acquire);
  return table && table->from_public(p);
}

bool Server::has_link_id(uint64_t id) const {
  LinkTable* table = table_.load(std::memory_order_acquire);
  return table && table->by_id(id);
}

bool Server::owns_buffer(const void* mem) const {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  return pool && pool->contains(mem);
}

Link* Server::link_from(const TcpLink* p) {
  if (!p) {
    fail(TS_ERR_INVALID_ARGUMENT, "the link pointer is NULL");
    return nullptr;
  }
  LinkTable* table = table_.load(std::memory_order_acquire);
  Link* link = table ? table->from_public(p) : nullptr;
  if (!link) fail(TS_ERR_NOT_A_LINK, "%p is not a link of this server", static_cast<const void*>(p));
  return link;
}

Link* Server::link_by_id(uint64_t id) {
  if (state_.load(std::memory_order_acquire) == State::kStopped) {
    fail(TS_ERR_NOT_ACTIVE, "the server is not running");
    return nullptr;
  }
  LinkTable* table = table_.load(std::memory_order_acquire);
  Link* link = table ? table->by_id(id) : nullptr;
  if (!link)
    fail(TS_ERR_LINK_CLOSED, "no open link has id %llu (closed, or never existed)",
         static_cast<unsigned long long>(id));
  return link;
}

bool Server::refuse_closed(Link* link, uint64_t id, std::unique_lock<std::mutex>& lock) {
  lock.unlock();
  return fail(TS_ERR_LINK_CLOSED, "link %llu is closed or closing",
              static_cast<unsigned long long>(id ? id : link->pub.Id));
}

bool Server::refuse_over_queue_limit_locked(Link& link, size_t len) {
  const uint64_t limit = queue_limit_;
  count(TS_COUNTER_SEND_QUEUE_DROPS);
  if (running_opts_[TS_OPT_SEND_QUEUE_POLICY] == TS_QUEUE_CLOSE_LINK) {
    request_close(link, link.pub.Id, TS_CLOSE_SEND_QUEUE_FULL, true);
    return fail(TS_ERR_SEND_QUEUE_FULL,
                "link %llu: %zu bytes already queued, the send would exceed "
                "TS_OPT_SEND_QUEUE_LIMIT=%llu; the link is being closed",
                static_cast<unsigned long long>(link.pub.Id), link.queue.bytes(),
                static_cast<unsigned long long>(limit));
  }
  return fail(TS_ERR_SEND_QUEUE_FULL,
              "link %llu: %zu bytes already queued, the send would exceed "
              "TS_OPT_SEND_QUEUE_LIMIT=%llu; try again when the peer has read",
              static_cast<unsigned long long>(link.pub.Id), link.queue.bytes(),
              static_cast<unsigned long long>(limit));
}

bool Server::refuse_over_budget_locked(Link& link, size_t len) {
  count(TS_COUNTER_BUDGET_REFUSALS);
  const auto id = static_cast<unsigned long long>(link.pub.Id);
  const auto used = static_cast<unsigned long long>(budget_.used());
  const auto limit = static_cast<unsigned long long>(budget_.limit());
  if (running_opts_[TS_OPT_SEND_QUEUE_POLICY] == TS_QUEUE_CLOSE_LINK) {
    request_close(link, link.pub.Id, TS_CLOSE_MEMORY_BUDGET, true);
    return fail(TS_ERR_MEMORY_BUDGET,
                "link %llu: the server holds %llu bytes for its links and %zu more would exceed "
                "TS_OPT_MEMORY_BUDGET=%llu; the link is being closed",
                id, used, len, limit);
  }
  return fail(TS_ERR_MEMORY_BUDGET,
              "link %llu: the server holds %llu bytes for its links and %zu more would exceed "
              "TS_OPT_MEMORY_BUDGET=%llu; try again when peers have read",
              id, used, len, limit);
}

void Server::hold_for_high_water_locked(Link& link) {
  if (link.hold.fetch_or(kHeldByHighWater, std::memory_order_acq_rel) & kHeldByHighWater) return;
  count(TS_COUNTER_HIGH_WATER_PAUSES);
  count(TS_COUNTER_LINKS_HELD);
}

void Server::send_item_locked(Link& link, SendItem* item) {
  if (!link.queue.empty()) return queue_unsent_locked(link, item, false);
  int err = 0;
  size_t n = write_now_locked(link, item->data, item->left, &err);
  // A broken connection is being closed and will tell the application why (OnDisconnect).
  if (err || n == item->left) {
    release_item(*pool_, item);
    return;
  }
  item->data += n;
  item->left -= static_cast<uint32_t>(n);
  queue_unsent_locked(link, item, n == 0);
}

void Server::queue_unsent_locked(Link& link, SendItem* item, bool nothing_written) {
  if (nothing_written && link.queue.empty() && item->left <= backend_->deferred_write_max()) {
    // Deferred to the backend's batch: going out now, like a write the socket took.
    link.queue.push_charged_anyway(item);
    if (int e = backend_->queued_locked(link)) write_failed_locked(link, e);
    return;
  }
  // The socket is full (or earlier data waits): the backend flushes the queue in order. What is
  // queued must fit the memory budget; a send that already went out in part cannot be taken
  // back, so its link is closed instead (check_queue_limit_locked refused the others).
  if (!link.queue.push(item)) {
    count(TS_COUNTER_BUDGET_REFUSALS);
    log(TS_LOG_WARN, "link %llu: queueing %u more bytes would exceed TS_OPT_MEMORY_BUDGET=%llu "
        "(%llu in use); closing the link", static_cast<unsigned long long>(link.pub.Id),
        item->left, static_cast<unsigned long long>(budget_.limit()),
        static_cast<unsigned long long>(budget_.used()));
    release_item(*pool_, item);
    request_close(link, link.pub.Id, TS_CLOSE_MEMORY_BUDGET, true);
    return;
  }
  if (high_water_ != 0 && link.queue.bytes() >= high_water_) hold_for_high_water_locked(link);
  if (int err = backend_->queued_locked(link)) write_failed_locked(link, err);
}

void Server::send_items_locked(Link& link, SendItem* chain) {
  while (chain) {
    SendItem* next = chain->next;
    chain->next = nullptr;
    send_item_locked(link, chain);
    chain = next;
  }
}

bool Server::seal_locked(Link& link, const ConstBuf* parts, int parts_count) {
  size_t sealed = 0;
  for (int i = 0; i < parts_count; ++i) {
    if (parts[i].len && !link.transport->seal(parts[i].data, parts[i].len)) {
      request_close(link, link.pub.Id, TS_CLOSE_ERROR, true);
      return fail(TS_ERR_OUT_OF_MEMORY, "out of memory sealing %zu bytes for link %llu; the link "
                  "is being closed", parts[i].len, static_cast<unsigned long long>(link.pub.Id));
    }
    sealed += parts[i].len;
  }
  // The application's bytes out (count_written skips the wire bytes of a transport).
  count(TS_COUNTER_BYTES_OUT, static_cast<int64_t>(sealed));
  count(TS_COUNTER_MSGS_OUT, 1);
  send_items_locked(link, link.transport->take_output());
  return true;
}

namespace {
// The bytes of up to two pieces (frame header, payload) not yet written, copied out in order.
struct Pieces {
  ConstBuf part[2];
  uint32_t left() const { return static_cast<uint32_t>(part[0].len + part[1].len); }
  void skip(size_t n) {
    for (ConstBuf& p : part) {
      size_t k = std::min(n, p.len);
      p.data += k;
      p.len -= k;
      n -= k;
    }
  }
  void copy_out(uint8_t* dst, uint32_t n) {  // n <= left()
    size_t first = std::min<size_t>(n, part[0].len);
    if (first) std::memcpy(dst, part[0].data, first);
    if (n > first) std::memcpy(dst + first, part[1].data, n - first);
    skip(n);
  }
};
}  // namespace

bool Server::enqueue_copy_locked(Link& link, const uint8_t* head, uint32_t head_len,
                                 const uint8_t* data, uint32_t len) {
  Pieces src{{{head, head_len}, {data, len}}};
  if (link.transport) return seal_locked(link, src.part, 2);
  int err = 0;
  size_t done = head_len ? write_now_locked(link, src.part, 2, &err)
                         : write_now_locked(link, data, len, &err);
  if (err) return true;  // broken: the link is being closed and will report why
  src.skip(done);
  uint32_t left = src.left();
  if (left == 0) return true;

  IoPool& pool = *pool_;
  uint32_t size = pool.buffer_size();
  uint32_t needed = (left + size - 1) / size;
  // Chain pool buffers while that leaves the readers' reserve; otherwise one heap block.
  if (pool.free_count() > needed + 4 * pool.count() / 100 + 1 && !pool.low()) {
    while (left > 0) {
      IoBuf* buf = pool.get(BufState::kQueued);
      if (!buf) break;  // raced with other takers: the rest goes into a block
      uint32_t n = std::min(left, size);
      src.copy_out(buf->data(), n);
      buf->item.data = buf->data();
      buf->item.left = n;
      queue_unsent_locked(link, &buf->item, done == 0);  // the socket was just asked
      left -= n;
    }
    if (left == 0) return true;
  }
  SharedBlock* block = SharedBlock::create(nullptr, left);
  if (block) src.copy_out(block->data(), left);
  SendItem* item = block ? SendItem::for_block(block, block->data(), left) : nullptr;
  if (block) block->unref();  // the item holds the only reference now
  if (!item) {
    request_close(link, link.pub.Id, TS_CLOSE_ERROR, true);
    return fail(TS_ERR_OUT_OF_MEMORY, "out of memory queueing %u bytes; the link is being closed",
                left);
  }
  queue_unsent_locked(link, item, done == 0);
  return true;
}

bool Server::do_post_send(Link* link, uint64_t id, void* mem, int32_t len) {
  IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
  if (!mem) return fail(TS_ERR_INVALID_ARGUMENT, "PostSend: the buffer pointer is NULL");
  IoBuf* buf = pool ? pool->lookup(mem) : nullptr;
  if (!buf) {
    if (buffer_of_another_server(mem, this))
      return fail(TS_ERR_NOT_A_BUFFER,
                  "PostSend: %p is an IO buffer of another server; a link sends only buffers of "
                  "its own server's pool (TcpServerGetIOMem of that server). It is still yours",
                  mem);
    if (!pool) fail(TS_ERR_NOT_A_BUFFER, "PostSend: %p is not an IO buffer from GetIOMem", mem);
    return false;
  }
  if (len <= 0 || static_cast<uint32_t>(len) > pool->buffer_size())
    return fail(TS_ERR_BAD_LENGTH, "PostSend: length %d is outside 1..%u (the IO buffer size)", len,
                pool->buffer_size());
  std::unique_lock<std::mutex> lock;
  if (!lock_open(link, id, lock)) return false;
  const uint32_t head = frame_overhead();
  if (!check_queue_limit_locked(*link, static_cast<size_t>(len) + head)) return false;
  uint32_t expected = static_cast<uint32_t>(BufState::kApp);
  if (!buf->state.compare_exchange_strong(expected, static_cast<uint32_t>(BufState::kQueued)))
    return fail(TS_ERR_BUFFER_NOT_OWNED,
                "PostSend: IO buffer %p is not yours to send (already freed, or already sent)",
                mem);
  buf->item.next = nullptr;
  buf->item.data = buf->data();
  buf->item.left = static_cast<uint32_t>(len);
  if (head) {  // the header goes in the buffer's reserved slot: one item, no allocation
    put_frame_header(buf->frame_header(), static_cast<uint32_t>(len));
    buf->item.data = buf->frame_header();
    buf->item.left += head;
  }
  if (link->transport) {  // the transport makes its own bytes of it: the buffer is done
    ConstBuf part{buf->item.data, buf->item.left};
    bool ok = seal_locked(*link, &part, 1);
    release_item(*pool, &buf->item);
    return ok;
  }
  send_item_locked(*link, &buf->item);
  return true;
}

bool Server::post_send(const TcpLink* p, void* mem, int32_t len) {
  Link* link = link_from(p);
  return link && do_post_send(link, 0, mem, len);
}

bool Server::post_send_by_id(uint64_t id, void* mem, int32_t len) {
  Link* link = link_by_id(id);
  return link && do_post_send(link, id, mem, len);
}

bool Server::send_copy(Link* link, uint64_t id, const void* buf, int32_t len) {
  if (!buf) return fail(TS_ERR_INVALID_ARGUMENT, "SendBuffer: the data pointer is NULL");
  if (len <= 0) return fail(TS_ERR_BAD_LENGTH, "SendBuffer: length %d must be at least 1", len);
  std::unique_lock<std::mutex> lock;
  if (!lock_open(link, id, lock)) return false;
  uint8_t header[kFrameHeaderSize];
  const uint32_t head = frame_overhead();
  if (head) put_frame_header(header, static_cast<uint32_t>(len));
  if (!check_queue_limit_locked(*link, static_cast<size_t>(len) + head)) return false;
  return enqueue_copy_locked(*link, header, head, static_cast<const uint8_t*>(buf),
                             static_cast<uint32_t>(len));
}

bool Server::send_buffer(const TcpLink* p, const void* buf, int32_t len) {
  Link* link = link_from(p);
  return link && send_copy(link, 0, buf, len);
}

bool Server::send_buffer_by_id(uint64_t id, const void* buf, int32_t len) {
  Link* link = link_by_id(id);
  return link && send_copy(link, id, buf, len);
}

bool Server::post_recv(const TcpLink* p, void* mem) {
  Link* link = link_from(p);
  if (!link) return false;
  // The link first: on failure the caller still owns Mem, as with every send call.
  std::unique_lock<std::mutex> lock;
  if (!lock_open(link, 0, lock)) return false;
  lock.unlock();
  if (mem) {
    IoPool* pool = pool_ptr_.load(std::memory_order_acquire);
    if (!pool || !pool->free_app(mem)) return false;
  }
  return true;
}

int32_t Server::broadcast(const void* buf, int32_t len, uint64_t except_id) {
  if (!buf) return fail(TS_ERR_INVALID_ARGUMENT, "PostBroadcast: the data pointer is NULL"), -1;
  if (len <= 0) return fail(TS_ERR_BAD_LENGTH, "PostBroadcast: length %d must be at least 1", len), -1;
  if (state_.load(std::memory_order_acquire) != State::kRunning)
    return fail(TS_ERR_NOT_ACTIVE, "PostBroadcast: the server is not running"), -1;
  LinkTable* table = table_.load(std::memory_order_acquire);
  // One copy for every link, with its frame header in front when framing is on.
  const uint32_t head = frame_overhead();
  SharedBlock* block = SharedBlock::create(nullptr, static_cast<uint32_t>(len) + head);
  if (!block) return fail(TS_ERR_OUT_OF_MEMORY, "PostBroadcast: out of memory for %d bytes", len), -1;
  if (head) put_frame_header(block->data(), static_cast<uint32_t>(len));
  std::memcpy(block->data() + head, buf, static_cast<size_t>(len));
  int32_t reached = 0;
  for (uint32_t slot = 0; slot < table->high_water(); ++slot) {
    Link& link = table->at(slot);
    if (!link.open()) continue;
    std::lock_guard<std::mutex> lock(link.mu);
    if (link.state_now() != LinkState::kOpen || (except_id != 0 && link.pub.Id == except_id)) continue;
    if (!check_queue_limit_locked(link, block->size)) continue;
    if (link.transport) {  // each link seals its own copy
      ConstBuf part{block->data(), block->size};
      if (seal_locked(link, &part, 1)) ++reached;
      continue;
    }
    int err = 0;
    size_t done = write_now_locked(link, block->data(), block->size, &err);
    if (!err && done < block->size) {
      SendItem* item = SendItem::for_block(block, block->data() + done,
                                           block->size - static_cast<uint32_t>(done));
      if (!item) {
        request_close(link, link.pub.Id, TS_CLOSE_ERROR, true);
        continue;
      }
      queue_unsent_locked(link, item, done == 0);  // the socket was just asked
    }
    ++reached;
  }
  block->unref();
  return reached;
}

bool Server::do_close(Link* link, uint64_t id, int32_t flags) {
  if (flags & ~TS_CLOSE_FLAG_ABORT) return fail(TS_ERR_INVALID_ARGUMENT, "CloseLink: unknown flags %d", flags);
  std::unique_lock<std::mutex> lock(link->mu);
  bool current = id == 0 || link->pub.Id == id;
  bool closable = link->state == LinkState::kOpen ||
                  (link->state == LinkState::kClosing && (flags & TS_CLOSE_FLAG_ABORT));
  if (!current || !closable) {
    if (current && link->state == LinkState::kClosing) return true;  // already on its way
    return fail(TS_ERR_LINK_CLOSED, "CloseLink: link %llu is already closed",
                static_cast<unsigned long long>(id ? id : link->pub.Id));
  }
  request_close(*link, link->pub.Id, TS_CLOSE_BY_APP, (flags & TS_CLOSE_FLAG_ABORT) != 0);
  return true;
}

bool Server::close_by_app(const TcpLink* p, int32_t flags) {
  Link* link = link_from(p);
  return link && do_close(link, 0, flags);
}

bool Server::close_by_app_id(uint64_t id, int32_t flags) {
  Link* link = link_by_id(id);
  return link && do_close(link, id, flags);
}

}  // namespace ts
