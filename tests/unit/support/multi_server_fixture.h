// For tests of several servers in one process (the TcpServer* family): a per-server record
// that is the server's Context, Ex callbacks that check they got it, and a fixture that
// destroys every server a test created.
#pragma once
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "support/multi_client.h"
#include "support/server_fixture.h"
#include "tcpserver.h"

namespace tstest {

struct ServerCtx;

// What OnServerThreadCreate / OnWorkerThreadCreate returned: the thread and its server.
struct ThreadRecord {
  ServerCtx* owner = nullptr;
  unsigned created_on = 0;
  int is_worker = -1;
  std::atomic<int> exits{0};
  std::atomic<int> exited_elsewhere{0};  // OnThreadExit ran on another thread
};

// One server's Context: the Ex callbacks count what they see here, and flag anything that
// belongs to another server.
struct ServerCtx {
  explicit ServerCtx(std::string n) : name(std::move(n)) {}
  std::string name;
  TcpServerHandle* handle = nullptr;
  int32_t buffer_size = 2048;
  bool echo_with_pool = true;  // OnReceive echoes through TcpServerGetIOMem + PostSend

  std::atomic<int> connects{0};
  std::atomic<int> receives{0};
  std::atomic<int> disconnects{0};
  std::atomic<int> idles{0};
  std::atomic<int> max_len{0};           // longest OnReceive
  std::atomic<int> foreign_worker{0};    // Link->Worker->Data is not a thread of this server
  std::atomic<int> send_failed{0};
  std::atomic<int> foreign_thread_exit{0};  // OnThreadExit got another server's (or no) data
  std::atomic<int> last_close_reason{-1};

  std::mutex mu;
  std::vector<std::unique_ptr<ThreadRecord>> threads;
  std::vector<uint64_t> ids;               // every OnConnect, in order
  std::vector<std::pair<uint16_t, uint64_t>> id_by_port;  // (client port, link id)
  std::vector<TcpLink*> open_links;        // between OnConnect and OnDisconnect

  bool owns_thread_data(const void* data);
  uint64_t id_of_port(uint16_t port);
  // The ids OnConnect has seen so far, read under `mu`: OnConnect may run on a worker while
  // a test reads them (a link accepted late, or one of another test step).
  std::set<uint64_t> id_set();
  TcpLink* any_open_link();
  int threads_of_kind(int is_worker);
  int thread_exits_of_kind(int is_worker);
};

// The Ex callbacks; each takes its ServerCtx as Context.
void* TS_CALL ctx_thread_create(void* context, int32_t is_worker);
void TS_CALL ctx_thread_exit(void* context, int32_t is_worker, void* data);
int32_t TS_CALL ctx_connect(void* context, TcpLink* link);
int32_t TS_CALL ctx_receive(void* context, TcpLink* link, uint8_t* buf, int32_t len);
void TS_CALL ctx_disconnect(void* context, TcpLink* link);
void TS_CALL ctx_idle(void* context, TcpLink* link);

// Pattern streams through an echo: connection i of `clients` sends `bytes_per_link` bytes of
// stream seed_base + i (0 = until stop_sending()) and checks every byte that comes back.
class EchoStreams {
 public:
  EchoStreams(MultiClient& clients, uint64_t seed_base, uint64_t bytes_per_link);
  void stop_sending() { stopped_ = true; }
  // Every byte sent has come back (or a connection ended, which all_verified reports).
  bool finished() const;
  ::testing::AssertionResult all_verified() const;
  uint64_t bytes_sent() const;

 private:
  MultiClient& clients_;
  uint64_t limit_;
  bool stopped_ = false;
  std::vector<uint64_t> sent_;
  std::vector<uint64_t> bad_;  // offset of the first wrong byte, UINT64_MAX if none
};

// Pumps both clients until done() or the timeout; returns done().
bool pump_both(MultiClient& a, MultiClient& b, const std::function<bool()>& done,
               std::chrono::milliseconds timeout);

class MultiServerTest : public ServerTest {
 protected:
  void TearDown() override;
  // A Context record that outlives every server of the test (TearDown destroys them first).
  ServerCtx& add(const std::string& name);
  // CreateTcpServer(&ctx) with every Ex callback and the given options; remembers it for
  // TearDown. Use with ASSERT_NO_FATAL_FAILURE.
  void create(ServerCtx& ctx, std::initializer_list<std::pair<int32_t, int64_t>> options = {});
  // TcpServerStart on 127.0.0.1, an ephemeral port; returns the port.
  uint16_t start(ServerCtx& ctx);
  // DestroyTcpServer, and forget the handle.
  void destroy(ServerCtx& ctx);

  std::vector<TcpServerHandle*> handles_;
  std::vector<std::unique_ptr<ServerCtx>> contexts_;
};

}  // namespace tstest
