// The Node (see node.h): local delivery, queuing the remote parts, presence tables, engine
// events, lifecycle and state reports. Any thread, as node.h documents per method.
#include "node.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "errors.h"
#include "publisher.h"
#include "registry.h"
#include "subscriber.h"

namespace tc {
namespace {
// Removes one k from v (order does not matter).
void erase_one(std::vector<std::string>& v, const std::string& k) {
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] == k) {
      v[i] = v.back();
      v.pop_back();
      return;
    }
}

// The node whose start or stop this thread is in (its OnState runs there, under the lifecycle
// lock): a start or stop of that node from the callback fails instead of deadlocking.
thread_local const Node* t_in_lifecycle = nullptr;

struct LifecycleMark {
  explicit LifecycleMark(const Node* n) { t_in_lifecycle = n; }
  ~LifecycleMark() { t_in_lifecycle = nullptr; }
};
}  // namespace

bool random_node_id(uint64_t* out) {
  uint64_t id = 0;
  while (id == 0) {
    ssize_t n = getrandom(&id, sizeof id, 0);
    if (n != static_cast<ssize_t>(sizeof id)) {
      if (n < 0 && errno == EINTR) continue;
      return fail(TC_ERR_SYSTEM, "cannot draw a node id: getrandom failed (%s)",
                  n < 0 ? std::strerror(errno) : "short read");
    }
  }
  *out = id;
  return true;
}

Node::Node(int slot, TcpServerHandle* server, const RedisUrl& url, const std::string& prefix,
           const std::string& name, void* context, uint64_t id)
    : slot_(slot),
      server_(server),
      url_(url),
      prefix_(prefix),
      name_(name),
      context_(context),
      id_(id),
      queue_(0, 0) {
  for (int32_t o = 1; o < kOptionCount; ++o) options_[o].store(option_info(o)->def);
  queue_.set_limits(static_cast<size_t>(option(TC_OPT_QUEUE_MESSAGES)),
                    static_cast<size_t>(option(TC_OPT_QUEUE_BYTES)));
}

Node::~Node() { stop(); }

// ------------------------------------------------------------------------------------------
// Configuration.

bool Node::install_hooks() {
  const HookSet& hooks = hooks_for_slot(slot_);
  if (!TcpServerSetEventProc(server_, app_receive_, hooks.disconnect, hooks.idle,
                             app_server_thread_, app_worker_thread_) ||
      !TcpServerSetConnectProc(server_, hooks.connect))
    return fail(TC_ERR_ENGINE, "cannot put the node's callbacks on the server: %s",
                GetLastErrorText());
  return true;
}

bool Node::restore_server_callbacks() {
  if (!TcpServerSetEventProc(server_, app_receive_, app_disconnect_, app_idle_,
                             app_server_thread_, app_worker_thread_) ||
      !TcpServerSetConnectProc(server_, app_connect_))
    return fail(TC_ERR_ENGINE, "cannot give the server its own callbacks back: %s",
                GetLastErrorText());
  return true;
}

bool Node::set_event_proc(TOnReceiveEx on_receive, TOnDisconnectEx on_disconnect,
                          TOnLinkIdleOvertimeEx on_idle, TOnThreadCreateEx on_server_thread,
                          TOnThreadCreateEx on_worker_thread) {
  if (TcpServerIsActive(server_))
    return fail(TC_ERR_SERVER_RUNNING, "TcpClusterSetEventProc: the server is running; stop it "
                                       "(TcpServerStop) before changing its callbacks");
  const HookSet& hooks = hooks_for_slot(slot_);
  if (!TcpServerSetEventProc(server_, on_receive, hooks.disconnect, hooks.idle, on_server_thread,
                             on_worker_thread))
    return fail(GetLastErrorCode() == TS_ERR_ALREADY_ACTIVE ? TC_ERR_SERVER_RUNNING : TC_ERR_ENGINE,
                "TcpClusterSetEventProc: %s", GetLastErrorText());
  app_receive_ = on_receive;
  app_disconnect_ = on_disconnect;
  app_idle_ = on_idle;
  app_server_thread_ = on_server_thread;
  app_worker_thread_ = on_worker_thread;
  return true;
}

