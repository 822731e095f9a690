// One cluster node: what the application's calls and the engine's events do locally, and the
// state the two library threads share. Owns the configuration, the counters, the publish
// queue, the presence tables (local links, keys held, changes not yet in Redis), the state
// reporting, and the Publisher and Subscriber while it runs.
//
// Threads: the public methods are called by any thread (the application's, engine workers);
// on_connect/on_close by engine workers (through the hooks of registry.cpp); the "for the
// library threads" section by the publishing and subscribing threads. Configuration changes
// only while the node is stopped (start() publishes it to the threads).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "bounded_queue.h"
#include "message.h"
#include "options.h"
#include "redis_url.h"
#include "tcpcluster.h"

namespace tc {

class Publisher;
class Subscriber;

// One remote part waiting for the publishing thread.
struct Op {
  MessageKind kind = MessageKind::kBroadcast;
  uint64_t node = 0;         // kDirect: the target node (0: a send to a key, resolved later);
                             // kNack: the node to tell (the failed send's publisher)
  uint64_t link = 0;         // kDirect, kNack
  uint64_t tag = 0;          // kDirect, kNack
  uint64_t failed_node = 0;  // kNack: the node the failed send was meant for
  int32_t reason = 0;        // kNack
  std::string name;          // topic (kTopic) or key (kDirect to a key, kNack)
  std::string payload;
};

// A key and the local link that holds it.
using KeyLink = std::pair<std::string, uint64_t>;

constexpr int32_t kCounterCount = 20;  // TC_COUNTER_* run from 1 to kCounterCount - 1

class Node {
 public:
  Node(int slot, TcpServerHandle* server, const RedisUrl& url, const std::string& prefix,
       const std::string& name, void* context, uint64_t id);
  ~Node();

  // ---- configuration (the server or the node must be stopped, as documented) ----
  // Puts the node's hooks on the server (at create). False with a TC_ERR_ENGINE error.
  bool install_hooks();
  // Gives the server the application's own callbacks back (at destroy).
  bool restore_server_callbacks();
  bool set_event_proc(TOnReceiveEx on_receive, TOnDisconnectEx on_disconnect,
                      TOnLinkIdleOvertimeEx on_idle, TOnThreadCreateEx on_server_thread,
                      TOnThreadCreateEx on_worker_thread);
  bool set_connect_proc(TOnConnectEx on_connect);
  bool set_cluster_proc(TOnClusterTopic on_topic, TOnClusterSendFailed on_send_failed,
                        TOnClusterGap on_gap, TOnClusterState on_state);
  bool set_option(int32_t option, int64_t value);
  int64_t option(int32_t option) const { return options_[option].load(std::memory_order_relaxed); }
  TcpServerHandle* server() const { return server_; }

  // ---- lifecycle ----
  bool start();
  bool stop();
  bool running() const { return running_.load(std::memory_order_acquire); }
  // True on the node's own publishing or subscribing thread (where stop would wait for itself).
  bool on_library_thread() const;
  // First thing on the publishing or subscribing thread, before it can call back: its callbacks
  // are the node's own from their first instruction (start only stores the id after the thread
  // runs, which a fast connect on a loaded machine beat).
  void library_thread_begins(bool publisher);
  // True inside one of the node's callbacks: on its threads, or in OnState during its own
  // start or stop (where start, stop and destroy fail with TC_ERR_IN_CALLBACK).
  bool in_own_callback() const;
  uint64_t id() const { return id_.load(std::memory_order_acquire); }
  int32_t state() const { return state_.load(std::memory_order_acquire); }
  int64_t counter(int32_t which) const;

  // ---- messages (any thread) ----
  int32_t broadcast(const void* buf, int32_t len, uint64_t except_link);
  bool send_to_link(uint64_t target_node, uint64_t link, const void* buf, int32_t len, uint64_t tag);
  bool publish(const char* topic, size_t topic_len, const void* buf, int32_t len);
  bool set_key(uint64_t link, const char* key, size_t key_len);
  bool clear_key(const char* key, size_t key_len);
  bool send_to_key(const char* key, size_t key_len, const void* buf, int32_t len, uint64_t tag);

  // ---- engine events (engine workers, through registry.cpp's hooks) ----
  int32_t on_connect(void* context, TcpLink* link);
  void on_close(void* context, TcpLink* link, bool idle);

