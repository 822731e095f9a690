// The process's nodes: a table of TC_MAX_NODES slots, the handles the C API gives out (a slot
// tagged with its generation, so a destroyed handle is recognised and never dereferenced),
// the pins that keep a node alive while a call is inside it, and one set of engine hooks per
// slot (the engine passes the server's Context to its callbacks, not ours, so each slot has
// its own functions that know their node). Any thread.
#pragma once
#include <cstdint>

#include "tcpcluster.h"

namespace tc {

class Node;

struct HookSet {
  TOnConnectEx connect;
  TOnDisconnectEx disconnect;
  TOnLinkIdleOvertimeEx idle;
};

// The engine hooks of one slot.
const HookSet& hooks_for_slot(int slot);

// A free slot number, reserved, or -1 (TC_MAX_NODES in use).
int reserve_slot();
// Publishes node in its reserved slot and returns its handle.
TcpClusterNode* publish_node(int slot, Node* node);
// Unpublishes the node of handle: later pins fail. Fast; returns the slot.
int unpublish_node(TcpClusterNode* handle);
// Waits until no call is inside the slot's former node any more (calls inside are short, but
// TcpClusterStop joins threads), then frees the slot. The caller deletes the node afterwards.
void drain_and_release_slot(int slot);
void release_slot(int slot);  // a reserved slot that was never published
// True if a live node serves this server.
bool server_has_node(TcpServerHandle* server);

// Keeps a node alive during one call: `NodePin pin(handle); if (!pin) ...`.
class NodePin {
 public:
  explicit NodePin(TcpClusterNode* handle);
  ~NodePin();
  NodePin(const NodePin&) = delete;
  NodePin& operator=(const NodePin&) = delete;
  explicit operator bool() const { return node_ != nullptr; }
  Node* operator->() const { return node_; }
  Node* get() const { return node_; }

 private:
  int slot_ = -1;
  Node* node_ = nullptr;
};

}  // namespace tc