bool Node::set_connect_proc(TOnConnectEx on_connect) {
  if (TcpServerIsActive(server_))
    return fail(TC_ERR_SERVER_RUNNING, "TcpClusterSetConnectProc: the server is running; stop "
                                       "it (TcpServerStop) before changing its callbacks");
  app_connect_ = on_connect;
  return true;
}

bool Node::set_cluster_proc(TOnClusterTopic on_topic, TOnClusterSendFailed on_send_failed,
                            TOnClusterGap on_gap, TOnClusterState on_state) {
  std::lock_guard<std::mutex> lock(config_mu_);
  if (running())
    return fail(TC_ERR_ALREADY_STARTED,
                "TcpClusterSetClusterProc: the node is running; stop it (TcpClusterStop) first");
  on_topic_ = on_topic;
  on_send_failed_ = on_send_failed;
  on_gap_ = on_gap;
  on_state_ = on_state;
  return true;
}

bool Node::set_option(int32_t which, int64_t value) {
  std::lock_guard<std::mutex> lock(config_mu_);
  const OptionInfo* info = option_info(which);
  if (!info) return fail(TC_ERR_UNKNOWN_OPTION, "TcpClusterSetOption: %d is not a TC_OPT_* option", which);
  if (running())
    return fail(TC_ERR_ALREADY_STARTED,
                "TcpClusterSetOption: the node is running; stop it (TcpClusterStop) first");
  if (value < info->min || value > info->max)
    return fail(TC_ERR_OPTION_RANGE, "TcpClusterSetOption: %s must be %lld..%lld, not %lld",
                info->name, (long long)info->min, (long long)info->max, (long long)value);
  options_[which].store(value);
  return true;
}

int64_t Node::counter(int32_t which) const {
  switch (which) {
    case TC_COUNTER_QUEUE_LENGTH: return static_cast<int64_t>(queue_.length());
    case TC_COUNTER_QUEUE_BYTES: return static_cast<int64_t>(queue_.bytes());
    case TC_COUNTER_QUEUE_PEAK: return static_cast<int64_t>(queue_.peak());
    case TC_COUNTER_STATE: return state();
    default: return counters_[which].load(std::memory_order_relaxed);
  }
}

// ------------------------------------------------------------------------------------------
// Lifecycle.

bool Node::on_library_thread() const {
  std::thread::id self = std::this_thread::get_id();
  return self == publisher_thread_.load() || self == subscriber_thread_.load();
}

void Node::library_thread_begins(bool publisher) {
  (publisher ? publisher_thread_ : subscriber_thread_).store(std::this_thread::get_id());
}

bool Node::in_own_callback() const { return on_library_thread() || t_in_lifecycle == this; }

bool Node::start() {
  // On one of its own threads the node runs (or is stopping, and stop waits for this thread).
  if (in_own_callback())
    return fail(TC_ERR_IN_CALLBACK, "TcpClusterStart: called from one of the node's own callbacks; "
                                    "start it from another thread");
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  LifecycleMark mark(this);
  {
    std::lock_guard<std::mutex> config(config_mu_);
    if (running()) return fail(TC_ERR_ALREADY_STARTED, "TcpClusterStart: the node is already running");
    if (option(TC_OPT_RECONNECT_MIN_MS) > option(TC_OPT_RECONNECT_MAX_MS))
      return fail(TC_ERR_OPTION_RANGE, "TcpClusterStart: TC_OPT_RECONNECT_MIN_MS (%lld) is above "
                  "TC_OPT_RECONNECT_MAX_MS (%lld)", (long long)option(TC_OPT_RECONNECT_MIN_MS),
                  (long long)option(TC_OPT_RECONNECT_MAX_MS));
    if (started_before_) {  // a new life, a new id: nothing meant for the old one reaches it
      uint64_t id;
      if (!random_node_id(&id)) return false;
      id_.store(id, std::memory_order_release);
    }
    running_.store(true, std::memory_order_release);  // options and callbacks are fixed now
  }
  queue_.set_limits(static_cast<size_t>(option(TC_OPT_QUEUE_MESSAGES)),
                    static_cast<size_t>(option(TC_OPT_QUEUE_BYTES)));
  {
    std::lock_guard<std::mutex> presence(presence_mu_);
    for (const auto& kv : keys_) to_assert_.insert(kv.first);  // kept from a previous life
    to_clear_.clear();  // the old id's keys were deleted at the stop, or expire
  }
  {
    std::lock_guard<std::mutex> report(report_mu_);
    troubled_ = false;
  }
  update_state("started; connecting to Redis at " + url_.where());  // before the threads report
  try {
    subscriber_.reset(new Subscriber(*this));
    publisher_.reset(new Publisher(*this));
    subscriber_thread_.store(subscriber_->start());
    publisher_thread_.store(publisher_->start());
  } catch (const std::system_error& e) {
    if (subscriber_) subscriber_->stop();
    if (publisher_) publisher_->stop();
    subscriber_.reset();
    publisher_.reset();
    {
      std::lock_guard<std::mutex> config(config_mu_);
      running_.store(false, std::memory_order_release);
    }
    update_state("could not start its threads");
    return fail(TC_ERR_SYSTEM, "TcpClusterStart: cannot start a thread: %s", e.what());
  }
  started_before_ = true;
  return true;
}

