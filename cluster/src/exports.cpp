// The C ABI of tcpcluster.h: checks the arguments, pins the node, calls it; nothing thrown
// crosses it. Any thread.
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "errors.h"
#include "node.h"
#include "options.h"
#include "redis_url.h"
#include "registry.h"
#include "tcpcluster.h"

namespace tc {
namespace {

const char kDefaultPrefix[] = "tcpcluster:";
constexpr size_t kMaxPrefix = 200;

// One TcpClusterCreate or TcpClusterDestroy at a time: a server gets one node, a handle is
// destroyed once. Held only for short steps (never while waiting for threads or calls).
std::mutex g_registry_mu;

// No C++ exception reaches a C, Pascal, C# or Python caller.
template <typename R, typename Fn>
R shielded(R on_error, Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    fail(TC_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    fail(TC_ERR_SYSTEM, "internal error: %s", e.what());
  } catch (...) {
    fail(TC_ERR_SYSTEM, "internal error");
  }
  return on_error;
}

bool bad_handle(const char* call) {
  return fail(TC_ERR_INVALID_ARGUMENT, "%s: the node handle is NULL, destroyed, or not one "
              "TcpClusterCreate returned", call);
}

// A topic or key: 1..255 bytes.
bool check_name(const char* name, const char* what, const char* call, size_t* len) {
  if (!name) return fail(TC_ERR_INVALID_ARGUMENT, "%s: the %s is NULL", call, what);
  *len = std::strlen(name);
  if (*len == 0 || *len > kMaxName)
    return fail(TC_ERR_INVALID_ARGUMENT, "%s: the %s must be 1..%zu bytes of UTF-8, not %zu",
                call, what, kMaxName, *len);
  return true;
}

// A payload of min_len..TC_OPT_MAX_MESSAGE bytes.
bool check_payload(Node* node, const void* buf, int32_t len, int32_t min_len, const char* call) {
  if (len < min_len) return fail(TC_ERR_INVALID_ARGUMENT, "%s: length %d must be at least %d", call, len, min_len);
  if (len > 0 && !buf) return fail(TC_ERR_INVALID_ARGUMENT, "%s: the data pointer is NULL", call);
  int64_t max = node->option(TC_OPT_MAX_MESSAGE);
  if (len > max)
    return fail(TC_ERR_TOO_LARGE, "%s: %d bytes are over TC_OPT_MAX_MESSAGE (%lld): send less or "
                "raise the option", call, len, (long long)max);
  return true;
}

// True when the handle names a server that exists (the default one always does).
bool server_exists(TcpServerHandle* server) {
  return TcpServerGetOption(server, TS_OPT_MAX_LINKS) >= 0;
}

}  // namespace
}  // namespace tc

using namespace tc;

extern "C" {

TC_API TcpClusterNode* TC_CALL TcpClusterCreate(TcpServerHandle* Server, const char* RedisUrl,
                                                const char* KeyPrefix, const char* NodeName,
                                                void* Context) {
  return shielded<TcpClusterNode*>(nullptr, [&]() -> TcpClusterNode* {
    tc::RedisUrl url;
    std::string error;
    if (!parse_redis_url(RedisUrl, &url, &error))
      return fail(TC_ERR_BAD_URL, "TcpClusterCreate: %s", error.c_str()), nullptr;
    std::string prefix = KeyPrefix && *KeyPrefix ? KeyPrefix : kDefaultPrefix;
    if (prefix.size() > kMaxPrefix)
      return fail(TC_ERR_INVALID_ARGUMENT, "TcpClusterCreate: the key prefix is %zu bytes; keep "
                  "it under %zu", prefix.size(), kMaxPrefix), nullptr;
    std::string name = NodeName ? NodeName : "";
    if (name.size() > kMaxName)
      return fail(TC_ERR_INVALID_ARGUMENT, "TcpClusterCreate: the node name is %zu bytes; keep "
                  "it to %zu", name.size(), kMaxName), nullptr;
    TcpServerHandle* server = Server ? Server : GetDefaultTcpServer();
    if (!server_exists(server))
      return fail(TC_ERR_INVALID_ARGUMENT, "TcpClusterCreate: the server handle is not a live "
                  "server (%s)", GetLastErrorText()), nullptr;
    if (TcpServerIsActive(server))
      return fail(TC_ERR_SERVER_RUNNING, "TcpClusterCreate: the server is running; create the "
                  "node before TcpServerStart (it puts its own callbacks on the server)"), nullptr;
    std::lock_guard<std::mutex> lock(g_registry_mu);
    if (server_has_node(server))
      return fail(TC_ERR_INVALID_ARGUMENT, "TcpClusterCreate: this server already has a node; "
                  "one node per server"), nullptr;
    uint64_t id;
    if (!random_node_id(&id)) return nullptr;
    int slot = reserve_slot();
    if (slot < 0)
      return fail(TC_ERR_TOO_MANY_NODES, "TcpClusterCreate: %d nodes exist in this process; "
                  "destroy one first", TC_MAX_NODES), nullptr;
    std::unique_ptr<Node> node;
    try {
      node.reset(new Node(slot, server, url, prefix, name, Context, id));
    } catch (...) {
      release_slot(slot);
      throw;
    }
    if (!node->install_hooks()) {
      release_slot(slot);
      return nullptr;
    }
    return publish_node(slot, node.release());
  });
}

TC_API int32_t TC_CALL TcpClusterDestroy(TcpClusterNode* Handle) {
  return shielded<int32_t>(0, [&]() -> int32_t {
    {
      NodePin pin(Handle);  // before any lock: a start or stop of this node may be below us
      if (!pin) return bad_handle("TcpClusterDestroy");
      if (pin->in_own_callback())
        return fail(TC_ERR_IN_CALLBACK, "TcpClusterDestroy: called from one of the node's own "
                    "callbacks, which would wait for itself; destroy it from another thread");
    }
    Node* node;
    int slot;
    {
      std::lock_guard<std::mutex> lock(g_registry_mu);
      NodePin pin(Handle);
      if (!pin) return bad_handle("TcpClusterDestroy");  // destroyed meanwhile
      TcpServerHandle* server = pin->server();
      if (server_exists(server)) {
        if (TcpServerIsActive(server))
          return fail(TC_ERR_SERVER_RUNNING, "TcpClusterDestroy: the server is running; stop it "
                      "(TcpServerStop) first, so its callbacks can be given back");
        if (!pin->restore_server_callbacks()) return 0;
      }
      node = pin.get();
      slot = unpublish_node(Handle);  // from here no new call reaches it
    }
    drain_and_release_slot(slot);
    node->stop();
    delete node;
    return 1;
  });
}

TC_API int32_t TC_CALL TcpClusterSetEventProc(TcpClusterNode* Handle, TOnReceiveEx OnReceive,
                                              TOnDisconnectEx OnDisconnect,
                                              TOnLinkIdleOvertimeEx OnLinkIdleOvertime,
                                              TOnThreadCreateEx OnServerThreadCreate,
                                              TOnThreadCreateEx OnWorkerThreadCreate) {
  return shielded<int32_t>(0, [&]() -> int32_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterSetEventProc");
    return pin->set_event_proc(OnReceive, OnDisconnect, OnLinkIdleOvertime, OnServerThreadCreate,
                               OnWorkerThreadCreate);
  });
}