  // ---- for the library threads ----
  const RedisUrl& url() const { return url_; }
  const std::string& name() const { return name_; }
  std::string broadcast_channel() const { return prefix_ + "bcast"; }
  std::string topic_channel() const { return prefix_ + "topic"; }
  std::string node_channel(uint64_t node) const { return prefix_ + "to:" + std::to_string(node); }
  std::string alive_key() const { return prefix_ + "alive:" + std::to_string(id()); }
  std::string presence_key(const std::string& key) const { return prefix_ + "key:" + key; }
  // What this node stores in a presence key for one of its links: "<node id>:<link id>".
  std::string presence_value(uint64_t link) const {
    return std::to_string(id()) + ":" + std::to_string(link);
  }
  BoundedQueue<Op>& queue() { return queue_; }
  void add(int32_t which, int64_t n = 1) {
    counters_[which].fetch_add(n, std::memory_order_relaxed);
  }
  // Connection state of each thread; the node's state follows from both.
  void connection_up(bool publisher, const std::string& why);
  void connection_down(bool publisher, const std::string& why);
  bool publisher_up() const { return pub_up_.load(std::memory_order_acquire); }
  // Presence: the keys set and cleared since the last call (moved out), every key held now,
  // and a key Redis says another node took.
  void take_presence_changes(std::vector<KeyLink>* sets, std::vector<KeyLink>* clears);
  void snapshot_keys(std::vector<KeyLink>* out);
  void key_lost(const std::string& key, uint64_t link);
  // A message from another node, decoded (subscribing thread).
  void deliver_remote(const Message& m);
  // A send to a key that Redis says one of this node's links holds (publishing thread).
  void deliver_resolved_local(const Op& op, uint64_t link);
  void report_send_failed(uint64_t tag, int32_t reason, uint64_t node, uint64_t link,
                          const std::string& key, const std::string& text);
  void report_gap(uint64_t publisher, int32_t channel, uint64_t missed);
  // Queues a failure notice to the node that sent a directed message (subscribing thread).
  void queue_nack(const Message& m, int32_t reason);

 private:
  enum class Push { kQueued, kFull, kDown };
  // Queues the remote part of a call (counted when dropped).
  Push push(Op&& op);
  bool fail_push(Push result, const char* call);
  bool deliver_local_link(uint64_t link, const void* buf, int32_t len, const char* call);
  void deliver_topic(const char* topic, size_t topic_len, uint64_t publisher, const uint8_t* data,
                     size_t len);
  void update_state(const std::string& why);
  // Removes what a closing link held (engine worker).
  void forget_link(uint64_t link);

  const int slot_;
  TcpServerHandle* const server_;
  const RedisUrl url_;
  const std::string prefix_;
  const std::string name_;
  void* const context_;
  std::atomic<uint64_t> id_;
  std::array<std::atomic<int64_t>, kOptionCount> options_{};  // written while stopped

  // The application's callbacks: the server's (forwarded by the hooks) and the cluster's.
  TOnReceiveEx app_receive_ = nullptr;
  TOnDisconnectEx app_disconnect_ = nullptr;
  TOnLinkIdleOvertimeEx app_idle_ = nullptr;
  TOnThreadCreateEx app_server_thread_ = nullptr;
  TOnThreadCreateEx app_worker_thread_ = nullptr;
  TOnConnectEx app_connect_ = nullptr;
  TOnClusterTopic on_topic_ = nullptr;
  TOnClusterSendFailed on_send_failed_ = nullptr;
  TOnClusterGap on_gap_ = nullptr;
  TOnClusterState on_state_ = nullptr;

  std::array<std::atomic<int64_t>, kCounterCount> counters_{};
  BoundedQueue<Op> queue_;

  // Presence: guarded by presence_mu_ (short sections; no callback runs under it).
  std::mutex presence_mu_;
  std::unordered_set<uint64_t> links_;                         // open links of the server
  std::unordered_map<std::string, uint64_t> keys_;             // key -> link holding it
  std::unordered_map<uint64_t, std::vector<std::string>> link_keys_;
  std::unordered_set<std::string> to_assert_;                  // set since the last sync
  std::vector<KeyLink> to_clear_;                              // given up since the last sync

  // Lifecycle and state. lifecycle_mu_ is held by start and stop (stop joins the threads
  // under it); config_mu_ only briefly, so a callback may change configuration calls while
  // another thread stops the node (they fail with TC_ERR_ALREADY_STARTED) without deadlock.
  std::mutex lifecycle_mu_;
  std::mutex config_mu_;  // options, cluster callbacks, running_ as they see it
  std::atomic<bool> running_{false};
  bool started_before_ = false;
  std::atomic<bool> pub_up_{false}, sub_up_{false};
  std::mutex report_mu_;  // one state report at a time, in order
  bool troubled_ = false;  // a connection failed since the last CONNECTED (under report_mu_)
  std::atomic<int32_t> state_{TC_STATE_STOPPED};
  std::unique_ptr<Publisher> publisher_;
  std::unique_ptr<Subscriber> subscriber_;
  std::atomic<std::thread::id> publisher_thread_{}, subscriber_thread_{};
};

// 64 random bits from the OS (never 0). False with a TC_ERR_SYSTEM error.
bool random_node_id(uint64_t* out);

}  // namespace tc
