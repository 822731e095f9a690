// The publishing thread of a node (see publisher.h): batches from the queue, pipelined to one
// Redis connection; liveness and presence keys; reconnection. Its own thread, except start()
// and stop().
#include "publisher.h"

#include <pthread.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>

#include "tcpcluster.h"

namespace tc {
namespace {

// A presence key is refreshed only while it still holds this node's value (or is gone, after
// a broker restart): a key another node set since is that node's now, and we learn we lost it.
const char kRefreshScript[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if v == false or v == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end "
    "return 0";
// A key is deleted only while it still holds this node's value.
const char kClearScript[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

// "<node>:<link>" as presence keys hold it.
bool parse_presence_value(const char* s, size_t len, uint64_t* node, uint64_t* link) {
  std::string v(s, len);
  size_t colon = v.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= v.size()) return false;
  char* end = nullptr;
  *node = std::strtoull(v.c_str(), &end, 10);
  if (end != v.c_str() + colon) return false;
  *link = std::strtoull(v.c_str() + colon + 1, &end, 10);
  return *end == 0 && *node != 0 && *link != 0;
}

}  // namespace

struct Publisher::Pending {
  enum Kind { kMessage, kAlive, kSet, kRefresh, kClear } kind;
  size_t index;  // into ops, sets, refreshes or clears
};

Publisher::Publisher(Node& node)
    : node_(node),
      seq_(65536),
      backoff_(node.option(TC_OPT_RECONNECT_MIN_MS), node.option(TC_OPT_RECONNECT_MAX_MS),
               static_cast<uint64_t>(std::random_device{}()) ^ node.id()) {}

Publisher::~Publisher() { stop(); }

std::thread::id Publisher::start() {
  thread_ = std::thread([this] { main(); });
  return thread_.get_id();
}

void Publisher::stop() {
  stop_.store(true, std::memory_order_release);
  node_.queue().wake();
  if (thread_.joinable()) thread_.join();
  // Pushed after the thread's last look (the node refuses pushes once it stops).
  std::vector<Op> rest;
  node_.queue().take(&rest, SIZE_MAX, Clock::now());
  drop(&rest, TC_COUNTER_DOWN_DROPPED, TC_SEND_DROPPED, "the node stopped before it could publish it");
}

bool Publisher::connect(std::string* error) {
  int timeout = static_cast<int>(node_.option(TC_OPT_REPLY_TIMEOUT_MS));
  if (!link_.open(node_.url(), timeout, true, error)) return false;
  return true;
}

bool Publisher::read_reply(redisReply** reply) {
  void* r = nullptr;
  if (redisGetReply(link_.ctx(), &r) != REDIS_OK || !r) return false;
  *reply = static_cast<redisReply*>(r);
  return true;
}

void Publisher::broker_error(const char* what, redisReply* r) {
  node_.add(TC_COUNTER_BROKER_ERRORS);
  std::string text(r->str, r->len);
  if (text == last_error_logged_) return;  // one log line per distinct error
  last_error_logged_ = text;
  std::string line = "tcpcluster: node " + std::to_string(node_.id()) + ": Redis answered " +
                     what + " with an error: " + text;
  WriteLog(line.c_str());
}

void Publisher::drop(std::vector<Op>* ops, int32_t counter, int32_t reason, const std::string& why) {
  for (const Op& op : *ops) {
    node_.add(counter);
    if (op.kind == MessageKind::kDirect)
      node_.report_send_failed(op.tag, reason, op.node, op.link, op.name,
                               "dropped before it reached Redis: " + why);
  }
  ops->clear();
}

void Publisher::unconfirmed(const Op& op, const std::string& why) {
  node_.add(TC_COUNTER_UNCONFIRMED);
  if (op.kind == MessageKind::kDirect)
    node_.report_send_failed(op.tag, TC_SEND_UNCONFIRMED, op.node, op.link, op.name,
                             "written to Redis, then " + why + " before Redis confirmed it: it "
                             "may or may not have been delivered");
}

void Publisher::wait_dropping(Clock::time_point until, const std::string& why) {
  std::vector<Op> ops;
  while (!stop_.load(std::memory_order_acquire)) {
    if (node_.queue().take(&ops, 1024, until) == 0 && Clock::now() >= until) break;
    drop(&ops, TC_COUNTER_DOWN_DROPPED, TC_SEND_DROPPED, why);
  }
}

bool Publisher::resolve_keys(std::vector<Op>* ops, std::vector<bool>* done) {
  redisContext* c = link_.ctx();
  std::vector<size_t> lookups;
  for (size_t i = 0; i < ops->size(); ++i) {
    const Op& op = (*ops)[i];
    if (op.kind != MessageKind::kDirect || op.node != 0) continue;
    std::string key = node_.presence_key(op.name);
    redisAppendCommand(c, "GET %b", key.data(), key.size());
    lookups.push_back(i);
  }
  for (size_t i : lookups) {
    redisReply* r;
    if (!read_reply(&r)) return false;
    Op& op = (*ops)[i];
    (*done)[i] = true;
    uint64_t node = 0, link = 0;
    if (r->type == REDIS_REPLY_ERROR) {
      broker_error("GET", r);
      node_.report_send_failed(op.tag, TC_SEND_BROKER_ERROR, 0, 0, op.name,
                               "Redis refused to look the key up: " + std::string(r->str, r->len));
    } else if (r->type != REDIS_REPLY_STRING) {
      node_.report_send_failed(op.tag, TC_SEND_NO_SUCH_KEY, 0, 0, op.name,
                               "no link holds key '" + op.name + "' (never set, cleared, or "
                               "expired with its node)");
    } else if (!parse_presence_value(r->str, r->len, &node, &link)) {
      node_.report_send_failed(op.tag, TC_SEND_NO_SUCH_KEY, 0, 0, op.name,
                               "key '" + op.name + "' holds a value that is not a node:link "
                               "pair: something else writes under this cluster's key prefix");
    } else if (node == node_.id()) {
      node_.deliver_resolved_local(op, link);
    } else {
      op.node = node;
      op.link = link;
      (*done)[i] = false;
    }
    freeReplyObject(r);
  }
  return true;
}

void Publisher::append_message(const Op& op, std::vector<Pending>* pending, size_t index) {
  Message m;
  m.kind = op.kind;
  m.publisher = node_.id();
  std::string channel;
  switch (op.kind) {
    case MessageKind::kBroadcast:
      channel = node_.broadcast_channel();
      m.sequence = seq_.next_broadcast();
      break;
    case MessageKind::kTopic:
      channel = node_.topic_channel();
      m.sequence = seq_.next_topic();
      break;
    case MessageKind::kDirect:
    case MessageKind::kNack:
      channel = node_.node_channel(op.node);
      m.sequence = seq_.next_direct(op.node);
      m.link = op.link;
      m.tag = op.tag;
      m.reason = op.reason;
      m.target_node = op.failed_node;
      break;
  }
  m.name = op.name.data();
  m.name_len = op.name.size();
  m.payload = reinterpret_cast<const uint8_t*>(op.payload.data());
  m.payload_len = op.payload.size();
  encode_message(m, &encoded_);
  const char* argv[3] = {"PUBLISH", channel.data(), encoded_.data()};
  size_t lens[3] = {7, channel.size(), encoded_.size()};
  redisAppendCommandArgv(link_.ctx(), 3, argv, lens);
  pending->push_back(Pending{Pending::kMessage, index});
}

void Publisher::handle_message_reply(const Op& op, redisReply* r) {
  if (r->type == REDIS_REPLY_ERROR) {
    broker_error("PUBLISH", r);
    if (op.kind == MessageKind::kDirect)
      node_.report_send_failed(op.tag, TC_SEND_BROKER_ERROR, op.node, op.link, op.name,
                               "Redis refused the message: " + std::string(r->str, r->len));
    return;
  }
  node_.add(TC_COUNTER_PUBLISHED);
  if (op.kind == MessageKind::kDirect && r->type == REDIS_REPLY_INTEGER && r->integer == 0)
    node_.report_send_failed(op.tag, TC_SEND_NODE_GONE, op.node, op.link, op.name,
                             "no node listens on id " + std::to_string(op.node) +
                             (op.name.empty() ? std::string() : " (holder of key '" + op.name + "')") +
                             ": it stopped or died (node ids never repeat), or it is reconnecting "
                             "to Redis; the message was not delivered");
}

bool Publisher::round(std::vector<Op>* ops, std::vector<KeyLink>* sets,
                      std::vector<KeyLink>* clears, std::vector<KeyLink>* refreshes, bool alive) {
  redisContext* c = link_.ctx();
  std::vector<bool> done(ops->size(), false);
  std::string lost;
  if (!resolve_keys(ops, &done)) {
    lost = link_error(c, "GET");
    std::vector<Op> rest;
    for (size_t i = 0; i < ops->size(); ++i)
      if (!done[i]) rest.push_back(std::move((*ops)[i]));
    drop(&rest, TC_COUNTER_DOWN_DROPPED, TC_SEND_DROPPED, "the connection to Redis broke (" + lost + ")");
    ops->clear();
    return false;
  }
  std::string ttl = std::to_string(node_.option(TC_OPT_KEY_TTL_MS));
  std::vector<Pending> pending;
  for (size_t i = 0; i < clears->size(); ++i) {
    std::string key = node_.presence_key((*clears)[i].first);
    std::string value = node_.presence_value((*clears)[i].second);
    redisAppendCommand(c, "EVAL %s 1 %b %b", kClearScript, key.data(), key.size(), value.data(),
                       value.size());
    pending.push_back(Pending{Pending::kClear, i});
  }
  for (size_t i = 0; i < sets->size(); ++i) {
    std::string key = node_.presence_key((*sets)[i].first);
    std::string value = node_.presence_value((*sets)[i].second);
    redisAppendCommand(c, "SET %b %b PX %s", key.data(), key.size(), value.data(), value.size(),
                       ttl.c_str());
    pending.push_back(Pending{Pending::kSet, i});
  }
  for (size_t i = 0; i < refreshes->size(); ++i) {
    std::string key = node_.presence_key((*refreshes)[i].first);
    std::string value = node_.presence_value((*refreshes)[i].second);
    redisAppendCommand(c, "EVAL %s 1 %b %b %s", kRefreshScript, key.data(), key.size(),
                       value.data(), value.size(), ttl.c_str());
    pending.push_back(Pending{Pending::kRefresh, i});
  }
  if (alive) {
    std::string key = node_.alive_key();
    redisAppendCommand(c, "SET %b %b PX %s", key.data(), key.size(), node_.name().data(),
                       node_.name().size(), ttl.c_str());
    pending.push_back(Pending{Pending::kAlive, 0});
  }
  for (size_t i = 0; i < ops->size(); ++i)
    if (!done[i]) append_message((*ops)[i], &pending, i);

  for (size_t p = 0; p < pending.size(); ++p) {
    redisReply* r;
    if (!read_reply(&r)) {
      lost = link_error(c, "reading Redis' replies");
      for (size_t q = p; q < pending.size(); ++q) {
        if (pending[q].kind == Pending::kMessage) unconfirmed((*ops)[pending[q].index], "the connection broke (" + lost + ")");
        // Sets and refreshes are asserted again after the reconnection; a clear would be
        // lost, so it stays for the next round.
        if (pending[q].kind == Pending::kClear) retry_clears_.push_back((*clears)[pending[q].index]);
      }
      ops->clear();
      return false;
    }
    const Pending& pd = pending[p];
    switch (pd.kind) {
      case Pending::kMessage:
        handle_message_reply((*ops)[pd.index], r);
        break;
      case Pending::kRefresh:
        if (r->type == REDIS_REPLY_ERROR) broker_error("EVAL (refresh a presence key)", r);
        else if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
          node_.key_lost((*refreshes)[pd.index].first, (*refreshes)[pd.index].second);
        break;
      case Pending::kClear:
        if (r->type == REDIS_REPLY_ERROR) broker_error("EVAL (clear a presence key)", r);
        break;
      case Pending::kSet:
        if (r->type == REDIS_REPLY_ERROR) broker_error("SET (a presence key)", r);
        break;
      case Pending::kAlive:
        if (r->type == REDIS_REPLY_ERROR) broker_error("SET (the liveness key)", r);
        break;
    }
    freeReplyObject(r);
  }
  ops->clear();
  return true;
}

void Publisher::main() {
  pthread_setname_np(pthread_self(), "tc-publisher");
  node_.library_thread_begins(true);
  const size_t pipeline = static_cast<size_t>(node_.option(TC_OPT_PIPELINE));
  const auto refresh_every = std::chrono::milliseconds(std::max<int64_t>(1, node_.option(TC_OPT_KEY_TTL_MS) / 3));
  Clock::time_point next_alive = Clock::now();
  std::vector<KeyLink> backlog;  // presence keys still to refresh in this cycle
  std::vector<Op> ops;
  std::vector<KeyLink> sets, clears, refreshes;
  bool up = false;

  while (!stop_.load(std::memory_order_acquire)) {
    if (!link_.ctx()) {
      std::string error;
      if (!connect(&error)) {
        auto wait = backoff_.next();
        node_.connection_down(true, error + "; next attempt in " + std::to_string(wait.count()) + " ms");
        wait_dropping(Clock::now() + wait, error);
        continue;
      }
      // A new connection: everything is asserted again (the broker may have lost its data).
      backlog.clear();
      node_.snapshot_keys(&backlog);
      next_alive = Clock::now();
      up = false;
    }

    Clock::time_point now = Clock::now();
    bool alive = now >= next_alive;
    Clock::time_point deadline = (alive || !backlog.empty() || !up) ? now : next_alive;
    if (up) node_.queue().take(&ops, pipeline, deadline);
    if (stop_.load(std::memory_order_acquire)) break;
    node_.take_presence_changes(&sets, &clears);
    clears.insert(clears.end(), retry_clears_.begin(), retry_clears_.end());
    retry_clears_.clear();
    size_t chunk = std::min(backlog.size(), pipeline);
    refreshes.assign(std::make_move_iterator(backlog.end() - static_cast<ptrdiff_t>(chunk)),
                     std::make_move_iterator(backlog.end()));
    backlog.resize(backlog.size() - chunk);
    if (alive) {
      next_alive = now + refresh_every;
      if (backlog.empty()) node_.snapshot_keys(&backlog);  // the next refresh cycle
    }
    if (ops.empty() && sets.empty() && clears.empty() && refreshes.empty() && !alive) continue;

    bool ok = round(&ops, &sets, &clears, &refreshes, alive);
    sets.clear();
    clears.clear();
    refreshes.clear();
    if (ok) {
      if (!up) {
        up = true;
        backoff_.reset();
        if (was_up_) node_.add(TC_COUNTER_RECONNECTS);
        was_up_ = true;
        node_.connection_up(true, "publishing to Redis at " + node_.url().where());
      }
      continue;
    }
    std::string why = link_error(link_.ctx(), "the connection to Redis broke");
    link_.close();
    up = false;
    node_.connection_down(true, why + "; reconnecting");
    wait_dropping(Clock::now(), why);  // what was queued meanwhile cannot be published now
  }
  finish(&ops);
}

void Publisher::finish(std::vector<Op>* ops) {
  std::vector<Op> rest;
  if (!link_.ctx()) {
    node_.queue().take(&rest, SIZE_MAX, Clock::now());
    drop(ops, TC_COUNTER_DOWN_DROPPED, TC_SEND_DROPPED, "the node stopped while Redis was unreachable");
    drop(&rest, TC_COUNTER_DOWN_DROPPED, TC_SEND_DROPPED, "the node stopped while Redis was unreachable");
    return;
  }
  const size_t pipeline = static_cast<size_t>(node_.option(TC_OPT_PIPELINE));
  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(node_.option(TC_OPT_REPLY_TIMEOUT_MS));
  std::vector<KeyLink> none, sets, clears;
  bool ok = true;
  // The rest of the queue, while Redis answers and time remains.
  while (ok && (!ops->empty() || node_.queue().take(ops, pipeline, Clock::now()) > 0)) {
    if (Clock::now() > deadline) break;
    ok = round(ops, &none, &none, &none, false);
  }
  node_.queue().take(&rest, SIZE_MAX, Clock::now());
  rest.insert(rest.begin(), std::make_move_iterator(ops->begin()), std::make_move_iterator(ops->end()));
  ops->clear();
  drop(&rest, TC_COUNTER_DOWN_DROPPED, TC_SEND_DROPPED,
       ok ? "the node stopped before it could publish it" : "the connection broke while the node stopped");
  // Leave: the liveness key and every presence key this node holds, pipelined in rounds.
  if (ok) {
    node_.take_presence_changes(&sets, &clears);  // pending sets are moot: we leave
    clears.insert(clears.end(), retry_clears_.begin(), retry_clears_.end());
    node_.snapshot_keys(&clears);
    redisContext* c = link_.ctx();
    std::string alive = node_.alive_key();
    redisAppendCommand(c, "DEL %b", alive.data(), alive.size());
    size_t written = 1;
    bool broken = false;
    for (size_t i = 0; i <= clears.size() && !broken; ++i) {
      if (i < clears.size()) {
        std::string key = node_.presence_key(clears[i].first);
        std::string value = node_.presence_value(clears[i].second);
        redisAppendCommand(c, "EVAL %s 1 %b %b", kClearScript, key.data(), key.size(),
                           value.data(), value.size());
        ++written;
      }
      if (written < pipeline && i < clears.size()) continue;
      for (; written > 0; --written) {  // a round of replies (the keys expire at their TTL if not)
        redisReply* r;
        if (!read_reply(&r)) {
          broken = true;
          break;
        }
        freeReplyObject(r);
      }
    }
  }
  link_.close();
}

}  // namespace tc
