// The registry of servers (registry.h): handle slots and generations, the default server, and
// which server owns a link, an id or a buffer. Any thread: API calls, workers, callbacks.
#include "core/registry.h"

#include <chrono>
#include <mutex>
#include <new>
#include <thread>

#include "core/errors.h"
#include "core/log.h"

namespace ts {
namespace {

// A handle is (generation << kHandleSlotBits) | slot. 255 servers besides the default one
// are far more than an application listens with; the generation has 24 bits even on 32-bit
// targets, so a destroyed handle is only mistaken for a live one after 16 million servers
// were created in the same slot.
constexpr int kHandleSlotBits = 8;
constexpr uint32_t kMaxServers = 1u << kHandleSlotBits;
constexpr uintptr_t kHandleSlotMask = kMaxServers - 1;
constexpr uintptr_t kMaxGeneration = UINTPTR_MAX >> kHandleSlotBits;
constexpr uintptr_t kDefaultHandle = (uintptr_t{1} << kHandleSlotBits) | 0;  // slot 0, generation 1

struct alignas(64) Slot {  // one cache line each: pins of one server do not slow another's
  std::atomic<Server*> server{nullptr};  // published for lookups while the server lives
  std::atomic<uintptr_t> handle{0};      // the live handle; 0 when free or being destroyed
  std::atomic<uint32_t> pins{0};         // calls using the server right now
  uintptr_t generation = 0;              // of the last handle issued here (g_mu)
  bool used = false;                     // taken, until its server is freed (g_mu)
};

Slot g_slots[kMaxServers];
std::atomic<uint32_t> g_high{1};  // slots below this have been used; lookups scan 1..g_high-1
std::mutex g_mu;                  // creation and destruction

// The first server (the default one first, no pin) for which owns(server) holds; empty if none.
template <typename Owns>
Pinned find_owner(Owns&& owns) {
  Server& d = default_server();
  if (owns(d)) return Pinned(&d, nullptr);
  uint32_t high = g_high.load(std::memory_order_acquire);
  for (uint32_t i = 1; i < high; ++i) {
    Slot& s = g_slots[i];
    if (!s.server.load(std::memory_order_relaxed)) continue;
    // Pin, then look again: DestroyTcpServer unpublishes the server before it waits for the
    // pins to drain, so either we see nullptr or it sees our pin (both sequentially consistent).
    s.pins.fetch_add(1, std::memory_order_seq_cst);
    Server* server = s.server.load(std::memory_order_seq_cst);
    if (server && owns(*server)) return Pinned(server, &s.pins);
    s.pins.fetch_sub(1, std::memory_order_release);
  }
  return Pinned();
}

Pinned owner_or_default(Pinned found) {
  if (found) return found;
  return Pinned(&default_server(), nullptr);
}

}  // namespace

Server& default_server() {
  // Never destroyed: worker threads of a server the application did not stop may still run
  // while the process exits.
  // It has slot 0 of the handle space; lookups reach it first, without the slot table.
  static Server* server = new Server(nullptr);
  return *server;
}

TcpServerHandle* default_server_handle() {
  default_server();
  return reinterpret_cast<TcpServerHandle*>(kDefaultHandle);
}

TcpServerHandle* create_server(void* context) {
  default_server();  // slot 0 is the default server's
  auto* server = new (std::nothrow) Server(context);
  if (!server) return fail(TS_ERR_OUT_OF_MEMORY, "CreateTcpServer: out of memory"), nullptr;
  std::lock_guard<std::mutex> lock(g_mu);
  uint32_t i = 1;
  while (i < kMaxServers && g_slots[i].used) ++i;
  if (i == kMaxServers) {
    delete server;
    fail(TS_ERR_OUT_OF_MEMORY,
         "CreateTcpServer: %u servers exist already, the most one process can have; "
         "DestroyTcpServer one first",
         kMaxServers);
    return nullptr;
  }
  Slot& s = g_slots[i];
  s.used = true;
  s.generation = s.generation == kMaxGeneration ? 1 : s.generation + 1;
  uintptr_t handle = (s.generation << kHandleSlotBits) | i;
  s.server.store(server, std::memory_order_seq_cst);
  s.handle.store(handle, std::memory_order_seq_cst);
  if (i >= g_high.load(std::memory_order_relaxed)) g_high.store(i + 1, std::memory_order_release);
  return reinterpret_cast<TcpServerHandle*>(handle);
}

Pinned pin_handle(TcpServerHandle* handle, const char* what) {
  auto v = reinterpret_cast<uintptr_t>(handle);
  if (v == kDefaultHandle) return Pinned(&default_server(), nullptr);
  if (!v) return fail(TS_ERR_INVALID_ARGUMENT, "%s: the server handle is NULL", what), Pinned();
  uintptr_t slot = v & kHandleSlotMask;
  if (slot != 0 && slot < g_high.load(std::memory_order_acquire)) {
    Slot& s = g_slots[slot];
    s.pins.fetch_add(1, std::memory_order_seq_cst);
    // A destroy may unpublish the server between these two loads: then the handle is dead.
    if (s.handle.load(std::memory_order_seq_cst) == v)
      if (Server* server = s.server.load(std::memory_order_seq_cst))
        return Pinned(server, &s.pins);
    s.pins.fetch_sub(1, std::memory_order_release);
  }
  fail(TS_ERR_INVALID_ARGUMENT,
       "%s: %p is not a live server handle (already destroyed, or not from CreateTcpServer / "
       "GetDefaultTcpServer)",
       what, static_cast<void*>(handle));
  return Pinned();
}

bool destroy_server(TcpServerHandle* handle) {
  auto v = reinterpret_cast<uintptr_t>(handle);
  if (v == kDefaultHandle)
    return fail(TS_ERR_INVALID_ARGUMENT,
                "DestroyTcpServer: the default server lives as long as the process and cannot be "
                "destroyed; stop it with StopTcpServer or TcpServerStop");
  Server* server;
  {
    Pinned pinned = pin_handle(handle, "DestroyTcpServer");
    if (!pinned) return false;
    if (pinned->on_own_thread())
      return fail(TS_ERR_IN_CALLBACK,
                  "DestroyTcpServer was called from a callback of the server it destroys; it "
                  "would wait for itself. Call it from another thread");
    // Stopped first, while the handle still works: this fails (and changes nothing) when the
    // wait could never end (TS_ERR_IN_CALLBACK, see Server::stop).
    if (!pinned->stop(-1)) return false;
    server = &*pinned;
    std::lock_guard<std::mutex> lock(g_mu);
    Slot& s = g_slots[v & kHandleSlotMask];
    if (s.handle.load(std::memory_order_relaxed) != v)
      return fail(TS_ERR_INVALID_ARGUMENT,
                  "DestroyTcpServer: another thread destroyed this server meanwhile");
    s.handle.store(0, std::memory_order_seq_cst);      // no new call by handle
    s.server.store(nullptr, std::memory_order_seq_cst);  // no new lookup by link, id or buffer
  }
  Slot& s = g_slots[v & kHandleSlotMask];
  while (s.pins.load(std::memory_order_seq_cst) != 0)  // calls already inside: all short
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  // Nothing can reach the server now. A TcpServerStart that raced with this call may have
  // started it again after the stop above; stop that too.
  if (!server->stop(-1)) {
    log(TS_LOG_ERROR,
        "DestroyTcpServer: the server was restarted meanwhile and cannot be stopped from this "
        "thread (%s); it is left running, unreachable",
        last_error_text());
  } else {
    delete server;
  }
  std::lock_guard<std::mutex> lock(g_mu);
  s.used = false;
  return true;
}

Pinned pin_link_owner(const TcpLink* link) {
  if (!link) return Pinned(&default_server(), nullptr);
  return owner_or_default(find_owner([&](const Server& s) { return s.owns_link(link); }));
}

Pinned pin_id_owner(uint64_t id) {
  if (Pinned owner = find_owner([&](const Server& s) { return s.has_link_id(id); })) return owner;
  // No server has the id: it is stale. A running server reports that (TS_ERR_LINK_CLOSED);
  // only when none runs does the default server's "not running" tell the caller more.
  return owner_or_default(find_owner([](const Server& s) { return s.active(); }));
}

Pinned pin_buffer_owner(const void* mem) {
  if (!mem) return Pinned(&default_server(), nullptr);
  return owner_or_default(find_owner([&](const Server& s) { return s.owns_buffer(mem); }));
}

bool buffer_of_another_server(const void* mem, const Server* except) {
  return static_cast<bool>(
      find_owner([&](const Server& s) { return &s != except && s.owns_buffer(mem); }));
}

}  // namespace ts
