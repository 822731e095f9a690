// The publishing side of a node: ONE thread and ONE connection to Redis. It takes the queued
// remote parts in batches and writes them pipelined (TC_OPT_PIPELINE commands, then their
// replies), resolves sends to keys (GET, then PUBLISH to the holder's node), numbers every
// message per (publisher, channel), keeps the liveness key and the presence keys alive, drops
// and counts what cannot be published, and reconnects with backoff and jitter. Owns its thread,
// its RedisLink and its SequenceSource; everything else is the Node's.
//
// Threads: start() and stop() by the Node (lifecycle); the rest on its own thread.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "backoff.h"
#include "node.h"
#include "redis_link.h"
#include "sequence.h"

namespace tc {

class Publisher {
 public:
  explicit Publisher(Node& node);
  ~Publisher();
  // Starts the thread (std::system_error if it cannot) and returns its id.
  std::thread::id start();
  // Publishes what is queued (for at most TC_OPT_REPLY_TIMEOUT_MS), deletes the node's keys,
  // and joins the thread.
  void stop();

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending;  // one command written, its reply not yet read

  void main();
  bool connect(std::string* error);
  // Writes one pipelined round: presence changes, refreshes due, the liveness key when due,
  // the messages in ops. False when the connection broke (what had no reply is accounted).
  bool round(std::vector<Op>* ops, std::vector<KeyLink>* sets, std::vector<KeyLink>* clears,
             std::vector<KeyLink>* refreshes, bool alive);
  // Resolves the sends to keys among ops (pipelined GETs); failed ones are reported and
  // marked done. False when the connection broke.
  bool resolve_keys(std::vector<Op>* ops, std::vector<bool>* done);
  bool read_reply(struct redisReply** reply);
  void append_message(const Op& op, std::vector<Pending>* pending, size_t index);
  void handle_message_reply(const Op& op, struct redisReply* r);
  // Accounting of ops that never reached Redis / whose reply never came.
  void drop(std::vector<Op>* ops, int32_t counter, int32_t reason, const std::string& why);
  void unconfirmed(const Op& op, const std::string& why);
  void broker_error(const char* what, struct redisReply* r);
  // Waits until `until` (or stop), dropping whatever is queued meanwhile.
  void wait_dropping(Clock::time_point until, const std::string& why);
  // Leaves: ops and the rest of the queue, then DEL of the liveness and presence keys.
  void finish(std::vector<Op>* ops);

  Node& node_;
  RedisLink link_;
  SequenceSource seq_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  Backoff backoff_;
  bool was_up_ = false;  // a connection existed before (for TC_COUNTER_RECONNECTS)
  std::string encoded_;  // scratch for encode_message
  std::string last_error_logged_;
  std::vector<KeyLink> retry_clears_;  // clears whose reply never came: sent again
};

}  // namespace tc
