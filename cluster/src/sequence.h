// Sequence numbers per (publisher, channel): the publishing side hands them out, the receiving
// side finds the numbers that never arrived. Pure, bounded (least recently used entries are
// forgotten), not thread-safe: each instance belongs to one thread (the publishing thread owns
// a SequenceSource, the subscribing thread a SequenceTracker).
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>

namespace tc {

// A map of at most `capacity` entries that forgets the least recently used one.
template <typename Key, typename Value, typename Hash>
class LruMap {
 public:
  explicit LruMap(size_t capacity) : capacity_(capacity ? capacity : 1) {}
  // The entry for key (created with Value{} and *created = true when new), now the most recent.
  Value& touch(const Key& key, bool* created) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      *created = false;
      return it->second->second;
    }
    if (index_.size() >= capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
      ++evicted_;
    }
    order_.emplace_front(key, Value{});
    index_[key] = order_.begin();
    *created = true;
    return order_.front().second;
  }
  size_t size() const { return index_.size(); }
  uint64_t evicted() const { return evicted_; }
  void clear() {
    index_.clear();
    order_.clear();
  }

 private:
  size_t capacity_;
  uint64_t evicted_ = 0;
  std::list<std::pair<Key, Value>> order_;
  std::unordered_map<Key, typename std::list<std::pair<Key, Value>>::iterator, Hash> index_;
};

struct PublisherChannel {
  uint64_t publisher;
  int32_t channel;
  bool operator==(const PublisherChannel& o) const {
    return publisher == o.publisher && channel == o.channel;
  }
};
struct PublisherChannelHash {
  size_t operator()(const PublisherChannel& k) const {
    return static_cast<size_t>(k.publisher * 0x9E3779B97F4A7C15ull) ^ static_cast<size_t>(k.channel);
  }
};
struct U64Hash {
  size_t operator()(uint64_t v) const { return static_cast<size_t>(v * 0x9E3779B97F4A7C15ull); }
};

// The receiving side. observe() is called once per arriving message, in arrival order.
class SequenceTracker {
 public:
  struct Result {
    uint64_t missed = 0;  // numbers skipped just before this one
    bool first = false;   // the first message heard from this (publisher, channel): no gap
                          // is counted, since what it published before may not have been ours
    bool reset = false;   // the number went back (the publisher forgot us, or restarted the
                          // count): taken as a new start, no gap counted
  };
  explicit SequenceTracker(size_t capacity) : last_(capacity) {}
  Result observe(uint64_t publisher, int32_t channel, uint64_t sequence);
  size_t size() const { return last_.size(); }
  void clear() { last_.clear(); }

 private:
  LruMap<PublisherChannel, uint64_t, PublisherChannelHash> last_;
};

// The publishing side: numbers start at 1 on every channel; a direct channel per target node,
// of which at most `capacity` are remembered (a forgotten one starts at 1 again, which the
// receiver takes as a reset).
class SequenceSource {
 public:
  explicit SequenceSource(size_t capacity) : direct_(capacity) {}
  uint64_t next_broadcast() { return ++broadcast_; }
  uint64_t next_topic() { return ++topic_; }
  uint64_t next_direct(uint64_t target_node) {
    bool created;
    return ++direct_.touch(target_node, &created);
  }
  void clear() {
    broadcast_ = topic_ = 0;
    direct_.clear();
  }

 private:
  uint64_t broadcast_ = 0;
  uint64_t topic_ = 0;
  LruMap<uint64_t, uint64_t, U64Hash> direct_;
};

}  // namespace tc
