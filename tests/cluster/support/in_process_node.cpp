// In-process server + node for the cluster tests (see in_process_node.h). The test's thread;
// the static callbacks on engine and library threads.
#include "in_process_node.h"

#include "support/wait.h"

#include <cstdio>
#include <cstring>
#include <thread>

namespace tctest {

using Clock = std::chrono::steady_clock;

InProcessNode::~InProcessNode() { destroy(); }

bool InProcessNode::create(const std::string& url, std::string* error,
                           const std::map<int32_t, int64_t>& options, const char* prefix) {
  server_ = CreateTcpServer(this);
  if (!server_) return *error = GetLastErrorText(), false;
  TcpServerSetOption(server_, TS_OPT_WORKER_THREADS, 1);
  node_ = TcpClusterCreate(server_, url.c_str(), prefix, "test-node", this);
  if (!node_) return *error = TcpClusterGetLastErrorText(), false;
  for (const auto& kv : options)
    if (!TcpClusterSetOption(node_, kv.first, kv.second))
      return *error = TcpClusterGetLastErrorText(), false;
  if (!TcpClusterSetEventProc(node_, on_receive, on_disconnect, on_idle, nullptr, nullptr) ||
      !TcpClusterSetConnectProc(node_, on_connect) ||
      !TcpClusterSetClusterProc(node_, on_topic, on_send_failed, on_gap, on_state))
    return *error = TcpClusterGetLastErrorText(), false;
  return true;
}

bool InProcessNode::start(std::string* error) {
  if (!TcpClusterStart(node_)) return *error = TcpClusterGetLastErrorText(), false;
  if (!TcpServerStart(server_, "127.0.0.1", 0)) return *error = GetLastErrorText(), false;
  port_ = static_cast<uint16_t>(TcpServerGetPort(server_));
  return true;
}

void InProcessNode::destroy() {
  if (server_) TcpServerStop(server_, -1);
  if (node_) TcpClusterDestroy(node_);
  if (server_) DestroyTcpServer(server_);
  node_ = nullptr;
  server_ = nullptr;
}

bool InProcessNode::wait_state(int32_t state, std::chrono::milliseconds timeout) {
  return wait_until([&] { return TcpClusterGetState(node_) == state; }, timeout);
}

bool InProcessNode::wait_reported_state(int32_t state, std::chrono::milliseconds timeout) {
  return wait_until([&] { return [&] {
    for (const auto& s : states())
      if (s.first == state) return true;
    return false;
  }(); }, timeout);
}

bool InProcessNode::wait_counter(int32_t which, int64_t at_least, std::chrono::milliseconds timeout) {
  return wait_until([&] { return counter(which) >= at_least; }, timeout);
}

bool InProcessNode::wait_failures(size_t n, std::chrono::milliseconds timeout) {
  return wait_until([&] { return failures().size() >= n; }, timeout);
}

bool InProcessNode::wait_topics(size_t n, std::chrono::milliseconds timeout) {
  return wait_until([&] { return topics().size() >= n; }, timeout);
}

std::vector<TopicMessage> InProcessNode::topics() {
  std::lock_guard<std::mutex> lock(mu_);
  return topics_;
}
std::vector<SendFailure> InProcessNode::failures() {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}
std::vector<std::pair<int32_t, std::string>> InProcessNode::states() {
  std::lock_guard<std::mutex> lock(mu_);
  return states_;
}

int32_t TS_CALL InProcessNode::on_receive(void* ctx, TcpLink* link, uint8_t* buf, int32_t len) {
  (void)ctx;
  if (len == 3 && std::memcmp(buf, "ID\n", 3) == 0) {
    char text[64];
    int n = std::snprintf(text, sizeof text, "ID %llu\n", (unsigned long long)link->Id);
    SendBuffer(link, text, n);
  }
  return 1;
}
int32_t TS_CALL InProcessNode::on_connect(void* ctx, TcpLink*) {
  static_cast<InProcessNode*>(ctx)->connects++;
  return 1;
}
void TS_CALL InProcessNode::on_disconnect(void* ctx, TcpLink*) {
  static_cast<InProcessNode*>(ctx)->disconnects++;
}
void TS_CALL InProcessNode::on_idle(void* ctx, TcpLink*) {
  static_cast<InProcessNode*>(ctx)->idles++;
}
void TC_CALL InProcessNode::on_topic(void* ctx, const char* topic, uint64_t publisher,
                                     const uint8_t* data, int32_t len) {
  auto* self = static_cast<InProcessNode*>(ctx);
  TopicMessage m{topic, publisher, std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(len))};
  if (self->topic_hook) self->topic_hook(m);
  std::lock_guard<std::mutex> lock(self->mu_);
  self->topics_.push_back(std::move(m));
}
void TC_CALL InProcessNode::on_send_failed(void* ctx, uint64_t tag, int32_t reason, uint64_t node,
                                           uint64_t link, const char* key, const char* text) {
  auto* self = static_cast<InProcessNode*>(ctx);
  std::lock_guard<std::mutex> lock(self->mu_);
  self->failures_.push_back(SendFailure{tag, reason, node, link, key, text});
}
void TC_CALL InProcessNode::on_gap(void* ctx, uint64_t, int32_t, int64_t missed) {
  static_cast<InProcessNode*>(ctx)->gap_total_ += missed;
}
void TC_CALL InProcessNode::on_state(void* ctx, int32_t state, const char* text) {
  auto* self = static_cast<InProcessNode*>(ctx);
  if (self->state_hook) self->state_hook(state);
  std::lock_guard<std::mutex> lock(self->mu_);
  self->states_.emplace_back(state, text);
}

}  // namespace tctest