bool Node::stop() {
  if (in_own_callback())  // a stop in progress waits for this thread
    return fail(TC_ERR_IN_CALLBACK, "TcpClusterStop: called from one of the node's own callbacks, "
                                    "which would wait for itself; stop it from another thread");
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  LifecycleMark mark(this);
  if (!running()) return true;
  // No more deliveries or failure notices, then publish what is left and leave.
  subscriber_->stop();
  pub_up_.store(false, std::memory_order_release);  // new remote parts are dropped and counted
  publisher_->stop();
  subscriber_.reset();
  publisher_.reset();
  publisher_thread_.store(std::thread::id());
  subscriber_thread_.store(std::thread::id());
  pub_up_.store(false, std::memory_order_release);
  sub_up_.store(false, std::memory_order_release);
  {
    std::lock_guard<std::mutex> config(config_mu_);
    running_.store(false, std::memory_order_release);
  }
  update_state("stopped by the application");
  return true;
}

// ------------------------------------------------------------------------------------------
// State.

void Node::connection_up(bool publisher, const std::string& why) {
  (publisher ? pub_up_ : sub_up_).store(true, std::memory_order_release);
  update_state(why);
}

void Node::connection_down(bool publisher, const std::string& why) {
  (publisher ? pub_up_ : sub_up_).store(false, std::memory_order_release);
  {
    std::lock_guard<std::mutex> report(report_mu_);
    troubled_ = true;
  }
  update_state(why);
}

void Node::update_state(const std::string& why) {
  std::lock_guard<std::mutex> report(report_mu_);
  int32_t next;
  if (!running()) next = TC_STATE_STOPPED;
  else if (pub_up_.load() && sub_up_.load()) next = TC_STATE_CONNECTED;
  else if (troubled_) next = TC_STATE_DISCONNECTED;
  else next = TC_STATE_CONNECTING;
  if (next == TC_STATE_CONNECTED) troubled_ = false;
  if (next == state_.load()) return;
  state_.store(next, std::memory_order_release);
  if (on_state_) {
    on_state_(context_, next, why.c_str());
  } else {
    std::string line = "tcpcluster: node " + std::to_string(id()) + " " +
                       TcpClusterGetStateText(next) + ": " + why;
    WriteLog(line.c_str());
  }
}

// ------------------------------------------------------------------------------------------
// Messages.

Node::Push Node::push(Op&& op) {
  if (!pub_up_.load(std::memory_order_acquire)) {
    add(TC_COUNTER_DOWN_DROPPED);
    return Push::kDown;
  }
  size_t bytes = op.name.size() + op.payload.size();
  if (!queue_.try_push(std::move(op), bytes)) {
    add(TC_COUNTER_QUEUE_DROPPED);
    return Push::kFull;
  }
  return Push::kQueued;
}

bool Node::fail_push(Push result, const char* call) {
  if (result == Push::kFull)
    return fail(TC_ERR_QUEUE_FULL, "%s: the queue to Redis is full (%lld messages or %lld bytes): "
                "Redis is slow or paused; the message was dropped and counted "
                "(TC_COUNTER_QUEUE_DROPPED). Raise TC_OPT_QUEUE_MESSAGES / _BYTES or send less",
                call, (long long)option(TC_OPT_QUEUE_MESSAGES),
                (long long)option(TC_OPT_QUEUE_BYTES));
  return fail(TC_ERR_BROKER_DOWN, "%s: %s; the message was dropped and counted "
              "(TC_COUNTER_DOWN_DROPPED). OnState reports when the node is connected again",
              call, running() ? "not connected to Redis now (the node is reconnecting)"
                              : "the node is not running (TcpClusterStart)");
}

