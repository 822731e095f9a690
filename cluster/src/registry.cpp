// The slot table of nodes, their handles and pins, and the per-slot engine hooks (see
// registry.h). Any thread.
#include "registry.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <thread>
#include <utility>

#include "node.h"

namespace tc {
namespace {

struct Slot {
  std::atomic<uint32_t> generation{0};
  std::atomic<int32_t> inflight{0};
  std::atomic<Node*> node{nullptr};
  bool reserved = false;  // under g_mu
};

Slot g_slots[TC_MAX_NODES];
std::mutex g_mu;  // reserving and releasing slots

constexpr uintptr_t kGenerationMask = ~uintptr_t(0) >> 8;

// Pins the node of a slot (used by the engine hooks, which know their slot, not a handle).
class SlotPin {
 public:
  explicit SlotPin(int slot) : slot_(g_slots[slot]) {
    slot_.inflight.fetch_add(1);
    node_ = slot_.node.load();
  }
  ~SlotPin() { slot_.inflight.fetch_sub(1); }
  Node* node() const { return node_; }

 private:
  Slot& slot_;
  Node* node_;
};

int32_t hook_connect(int slot, void* context, TcpLink* link) {
  SlotPin pin(slot);
  return pin.node() ? pin.node()->on_connect(context, link) : 1;
}
void hook_close(int slot, void* context, TcpLink* link, bool idle) {
  SlotPin pin(slot);
  if (pin.node()) pin.node()->on_close(context, link, idle);
}

template <int S>
struct Hooks {
  static int32_t TS_CALL connect(void* context, TcpLink* link) { return hook_connect(S, context, link); }
  static void TS_CALL disconnect(void* context, TcpLink* link) { hook_close(S, context, link, false); }
  static void TS_CALL idle(void* context, TcpLink* link) { hook_close(S, context, link, true); }
};

template <size_t... I>
constexpr std::array<HookSet, sizeof...(I)> make_hooks(std::index_sequence<I...>) {
  return {{HookSet{&Hooks<I>::connect, &Hooks<I>::disconnect, &Hooks<I>::idle}...}};
}
const std::array<HookSet, TC_MAX_NODES> kHooks = make_hooks(std::make_index_sequence<TC_MAX_NODES>{});

}  // namespace

const HookSet& hooks_for_slot(int slot) { return kHooks[static_cast<size_t>(slot)]; }

int reserve_slot() {
  std::lock_guard<std::mutex> lock(g_mu);
  for (int i = 0; i < TC_MAX_NODES; ++i)
    if (!g_slots[i].reserved) {
      g_slots[i].reserved = true;
      return i;
    }
  return -1;
}

void release_slot(int slot) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_slots[slot].reserved = false;
}

bool server_has_node(TcpServerHandle* server) {
  for (int i = 0; i < TC_MAX_NODES; ++i) {
    SlotPin pin(i);
    if (pin.node() && pin.node()->server() == server) return true;
  }
  return false;
}

TcpClusterNode* publish_node(int slot, Node* node) {
  Slot& s = g_slots[slot];
  uint32_t gen = s.generation.load() + 1;
  s.generation.store(gen);
  s.node.store(node);
  uintptr_t handle = ((static_cast<uintptr_t>(gen) & kGenerationMask) << 8) |
                     static_cast<uintptr_t>(slot + 1);
  return reinterpret_cast<TcpClusterNode*>(handle);
}

int unpublish_node(TcpClusterNode* handle) {
  int slot = static_cast<int>(reinterpret_cast<uintptr_t>(handle) & 0xff) - 1;
  g_slots[slot].node.store(nullptr);
  return slot;
}

void drain_and_release_slot(int slot) {
  while (g_slots[slot].inflight.load() != 0) std::this_thread::yield();
  release_slot(slot);
}

NodePin::NodePin(TcpClusterNode* handle) {
  uintptr_t h = reinterpret_cast<uintptr_t>(handle);
  int slot = static_cast<int>(h & 0xff) - 1;
  if (slot < 0 || slot >= TC_MAX_NODES) return;
  Slot& s = g_slots[slot];
  s.inflight.fetch_add(1);
  Node* node = s.node.load();
  if (node && (s.generation.load() & kGenerationMask) == (h >> 8)) {
    slot_ = slot;
    node_ = node;
    return;
  }
  s.inflight.fetch_sub(1);
}

NodePin::~NodePin() {
  if (node_) g_slots[slot_].inflight.fetch_sub(1);
}

}  // namespace tc
