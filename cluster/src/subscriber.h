// The subscribing side of a node: ONE thread and ONE connection to Redis, subscribed to the
// cluster's broadcast and topic channels and to this node's own channel. It reads messages,
// drops its own echo, counts sequence gaps per (publisher, channel) and hands every message to
// the Node for local delivery; it pings a silent connection and reconnects (backoff with
// jitter) when Redis closes it (a slow subscriber over Redis' output-buffer limit) or stops
// answering. Owns its thread, its RedisLink, its SequenceTracker and a wake-up eventfd.
//
// Threads: start() and stop() by the Node (lifecycle); the rest on its own thread.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "backoff.h"
#include "node.h"
#include "redis_link.h"
#include "sequence.h"

namespace tc {

class Subscriber {
 public:
  explicit Subscriber(Node& node);
  ~Subscriber();
  std::thread::id start();  // std::system_error if the thread or eventfd cannot be made
  void stop();              // wakes the thread and joins it

 private:
  using Clock = std::chrono::steady_clock;
  void main();
  // Connects and subscribes; false with *error.
  bool subscribe(std::string* error);
  // Reads and delivers until the connection is lost (returns its reason) or stop.
  std::string serve();
  void handle(struct redisReply* r);
  // Sleeps until `until`, or less when stopped. False when stopped.
  bool sleep_until(Clock::time_point until);

  Node& node_;
  RedisLink link_;
  SequenceTracker tracker_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  int wake_fd_ = -1;
  Backoff backoff_;
  bool was_up_ = false;
};

}  // namespace tc