TC_API int32_t TC_CALL TcpClusterSetConnectProc(TcpClusterNode* Handle, TOnConnectEx OnConnect) {
  return shielded<int32_t>(0, [&]() -> int32_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterSetConnectProc");
    return pin->set_connect_proc(OnConnect);
  });
}

TC_API int32_t TC_CALL TcpClusterSetClusterProc(TcpClusterNode* Handle, TOnClusterTopic OnTopic,
                                                TOnClusterSendFailed OnSendFailed,
                                                TOnClusterGap OnGap, TOnClusterState OnState) {
  return shielded<int32_t>(0, [&]() -> int32_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterSetClusterProc");
    return pin->set_cluster_proc(OnTopic, OnSendFailed, OnGap, OnState);
  });
}

TC_API int32_t TC_CALL TcpClusterSetOption(TcpClusterNode* Handle, int32_t Option, int64_t Value) {
  return shielded<int32_t>(0, [&]() -> int32_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterSetOption");
    return pin->set_option(Option, Value);
  });
}

TC_API int64_t TC_CALL TcpClusterGetOption(TcpClusterNode* Handle, int32_t Option) {
  return shielded<int64_t>(-1, [&]() -> int64_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterGetOption"), -1;
    if (!option_info(Option))
      return fail(TC_ERR_UNKNOWN_OPTION, "TcpClusterGetOption: %d is not a TC_OPT_* option", Option), -1;
    return pin->option(Option);
  });
}

TC_API int32_t TC_CALL TcpClusterGetOptionRange(int32_t Option, int64_t* Min, int64_t* Max) {
  const OptionInfo* info = option_info(Option);
  if (!info) return fail(TC_ERR_UNKNOWN_OPTION, "TcpClusterGetOptionRange: %d is not a TC_OPT_* option", Option);
  if (!Min || !Max) return fail(TC_ERR_INVALID_ARGUMENT, "TcpClusterGetOptionRange: Min or Max is NULL");
  *Min = info->min;
  *Max = info->max;
  return 1;
}

TC_API int32_t TC_CALL TcpClusterStart(TcpClusterNode* Handle) {
  return shielded<int32_t>(0, [&]() -> int32_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterStart");
    return pin->start();
  });
}

TC_API int32_t TC_CALL TcpClusterStop(TcpClusterNode* Handle) {
  return shielded<int32_t>(0, [&]() -> int32_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterStop");
    return pin->stop();
  });
}

TC_API uint64_t TC_CALL TcpClusterGetNodeId(TcpClusterNode* Handle) {
  NodePin pin(Handle);
  if (!pin) return bad_handle("TcpClusterGetNodeId"), 0;
  return pin->id();
}

