// Server: calling the application's callbacks. Every callback runs through guarded(), so
// nothing it throws reaches the engine, with Link->Worker set for its duration. OnConnect,
// OnReceive (whole messages with framing; the built-in echo when none is set), OnDisconnect /
// OnLinkIdleOvertime, and the thread create/exit hooks. Engine threads only: a link's
// callbacks on its owner, the thread hooks on each engine thread.
#include <cstring>
#if defined(__GLIBCXX__)
#include <cxxabi.h>
#endif

#include "core/errors.h"
#include "core/log.h"
#include "core/server.h"
#include "core/wait_graph.h"
#include "platform/clock.h"
#include "platform/os.h"

namespace ts {
namespace {

// Runs an application callback so that nothing it throws reaches the engine.
// (UBSan's null check misfires on binding abi::__forced_unwind, which has no object.)
template <typename Fn>
TS_NO_SANITIZE_NULL bool guarded(const char* what, Fn&& fn) {
  try {
    fn();
    return true;
#if defined(__GLIBCXX__)
  } catch (abi::__forced_unwind&) {
    throw;  // the thread is being cancelled or exited inside the callback: let it unwind
#endif
  } catch (const std::exception& e) {
    log(TS_LOG_ERROR, "%s threw an exception (%s); the engine caught it", what, e.what());
  } catch (...) {
    log(TS_LOG_ERROR, "%s threw an exception; the engine caught it", what);
  }
  return false;
}

// Sets Link->Worker for the duration of a callback.
struct WorkerScope {
  TcpLink& pub;
  WorkerScope(Link& link, WorkerCtx& w) : pub(link.pub) {
    pub.Worker = &w.pub;
    w.count_exec();
  }
  ~WorkerScope() { pub.Worker = nullptr; }
};

}  // namespace

bool Server::call_connect(Link& link, WorkerCtx& w) {
  if (!cb_.connect && !cb_.connect_ex) return true;
  WorkerScope scope(link, w);
  int32_t r = 0;
  return guarded("OnConnect", [&] {
           r = cb_.connect_ex ? cb_.connect_ex(context_, &link.pub) : cb_.connect(&link.pub);
         }) && r != 0;
}

int32_t Server::deliver(Link& link, WorkerCtx& w, uint8_t* data, int32_t len) {
  count(TS_COUNTER_BYTES_IN, len);
  // Any bytes count as activity (with framing too: a large message arriving slowly, or a
  // heartbeat, keeps the link alive).
  uint64_t now = now_ms();
  link.last_active_ms.store(now, std::memory_order_relaxed);
  link.pub.TickCountActive = static_cast<uint32_t>(now);
  if (!framing()) return deliver_message(link, w, data, len) ? TS_CLOSE_NONE : TS_CLOSE_BY_APP;

  struct Ctx {
    Server* server;
    Link* link;
    WorkerCtx* w;
    int32_t reason;
  } ctx{this, &link, &w, TS_CLOSE_NONE};
  auto sink = [](void* p, const uint8_t* msg, uint32_t n) -> bool {
    auto* c = static_cast<Ctx*>(p);
    if (n == 0) return true;  // a heartbeat: activity only
    if (!c->server->deliver_message(*c->link, *c->w, const_cast<uint8_t*>(msg),
                                    static_cast<int32_t>(n))) {
      c->reason = TS_CLOSE_BY_APP;
      return false;
    }
    // Closed from the callback (CloseLink, a failed send): no OnReceive after that.
    return !c->link->close_requested.load(std::memory_order_acquire) &&
           c->link->open();
  };
  FrameDecoder::Status st = link.decoder.feed(data, static_cast<size_t>(len), sink, &ctx);
  // For the service thread's TS_OPT_MESSAGE_TIMEOUT_MS scan: is a message in progress?
  link.message_pending.store(link.decoder.pending(), std::memory_order_relaxed);
  if (st == FrameDecoder::Status::kOk || st == FrameDecoder::Status::kStopped) return ctx.reason;
  return framing_error(link, st);
}

int32_t Server::framing_error(Link& link, FrameDecoder::Status status) {
  auto id = static_cast<unsigned long long>(link.pub.Id);
  if (status == FrameDecoder::Status::kOverBudget) {
    count(TS_COUNTER_BUDGET_REFUSALS);
    log(TS_LOG_WARN, "link %llu: assembling a message of %u bytes would exceed "
        "TS_OPT_MEMORY_BUDGET=%llu (%llu in use); closing the link", id,
        link.decoder.announced(), static_cast<unsigned long long>(budget_.limit()),
        static_cast<unsigned long long>(budget_.used()));
    return TS_CLOSE_MEMORY_BUDGET;
  }
  count(TS_COUNTER_FRAMING_ERRORS);
  switch (status) {
    case FrameDecoder::Status::kTooLarge:
      log(TS_LOG_INFO, "link %llu: a message header announced %u bytes, more than "
          "TS_OPT_MAX_MESSAGE_SIZE=%u; closing the link", id, link.decoder.announced(),
          link.decoder.max_message());
      return TS_CLOSE_FRAME_TOO_LARGE;
    case FrameDecoder::Status::kBadHeader:
      log(TS_LOG_INFO, "link %llu: a message header has its top bit set (0x%08x): the peer "
          "does not speak length-prefixed framing; closing the link", id, link.decoder.announced());
      return TS_CLOSE_BAD_FRAME;
    default:
      log(TS_LOG_ERROR, "link %llu: out of memory assembling a message of %u bytes; closing "
          "the link", id, link.decoder.announced());
      return TS_CLOSE_ERROR;
  }
}


bool Server::deliver_message(Link& link, WorkerCtx& w, uint8_t* data, int32_t len) {
  count(TS_COUNTER_MSGS_IN);
  // No OnReceive: the original's default, echo (a whole message, framed, with framing).
  if (!cb_.receive && !cb_.receive_ex) {
    w.count_exec();
    std::unique_lock<std::mutex> lock;
    if (!lock_open(&link, 0, lock)) return true;
    uint8_t header[kFrameHeaderSize];
    const uint32_t head = frame_overhead();
    if (head) put_frame_header(header, static_cast<uint32_t>(len));
    if (check_queue_limit_locked(link, static_cast<size_t>(len) + head))
      enqueue_copy_locked(link, header, head, data, static_cast<uint32_t>(len));
    return true;
  }
  WorkerScope scope(link, w);
  int32_t keep = 0;
  if (!guarded("OnReceive", [&] {
        keep = cb_.receive_ex ? cb_.receive_ex(context_, &link.pub, data, len)
                              : cb_.receive(&link.pub, data, len);
      }))
    return false;
  return keep != 0;
}

void Server::link_closed(Link& link, WorkerCtx& w) {
  {
    std::lock_guard<std::mutex> lock(link.mu);
    link.pub.CloseReason = link.close_reason;
    link.pub.CloseError = link.close_error;
  }
  count(TS_COUNTER_CLOSED);
  if (link.close_reason >= 0 && link.close_reason < kCloseReasonCount)
    close_counts_[link.close_reason].fetch_add(1, std::memory_order_relaxed);
  if (link.close_reason == TS_CLOSE_MESSAGE_TIMEOUT) count(TS_COUNTER_MESSAGE_TIMEOUTS);
  WorkerScope scope(link, w);
  if (link.close_reason == TS_CLOSE_IDLE) {
    count(TS_COUNTER_IDLE_CLOSED);
    if (cb_.idle_ex) {
      guarded("OnLinkIdleOvertime", [&] { cb_.idle_ex(context_, &link.pub); });
      return;
    }
    if (cb_.idle) {
      guarded("OnLinkIdleOvertime", [&] { cb_.idle(&link.pub); });
      return;
    }
  }
  if (cb_.disconnect_ex) guarded("OnDisconnect", [&] { cb_.disconnect_ex(context_, &link.pub); });
  else if (cb_.disconnect) guarded("OnDisconnect", [&] { cb_.disconnect(&link.pub); });
}


void Server::thread_begin(WorkerCtx& w, bool is_worker) {
  set_thread_server(this);
  w.os_id.store(os_thread_id());
  w.pub.ID = w.os_id.load();
  w.pub.IsWorkerThread = is_worker ? 1 : 0;
  {
    std::lock_guard<std::mutex> lock(ready_mu_);
    ++threads_ready_;
    ready_cv_.notify_all();
  }
  TOnThreadCreate create = is_worker ? cb_.worker_thread_create : cb_.server_thread_create;
  TOnThreadCreateEx create_ex =
      is_worker ? cb_.worker_thread_create_ex : cb_.server_thread_create_ex;
  if (create || create_ex)
    guarded(is_worker ? "OnWorkerThreadCreate" : "OnServerThreadCreate", [&] {
      w.pub.Data = create_ex ? create_ex(context_, is_worker ? 1 : 0) : create(is_worker ? 1 : 0);
    });
}

void Server::thread_end(WorkerCtx& w, bool is_worker) {
  if (cb_.thread_exit_ex)
    guarded("OnThreadExit", [&] { cb_.thread_exit_ex(context_, is_worker ? 1 : 0, w.pub.Data); });
  else if (cb_.thread_exit)
    guarded("OnThreadExit", [&] { cb_.thread_exit(is_worker ? 1 : 0, w.pub.Data); });
  set_thread_server(nullptr);
}

}  // namespace ts