int32_t Node::broadcast(const void* buf, int32_t len, uint64_t except_link) {
  int32_t reached = TcpServerPostBroadcast(server_, buf, len, except_link);
  std::string engine_error = reached < 0 ? GetLastErrorText() : "";
  Op op;
  op.kind = MessageKind::kBroadcast;
  op.payload.assign(static_cast<const char*>(buf), static_cast<size_t>(len));
  push(std::move(op));  // a drop is counted, not an error: the local part was delivered
  if (reached < 0)
    return fail(TC_ERR_ENGINE, "TcpClusterBroadcast: the local part failed (%s); the remote part "
                "was queued", engine_error.c_str()), -1;
  return reached;
}

bool Node::deliver_local_link(uint64_t link, const void* buf, int32_t len, const char* call) {
  bool ours;
  {
    std::lock_guard<std::mutex> lock(presence_mu_);
    ours = links_.count(link) != 0;
  }
  if (!ours)
    return fail(TC_ERR_LINK_CLOSED, "%s: link %llu is not an open link of this node's server",
                call, (unsigned long long)link);
  if (!SendBufferById(link, buf, len))
    return fail(GetLastErrorCode() == TS_ERR_LINK_CLOSED ? TC_ERR_LINK_CLOSED : TC_ERR_ENGINE,
                "%s: sending to link %llu failed: %s", call, (unsigned long long)link,
                GetLastErrorText());
  return true;
}

bool Node::send_to_link(uint64_t target_node, uint64_t link, const void* buf, int32_t len,
                        uint64_t tag) {
  if (target_node == id()) return deliver_local_link(link, buf, len, "TcpClusterSendToLink");
  Op op;
  op.kind = MessageKind::kDirect;
  op.node = target_node;
  op.link = link;
  op.tag = tag;
  op.payload.assign(static_cast<const char*>(buf), static_cast<size_t>(len));
  Push r = push(std::move(op));
  return r == Push::kQueued || fail_push(r, "TcpClusterSendToLink");
}

void Node::deliver_topic(const char* topic, size_t topic_len, uint64_t publisher,
                         const uint8_t* data, size_t len) {
  if (!on_topic_) return;
  std::string name(topic, topic_len);  // NUL-terminated for the callback
  on_topic_(context_, name.c_str(), publisher, data, static_cast<int32_t>(len));
}

bool Node::publish(const char* topic, size_t topic_len, const void* buf, int32_t len) {
  deliver_topic(topic, topic_len, id(), static_cast<const uint8_t*>(buf), static_cast<size_t>(len));
  Op op;
  op.kind = MessageKind::kTopic;
  op.name.assign(topic, topic_len);
  if (len) op.payload.assign(static_cast<const char*>(buf), static_cast<size_t>(len));
  push(std::move(op));  // as a broadcast: a drop is counted, the local part was delivered
  return true;
}

bool Node::set_key(uint64_t link, const char* key, size_t key_len) {
  std::string k(key, key_len);
  {
    std::lock_guard<std::mutex> lock(presence_mu_);
    if (!links_.count(link))
      return fail(TC_ERR_LINK_CLOSED, "TcpClusterSetKey: link %llu is not an open link of this "
                  "node's server", (unsigned long long)link);
    auto it = keys_.find(k);
    if (it == keys_.end() && keys_.size() >= static_cast<size_t>(option(TC_OPT_MAX_KEYS)))
      return fail(TC_ERR_KEY_LIMIT, "TcpClusterSetKey: this node holds TC_OPT_MAX_KEYS (%lld) "
                  "keys; clear some or raise the option", (long long)option(TC_OPT_MAX_KEYS));
    if (it != keys_.end() && it->second != link) {  // moves from another local link
      auto& old = link_keys_[it->second];
      erase_one(old, k);
      if (old.empty()) link_keys_.erase(it->second);
    }
    if (it == keys_.end() || it->second != link) link_keys_[link].push_back(k);
    keys_[k] = link;
    to_assert_.insert(k);
    counters_[TC_COUNTER_KEYS].store(static_cast<int64_t>(keys_.size()), std::memory_order_relaxed);
  }
  queue_.wake();
  return true;
}