TC_API int32_t TC_CALL TcpClusterGetState(TcpClusterNode* Handle) {
  NodePin pin(Handle);
  if (!pin) return bad_handle("TcpClusterGetState"), -1;
  return pin->state();
}

TC_API int32_t TC_CALL TcpClusterBroadcast(TcpClusterNode* Handle, const void* Buf, int32_t Len,
                                           uint64_t ExceptLinkId) {
  return shielded<int32_t>(-1, [&]() -> int32_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterBroadcast"), -1;
    if (!check_payload(pin.get(), Buf, Len, 1, "TcpClusterBroadcast")) return -1;
    return pin->broadcast(Buf, Len, ExceptLinkId);
  });
}

TC_API int32_t TC_CALL TcpClusterSendToLink(TcpClusterNode* Handle, uint64_t TargetNode,
                                            uint64_t LinkId, const void* Buf, int32_t Len,
                                            uint64_t Tag) {
  return shielded<int32_t>(0, [&]() -> int32_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterSendToLink");
    if (!check_payload(pin.get(), Buf, Len, 1, "TcpClusterSendToLink")) return 0;
    if (TargetNode == 0 || LinkId == 0)
      return fail(TC_ERR_INVALID_ARGUMENT, "TcpClusterSendToLink: the node id and the link id "
                  "must not be 0");
    return pin->send_to_link(TargetNode, LinkId, Buf, Len, Tag);
  });
}

TC_API int32_t TC_CALL TcpClusterPublish(TcpClusterNode* Handle, const char* Topic, const void* Buf,
                                         int32_t Len) {
  return shielded<int32_t>(0, [&]() -> int32_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterPublish");
    size_t topic_len;
    if (!check_name(Topic, "topic", "TcpClusterPublish", &topic_len)) return 0;
    if (!check_payload(pin.get(), Buf, Len, 0, "TcpClusterPublish")) return 0;
    return pin->publish(Topic, topic_len, Buf, Len);
  });
}

TC_API int32_t TC_CALL TcpClusterSetKey(TcpClusterNode* Handle, uint64_t LinkId, const char* Key) {
  return shielded<int32_t>(0, [&]() -> int32_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterSetKey");
    size_t key_len;
    if (!check_name(Key, "key", "TcpClusterSetKey", &key_len)) return 0;
    return pin->set_key(LinkId, Key, key_len);
  });
}

TC_API int32_t TC_CALL TcpClusterClearKey(TcpClusterNode* Handle, const char* Key) {
  return shielded<int32_t>(0, [&]() -> int32_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterClearKey");
    size_t key_len;
    if (!check_name(Key, "key", "TcpClusterClearKey", &key_len)) return 0;
    return pin->clear_key(Key, key_len);
  });
}

TC_API int32_t TC_CALL TcpClusterSendToKey(TcpClusterNode* Handle, const char* Key, const void* Buf,
                                           int32_t Len, uint64_t Tag) {
  return shielded<int32_t>(0, [&]() -> int32_t {
    NodePin pin(Handle);
    if (!pin) return bad_handle("TcpClusterSendToKey");
    size_t key_len;
    if (!check_name(Key, "key", "TcpClusterSendToKey", &key_len)) return 0;
    if (!check_payload(pin.get(), Buf, Len, 1, "TcpClusterSendToKey")) return 0;
    return pin->send_to_key(Key, key_len, Buf, Len, Tag);
  });
}

TC_API int64_t TC_CALL TcpClusterGetCounter(TcpClusterNode* Handle, int32_t Counter) {
  NodePin pin(Handle);
  if (!pin) return bad_handle("TcpClusterGetCounter"), -1;
  if (Counter < 1 || Counter >= kCounterCount)
    return fail(TC_ERR_INVALID_ARGUMENT, "TcpClusterGetCounter: %d is not a TC_COUNTER_* value",
                Counter), -1;
  return pin->counter(Counter);
}

TC_API int32_t TC_CALL TcpClusterGetLastErrorCode(void) { return last_error_code(); }
TC_API const char* TC_CALL TcpClusterGetLastErrorText(void) { return last_error_text(); }

TC_API const char* TC_CALL TcpClusterGetStateText(int32_t State) {
  switch (State) {
    case TC_STATE_STOPPED: return "stopped";
    case TC_STATE_CONNECTING: return "connecting";
    case TC_STATE_CONNECTED: return "connected";
    case TC_STATE_DISCONNECTED: return "disconnected";
    default: return "unknown state";
  }
}

TC_API const char* TC_CALL TcpClusterGetSendFailureText(int32_t Reason) {
  switch (Reason) {
    case TC_SEND_NODE_GONE: return "node gone";
    case TC_SEND_NO_SUCH_KEY: return "no such key";
    case TC_SEND_LINK_GONE: return "link gone";
    case TC_SEND_DROPPED: return "dropped";
    case TC_SEND_UNCONFIRMED: return "unconfirmed";
    case TC_SEND_BROKER_ERROR: return "broker error";
    default: return "unknown reason";
  }
}

TC_API int32_t TC_CALL TcpClusterGetVersion(void) { return TCPCLUSTER_VERSION_NUMBER; }

}  // extern "C"
