// A server with a cluster node inside the test process, for the tests that need the node's
// counters and callbacks at hand (several of them share the process: each has its own server
// from CreateTcpServer). It records what the node's callbacks report. The server answers
// "ID\n" with "ID <link id>\n" and ignores other input. Called by the test's thread; the
// callbacks run on engine and library threads.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tcpcluster.h"

namespace tctest {

struct SendFailure {
  uint64_t tag;
  int32_t reason;
  uint64_t node;
  uint64_t link;
  std::string key;
  std::string text;
};

struct TopicMessage {
  std::string topic;
  uint64_t publisher;
  std::string data;
};

class InProcessNode {
 public:
  InProcessNode() = default;
  ~InProcessNode();
  InProcessNode(const InProcessNode&) = delete;
  InProcessNode& operator=(const InProcessNode&) = delete;

  // Creates the server and its node (options before the start). False with *error.
  bool create(const std::string& url, std::string* error,
              const std::map<int32_t, int64_t>& options = {}, const char* prefix = nullptr);
  // Starts the node, then the server on 127.0.0.1 (ephemeral port).
  bool start(std::string* error);
  // Stops the server, destroys the node and the server.
  void destroy();

  TcpServerHandle* server() const { return server_; }
  TcpClusterNode* node() const { return node_; }
  uint64_t id() const { return TcpClusterGetNodeId(node_); }
  uint16_t port() const { return port_; }
  int64_t counter(int32_t which) const { return TcpClusterGetCounter(node_, which); }
  // Waits until the node is in `state` (TcpClusterGetState).
  bool wait_state(int32_t state, std::chrono::milliseconds timeout);
  // Waits until OnState has reported `state` (it runs just after the state changes).
  bool wait_reported_state(int32_t state, std::chrono::milliseconds timeout);
  bool wait_counter(int32_t which, int64_t at_least, std::chrono::milliseconds timeout);
  // Waits until OnSendFailed has recorded at least n failures.
  bool wait_failures(size_t n, std::chrono::milliseconds timeout);
  // Waits until OnTopic has recorded at least n messages.
  bool wait_topics(size_t n, std::chrono::milliseconds timeout);

  // Runs inside OnTopic (on the subscribing thread for other nodes' messages) before the
  // message is recorded; a test may block it to make a slow subscriber.
  std::function<void(const TopicMessage&)> topic_hook;
  // Runs inside OnState, before the state is recorded.
  std::function<void(int32_t)> state_hook;

  // What the callbacks saw.
  std::atomic<int> connects{0}, disconnects{0}, idles{0};
  std::vector<TopicMessage> topics();
  std::vector<SendFailure> failures();
  std::vector<std::pair<int32_t, std::string>> states();
  int64_t gap_total() const { return gap_total_.load(); }

 private:
  static int32_t TS_CALL on_receive(void* ctx, TcpLink* link, uint8_t* buf, int32_t len);
  static int32_t TS_CALL on_connect(void* ctx, TcpLink* link);
  static void TS_CALL on_disconnect(void* ctx, TcpLink* link);
  static void TS_CALL on_idle(void* ctx, TcpLink* link);
  static void TC_CALL on_topic(void* ctx, const char* topic, uint64_t publisher,
                               const uint8_t* data, int32_t len);
  static void TC_CALL on_send_failed(void* ctx, uint64_t tag, int32_t reason, uint64_t node,
                                     uint64_t link, const char* key, const char* text);
  static void TC_CALL on_gap(void* ctx, uint64_t publisher, int32_t channel, int64_t missed);
  static void TC_CALL on_state(void* ctx, int32_t state, const char* text);

  TcpServerHandle* server_ = nullptr;
  TcpClusterNode* node_ = nullptr;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<TopicMessage> topics_;
  std::vector<SendFailure> failures_;
  std::vector<std::pair<int32_t, std::string>> states_;
  std::atomic<int64_t> gap_total_{0};
};

}  // namespace tctest
