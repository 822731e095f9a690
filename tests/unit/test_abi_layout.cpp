// The ABI contract bindings rely on: run-time version equals the header's, GetAbiLayout()
// describes TcpLink/TcpWorker exactly as this compiler lays them out, and the link record's
// fields hold what the header says during callbacks.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include "support/blocking_client.h"
#include "support/server_fixture.h"
#include "support/wait.h"

using namespace tstest;
using namespace std::chrono_literals;

namespace {

std::map<std::string, std::string> parse_layout(const char* text) {
  std::map<std::string, std::string> out;
  std::stringstream ss(text ? text : "");
  std::string item;
  while (std::getline(ss, item, ';')) {
    auto eq = item.find('=');
    if (eq != std::string::npos) out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

TEST(AbiLayout, VersionMatchesTheHeader) {
  EXPECT_EQ(GetVersion(), TCPSERVER_VERSION_NUMBER);
  EXPECT_EQ(GetTcpServerVersion(), TCPSERVER_VERSION_NUMBER);  // the name Windows C code uses
  const std::string text = GetVersionText() ? GetVersionText() : "";
  const std::string dotted = std::to_string(TCPSERVER_VERSION_MAJOR) + "." +
                             std::to_string(TCPSERVER_VERSION_MINOR) + "." +
                             std::to_string(TCPSERVER_VERSION_PATCH);
  EXPECT_NE(text.find(dotted), std::string::npos) << text;
}

TEST(AbiLayout, DescribesTheRecordsAsThisCompilerLaysThemOut) {
  auto layout = parse_layout(GetAbiLayout());
  const std::map<std::string, size_t> expected = {
      {"ptr", sizeof(void*)},
      {"TcpLink.size", sizeof(TcpLink)},
      {"TcpLink.Data", offsetof(TcpLink, Data)},
      {"TcpLink.Worker", offsetof(TcpLink, Worker)},
      {"TcpLink.Id", offsetof(TcpLink, Id)},
      {"TcpLink.RemoteIP", offsetof(TcpLink, RemoteIP)},
      {"TcpLink.RemotePort", offsetof(TcpLink, RemotePort)},
      {"TcpLink.TickCountActive", offsetof(TcpLink, TickCountActive)},
      {"TcpLink.CloseReason", offsetof(TcpLink, CloseReason)},
      {"TcpLink.CloseError", offsetof(TcpLink, CloseError)},
      {"TcpWorker.size", sizeof(TcpWorker)},
      {"TcpWorker.Data", offsetof(TcpWorker, Data)},
      {"TcpWorker.ID", offsetof(TcpWorker, ID)},
      {"TcpWorker.Index", offsetof(TcpWorker, Index)},
      {"TcpWorker.IsWorkerThread", offsetof(TcpWorker, IsWorkerThread)},
  };
  for (const auto& [key, value] : expected) {
    auto it = layout.find(key);
    ASSERT_NE(it, layout.end()) << "GetAbiLayout() does not mention " << key << ": " << GetAbiLayout();
    EXPECT_EQ(it->second, std::to_string(value)) << key;
  }
  ASSERT_NE(layout.find("version"), layout.end());
  EXPECT_EQ(layout["version"], std::to_string(TCPSERVER_VERSION_NUMBER));
}

TEST(AbiLayout, CloseReasonsHaveTexts) {
  std::set<std::string> texts;
  for (int r = TS_CLOSE_NONE; r <= TS_CLOSE_ERROR; ++r) {
    const char* t = GetCloseReasonText(r);
    ASSERT_NE(t, nullptr);
    EXPECT_STRNE(t, "") << r;
    texts.insert(t);
  }
  EXPECT_EQ(texts.size(), static_cast<size_t>(TS_CLOSE_ERROR + 1)) << "two reasons share a text";
  ASSERT_NE(GetCloseReasonText(12345), nullptr);
}

// ---- The link record during callbacks ----

struct Seen {
  std::string remote_ip;
  uint32_t remote_port = 0;
  void* data_at_connect = reinterpret_cast<void*>(1);
  bool worker_set = false;
  int reason_at_connect = -1;
  uint32_t tick_at_connect = 0;
  uint32_t tick_now = 0;
  uint32_t tick_at_receive = 0;
  uint32_t tick_now_at_receive = 0;
  int reason_at_disconnect = -1;
  int error_at_disconnect = -1;
};
std::mutex g_mu;
Seen g_seen;
std::atomic<int> g_events{0};

int32_t TS_CALL seen_connect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_seen.remote_ip = link->RemoteIP;
  g_seen.remote_port = link->RemotePort;
  g_seen.data_at_connect = link->Data;
  g_seen.worker_set = link->Worker != nullptr;
  g_seen.reason_at_connect = link->CloseReason;
  g_seen.tick_at_connect = link->TickCountActive;
  g_seen.tick_now = GetTickCount32();
  g_events++;
  return 1;
}
int32_t TS_CALL seen_receive(TcpLink* link, uint8_t*, int32_t) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_seen.tick_at_receive = link->TickCountActive;
  g_seen.tick_now_at_receive = GetTickCount32();
  g_events++;
  return 1;
}
void TS_CALL seen_disconnect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_seen.reason_at_disconnect = link->CloseReason;
  g_seen.error_at_disconnect = link->CloseError;
  g_events++;
}

class LinkRecordTest : public ServerTest {};

TEST_F(LinkRecordTest, FieldsHoldWhatTheHeaderSays) {
  g_seen = Seen{};
  g_events = 0;
  SetEventProc(seen_receive, seen_disconnect, nullptr, nullptr, nullptr);
  ASSERT_EQ(SetConnectProc(seen_connect), 1);
  ASSERT_NO_FATAL_FAILURE(start_server());
  BlockingClient client;
  ASSERT_TRUE(client.connect(port_));
  const uint16_t client_port = client.local_port();
  ASSERT_TRUE(client.send_all("x"));
  ASSERT_TRUE(wait_until([] { return g_events.load() == 2; }, 5s));
  client.close();
  ASSERT_TRUE(wait_until([] { return g_events.load() == 3; }, 5s));

  std::lock_guard<std::mutex> lock(g_mu);
  EXPECT_EQ(g_seen.remote_ip, "127.0.0.1");
  EXPECT_EQ(g_seen.remote_port, client_port);
  EXPECT_EQ(g_seen.data_at_connect, nullptr) << "Data of a new link must be NULL";
  EXPECT_TRUE(g_seen.worker_set) << "Link->Worker is NULL in OnConnect";
  EXPECT_EQ(g_seen.reason_at_connect, TS_CLOSE_NONE);
  EXPECT_LE(g_seen.tick_now - g_seen.tick_at_connect, 2000u) << "TickCountActive is not the accept time";
  EXPECT_LE(g_seen.tick_now_at_receive - g_seen.tick_at_receive, 1000u)
      << "TickCountActive is not the last receive";
  EXPECT_EQ(g_seen.reason_at_disconnect, TS_CLOSE_PEER_CLOSED) << GetCloseReasonText(g_seen.reason_at_disconnect);
  EXPECT_EQ(g_seen.error_at_disconnect, 0);
}

}  // namespace