bool Node::clear_key(const char* key, size_t key_len) {
  std::string k(key, key_len);
  {
    std::lock_guard<std::mutex> lock(presence_mu_);
    auto it = keys_.find(k);
    if (it == keys_.end())
      return fail(TC_ERR_KEY_NOT_HELD, "TcpClusterClearKey: this node holds no key '%s'", k.c_str());
    uint64_t link = it->second;
    keys_.erase(it);
    auto& held = link_keys_[link];
    erase_one(held, k);
    if (held.empty()) link_keys_.erase(link);
    to_assert_.erase(k);
    if (to_clear_.size() < static_cast<size_t>(option(TC_OPT_MAX_KEYS)) + 1)
      to_clear_.emplace_back(k, link);
    else
      add(TC_COUNTER_CLEARS_DROPPED);  // Redis forgets it at its TTL
    counters_[TC_COUNTER_KEYS].store(static_cast<int64_t>(keys_.size()), std::memory_order_relaxed);
  }
  queue_.wake();
  return true;
}

bool Node::send_to_key(const char* key, size_t key_len, const void* buf, int32_t len, uint64_t tag) {
  std::string k(key, key_len);
  uint64_t local_link = 0;
  {
    std::lock_guard<std::mutex> lock(presence_mu_);
    auto it = keys_.find(k);
    if (it != keys_.end()) local_link = it->second;
  }
  if (local_link) return deliver_local_link(local_link, buf, len, "TcpClusterSendToKey");
  Op op;
  op.kind = MessageKind::kDirect;
  op.tag = tag;
  op.name = std::move(k);
  op.payload.assign(static_cast<const char*>(buf), static_cast<size_t>(len));
  Push r = push(std::move(op));
  return r == Push::kQueued || fail_push(r, "TcpClusterSendToKey");
}

// ------------------------------------------------------------------------------------------
// Engine events.

int32_t Node::on_connect(void* context, TcpLink* link) {
  {
    std::lock_guard<std::mutex> lock(presence_mu_);
    links_.insert(link->Id);
  }
  if (!app_connect_ || app_connect_(context, link)) return 1;
  std::lock_guard<std::mutex> lock(presence_mu_);  // refused: it gets no other callback
  links_.erase(link->Id);
  return 0;
}

void Node::forget_link(uint64_t link) {
  bool cleared = false;
  {
    std::lock_guard<std::mutex> lock(presence_mu_);
    links_.erase(link);
    auto it = link_keys_.find(link);
    if (it != link_keys_.end()) {
      for (const std::string& k : it->second) {
        auto held = keys_.find(k);
        if (held == keys_.end() || held->second != link) continue;
        keys_.erase(held);
        to_assert_.erase(k);
        if (to_clear_.size() < static_cast<size_t>(option(TC_OPT_MAX_KEYS)) + 1)
          to_clear_.emplace_back(k, link);
        else
          add(TC_COUNTER_CLEARS_DROPPED);
        cleared = true;
      }
      link_keys_.erase(it);
      counters_[TC_COUNTER_KEYS].store(static_cast<int64_t>(keys_.size()), std::memory_order_relaxed);
    }
  }
  if (cleared) queue_.wake();
}

void Node::on_close(void* context, TcpLink* link, bool idle) {
  forget_link(link->Id);
  if (idle && app_idle_) app_idle_(context, link);
  else if (app_disconnect_) app_disconnect_(context, link);
}

// ------------------------------------------------------------------------------------------
// For the library threads.

void Node::take_presence_changes(std::vector<KeyLink>* sets, std::vector<KeyLink>* clears) {
  std::lock_guard<std::mutex> lock(presence_mu_);
  for (const std::string& k : to_assert_) {
    auto it = keys_.find(k);
    if (it != keys_.end()) sets->emplace_back(k, it->second);
  }
  to_assert_.clear();
  clears->insert(clears->end(), std::make_move_iterator(to_clear_.begin()),
                 std::make_move_iterator(to_clear_.end()));
  to_clear_.clear();
}

