// The subscribing thread of a node (see subscriber.h). Its own thread, except start() and
// stop().
#include "subscriber.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>

#include "message.h"
#include "tcpcluster.h"

namespace tc {

Subscriber::Subscriber(Node& node)
    : node_(node),
      tracker_(static_cast<size_t>(node.option(TC_OPT_MAX_PUBLISHERS))),
      backoff_(node.option(TC_OPT_RECONNECT_MIN_MS), node.option(TC_OPT_RECONNECT_MAX_MS),
               static_cast<uint64_t>(std::random_device{}()) ^ (node.id() * 31)) {}

Subscriber::~Subscriber() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::thread::id Subscriber::start() {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  thread_ = std::thread([this] { main(); });
  return thread_.get_id();
}

void Subscriber::stop() {
  stop_.store(true, std::memory_order_release);
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t n = ::write(wake_fd_, &one, sizeof one);
    (void)n;  // an eventfd counter cannot overflow from this
  }
  link_.interrupt();  // a connect or subscribe in progress returns at once
  if (thread_.joinable()) thread_.join();
}

bool Subscriber::sleep_until(Clock::time_point until) {
  while (!stop_.load(std::memory_order_acquire)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return true;
    pollfd p{wake_fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
  }
  return false;
}

bool Subscriber::subscribe(std::string* error) {
  int timeout = static_cast<int>(node_.option(TC_OPT_REPLY_TIMEOUT_MS));
  if (!link_.open(node_.url(), timeout, false, error)) return false;
  redisContext* c = link_.ctx();
  std::string channels[3] = {node_.broadcast_channel(), node_.topic_channel(),
                             node_.node_channel(node_.id())};
  redisAppendCommand(c, "SUBSCRIBE %b %b %b", channels[0].data(), channels[0].size(),
                     channels[1].data(), channels[1].size(), channels[2].data(), channels[2].size());
  for (int i = 0; i < 3; ++i) {
    void* reply = nullptr;
    if (redisGetReply(c, &reply) != REDIS_OK || !reply) {
      *error = "subscribing at Redis " + node_.url().where() + ": " + link_error(c, "SUBSCRIBE");
      link_.close();
      return false;
    }
    redisReply* r = static_cast<redisReply*>(reply);
    bool ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
              r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len == 9 &&
              std::memcmp(r->element[0]->str, "subscribe", 9) == 0;
    if (!ok)
      *error = "Redis " + node_.url().where() + " refused SUBSCRIBE" +
               (r->type == REDIS_REPLY_ERROR ? ": " + std::string(r->str, r->len) : std::string());
    freeReplyObject(r);
    if (!ok) {
      link_.close();
      return false;
    }
  }
  return true;
}

void Subscriber::handle(redisReply* r) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING)
    return;
  const redisReply* kind = r->element[0];
  if (kind->len != 7 || std::memcmp(kind->str, "message", 7) != 0 || r->elements != 3) return;  // pong
  const redisReply* payload = r->element[2];
  Message m;
  if (payload->type != REDIS_REPLY_STRING ||
      !decode_message(reinterpret_cast<const uint8_t*>(payload->str), payload->len, &m)) {
    node_.add(TC_COUNTER_BAD_MESSAGES);
    return;
  }
  if (m.publisher == node_.id()) {  // our own broadcast or topic, delivered locally already
    node_.add(TC_COUNTER_ECHOES);
    return;
  }
  SequenceTracker::Result seq = tracker_.observe(m.publisher, channel_of(m.kind), m.sequence);
  if (seq.reset) node_.add(TC_COUNTER_SEQ_RESETS);
  if (seq.missed) node_.report_gap(m.publisher, channel_of(m.kind), seq.missed);
  node_.deliver_remote(m);
}

std::string Subscriber::serve() {
  redisContext* c = link_.ctx();
  const auto ping_every = std::chrono::milliseconds(node_.option(TC_OPT_PING_INTERVAL_MS));
  const auto give_up = std::chrono::milliseconds(node_.option(TC_OPT_REPLY_TIMEOUT_MS));
  Clock::time_point last_heard = Clock::now();
  bool ping_out = false;
  while (!stop_.load(std::memory_order_acquire)) {
    void* reply = nullptr;
    while (true) {  // everything already read
      if (redisGetReplyFromReader(c, &reply) != REDIS_OK)
        return link_error(c, "reading from Redis");
      if (!reply) break;
      handle(static_cast<redisReply*>(reply));
      freeReplyObject(reply);
      last_heard = Clock::now();
      ping_out = false;
    }
    Clock::time_point now = Clock::now();
    if (now - last_heard >= give_up)
      return "Redis sent nothing, not even a PING reply, for " +
             std::to_string(give_up.count()) + " ms (TC_OPT_REPLY_TIMEOUT_MS)";
    if (!ping_out && now - last_heard >= ping_every) {
      redisAppendCommand(c, "PING");
      int done = 0;
      while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK) return link_error(c, "PING");
      ping_out = true;
    }
    Clock::time_point wake = ping_out ? last_heard + give_up : last_heard + ping_every;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1;
    pollfd fds[2] = {{c->fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(std::max<int64_t>(1, wait)));
    if (n < 0 && errno != EINTR) return std::string("poll: ") + std::strerror(errno);
    if (fds[1].revents) break;  // stop
    if (fds[0].revents && redisBufferRead(c) != REDIS_OK)
      return link_error(c, "reading from Redis");
  }
  return std::string();
}

void Subscriber::main() {
  pthread_setname_np(pthread_self(), "tc-subscriber");
  node_.library_thread_begins(false);
  while (!stop_.load(std::memory_order_acquire)) {
    std::string error;
    if (!subscribe(&error)) {
      if (stop_.load(std::memory_order_acquire)) break;
      auto wait = backoff_.next();
      node_.connection_down(false, error + "; next attempt in " + std::to_string(wait.count()) + " ms");
      sleep_until(Clock::now() + wait);
      continue;
    }
    backoff_.reset();
    if (was_up_) node_.add(TC_COUNTER_RECONNECTS);
    was_up_ = true;
    node_.connection_up(false, "subscribed at Redis " + node_.url().where());
    std::string lost = serve();
    link_.close();
    if (stop_.load(std::memory_order_acquire)) break;
    node_.connection_down(false, "lost the subscription: " + lost + "; subscribing again");
  }
  link_.close();
}

}  // namespace tc