void Node::snapshot_keys(std::vector<KeyLink>* out) {
  std::lock_guard<std::mutex> lock(presence_mu_);
  out->reserve(out->size() + keys_.size());
  for (const auto& kv : keys_) out->emplace_back(kv.first, kv.second);
}

void Node::key_lost(const std::string& key, uint64_t link) {
  std::lock_guard<std::mutex> lock(presence_mu_);
  auto it = keys_.find(key);
  if (it == keys_.end() || it->second != link || to_assert_.count(key)) return;  // set again since
  keys_.erase(it);
  auto held = link_keys_.find(link);
  if (held != link_keys_.end()) {
    erase_one(held->second, key);
    if (held->second.empty()) link_keys_.erase(held);
  }
  counters_[TC_COUNTER_KEYS].store(static_cast<int64_t>(keys_.size()), std::memory_order_relaxed);
  add(TC_COUNTER_KEYS_LOST);
}

void Node::report_send_failed(uint64_t tag, int32_t reason, uint64_t node, uint64_t link,
                              const std::string& key, const std::string& text) {
  add(TC_COUNTER_SEND_FAILED);
  if (on_send_failed_) on_send_failed_(context_, tag, reason, node, link, key.c_str(), text.c_str());
}

void Node::report_gap(uint64_t publisher, int32_t channel, uint64_t missed) {
  add(TC_COUNTER_GAPS, static_cast<int64_t>(missed));
  if (on_gap_) on_gap_(context_, publisher, channel, static_cast<int64_t>(missed));
}

void Node::queue_nack(const Message& m, int32_t reason) {
  Op op;
  op.kind = MessageKind::kNack;
  op.node = m.publisher;
  op.link = m.link;
  op.tag = m.tag;
  op.failed_node = id();
  op.reason = reason;
  op.name.assign(m.name, m.name_len);
  push(std::move(op));
}

void Node::deliver_remote(const Message& m) {
  // Counted before the delivery, so a client that has the data sees the counter include it.
  if (m.kind != MessageKind::kNack) add(TC_COUNTER_RECEIVED);
  switch (m.kind) {
    case MessageKind::kBroadcast:
      if (m.payload_len)
        TcpServerPostBroadcast(server_, m.payload, static_cast<int32_t>(m.payload_len), 0);
      return;
    case MessageKind::kTopic:
      deliver_topic(m.name, m.name_len, m.publisher, m.payload, m.payload_len);
      return;
    case MessageKind::kDirect: {
      uint64_t link = m.link;
      bool ours;
      {
        std::lock_guard<std::mutex> lock(presence_mu_);
        if (m.name_len) {  // a send to a key: follow the key if it moved to another local link
          auto it = keys_.find(std::string(m.name, m.name_len));
          if (it != keys_.end()) link = it->second;
        }
        ours = links_.count(link) != 0;
      }
      if (!ours || !m.payload_len ||
          !SendBufferById(link, m.payload, static_cast<int32_t>(m.payload_len)))
        queue_nack(m, TC_SEND_LINK_GONE);
      return;
    }
    case MessageKind::kNack: {
      std::string key(m.name, m.name_len);
      std::string text = std::string(TcpClusterGetSendFailureText(m.reason)) + ": node " +
                         std::to_string(m.target_node) + " has no open link " +
                         std::to_string(m.link) +
                         (key.empty() ? std::string() : " holding key '" + key + "'") +
                         " (it closed before the message arrived)";
      report_send_failed(m.tag, m.reason, m.target_node, m.link, key, text);
      return;
    }
  }
}

void Node::deliver_resolved_local(const Op& op, uint64_t link) {
  bool ours;
  {
    std::lock_guard<std::mutex> lock(presence_mu_);
    auto it = keys_.find(op.name);
    ours = it != keys_.end() && it->second == link && links_.count(link);
  }
  if (ours && SendBufferById(link, op.payload.data(), static_cast<int32_t>(op.payload.size()))) return;
  report_send_failed(op.tag, TC_SEND_NO_SUCH_KEY, id(), link, op.name,
                     "no link holds key '" + op.name + "': this node gave it up (its link closed "
                     "or it was cleared) just before the send");
}

}  // namespace tc
