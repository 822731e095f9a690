// A test double of the backend interface (dll/src/backend/backend.h) for socket-free tests of
// the life of a link, and the fixture that runs a Server on it (Server::start_for_tests): no
// listener, no thread, no socket. The fake records every call the core makes (closing a
// socket and whether with a reset, retiring a link, queueing, close requests, resumes) in
// order, and answers writes from a script. The test thread plays the link's owner worker.
// Used by test_close_state_machine.cpp, test_read_gate.cpp and test_registry.cpp.
#pragma once
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/errors.h"
#include "core/server.h"
#include "core/worker.h"

namespace tstest {

class FakeBackend : public ts::Backend {
 public:
  explicit FakeBackend(ts::Server& server) : server_(server) {}

  // ---- what the core did, in order (one line per call, e.g. "close_socket reset=1") ----
  struct CloseSocketCall {
    ts::Link* link;
    ts::socket_t sock;
    bool reset;
  };
  struct PostCloseCall {
    ts::Link* link;
    uint64_t id;
    int32_t reason;
    bool abort;
  };
  struct ResumeReadingCall {
    ts::Link* link;
    uint64_t id;
  };
  std::vector<CloseSocketCall> close_socket_calls;
  std::vector<ts::Link*> retire_calls;
  std::vector<PostCloseCall> post_close_calls;
  std::vector<ResumeReadingCall> resume_reading_calls;
  std::vector<ts::Link*> queued_calls;
  std::atomic<int> resume_paused_readers_calls{0};  // any thread (the pool's callback)
  int begin_stop_calls = 0;
  int stop_accepting_calls = 0;
  std::string written;  // every byte write_locked accepted, in order
  // One event log shared with the fixture's callbacks, so tests can check the order.
  std::vector<std::string>* events = nullptr;

  // ---- the script ----
  // The answers of the next write_locked calls: bytes taken (>= 0), or -1 with `err`. With the
  // script empty, every write takes everything, or nothing while `socket_full`.
  struct WriteResult {
    long n;
    int err;
  };
  std::deque<WriteResult> write_script;
  bool socket_full = false;
  bool in_flight = false;       // write_in_flight_locked's answer
  int queued_error = 0;         // queued_locked's answer
  bool release_on_retire = true;  // retire hands the link back at once (else the test does)

  // ---- ts::Backend ----
  bool start(ts::socket_t, int, int) override;
  int worker_count() const override { return 0; }
  ts::WorkerCtx* worker(int) override { return nullptr; }
  void stop_accepting() override { ++stop_accepting_calls; }  // DrainTcpServer
  void begin_stop() override { ++begin_stop_calls; }
  bool finish_stop(int) override { return true; }
  long write_locked(ts::Link& link, const ts::ConstBuf* parts, int count, int* err) override;
  int queued_locked(ts::Link& link) override;
  bool write_in_flight_locked(ts::Link&) override { return in_flight; }
  void post_close(ts::Link& link, uint64_t id, int32_t reason, bool abort) override;
  void resume_paused_readers() override;
  void resume_reading(ts::Link& link, uint64_t id) override;
  void close_socket(ts::Link& link, ts::socket_t s, bool reset) override;
  void retire(ts::Link& link, ts::WorkerCtx& w) override;

 private:
  void note(const std::string& event);
  ts::Server& server_;
  std::mutex mu_;  // events (resume_paused_readers may come from another thread)
};

// The recv of Server::read_until_blocked, from a script: each call takes the next answer
// (bytes, 0 = end of stream, or -1 with an error, 0 = would block) and counts itself.
struct ScriptedRecv {
  struct Answer {
    std::string bytes;  // delivered when n > 0 (n = bytes.size())
    long n;
    int err;
  };
  static Answer data(std::string bytes) {
    long n = static_cast<long>(bytes.size());
    return {std::move(bytes), n, 0};
  }
  static Answer eof() { return {{}, 0, 0}; }
  static Answer would_block() { return {{}, -1, 0}; }
  static Answer error(int err) { return {{}, -1, err}; }

  std::deque<Answer> answers;
  Answer otherwise = would_block();  // once the script ran out
  int calls = 0;

  ts::RecvResult operator()(uint8_t* buf, size_t size);
};

// A Server with callbacks that record, on a FakeBackend, started by start_for_tests with
// small sizes (8 links, 16 buffers of 256 bytes, 1 worker, so a reserve of 1 buffer, no idle
// timeout). A fixture derived from it sets other options in Configure(). The test thread is
// the owner worker (`w`). TearDown closes what a test left open and checks that every pool
// buffer came back and nothing is still counted against the memory budget.
class LinkLifeTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kBufferSize = 256;
  static constexpr uint32_t kBufferCount = 16;

  void SetUp() override;
  void TearDown() override;
  virtual void Configure() {}  // more options (set_option), before the server starts
  void set_option(int32_t id, int64_t value);

  // A link as a backend makes one for an accepted connection: Server::accept_link with a
  // made-up socket handle and 127.0.0.1 (not yet open), then open_link (OnConnect done).
  ts::Link* accept();
  ts::Link* open();
  // Queues a pool buffer of `len` bytes (filled with `fill`) on the link, as the send path
  // does with what the socket did not take. Returns the buffer.
  ts::IoBuf* queue_buffer(ts::Link& link, uint32_t len, char fill = 'q');
  // Takes pool buffers (as the application's GetIOMem would) until the pool is low.
  void drain_pool_to_low();
  void give_back_pool_buffers();  // what drain_pool_to_low took
  int64_t counter(int32_t which) const { return server->counter(which); }
  uint32_t pool_free() { return server->pool().free_count(); }
  size_t count_events(const std::string& event) const;

  std::unique_ptr<ts::Server> server;
  FakeBackend* backend = nullptr;  // owned by the server
  ts::WorkerCtx w;
  std::vector<std::string> events;  // backend calls and callbacks, in order

  // What the callbacks saw.
  struct Disconnect {
    uint64_t id;
    int32_t reason;
    int32_t error;
    bool idle;  // OnLinkIdleOvertime rather than OnDisconnect
  };
  std::vector<Disconnect> disconnects;
  std::string received;  // every byte OnReceive got
  int receives = 0;
  // What OnReceive / OnConnect answer, and an action OnReceive runs (e.g. CloseLink).
  int32_t receive_result = 1;
  int32_t connect_result = 1;
  std::function<void(ts::Link& link)> on_receive_action;

 private:
  static int32_t TS_CALL on_connect(void* ctx, TcpLink* link);
  static int32_t TS_CALL on_receive(void* ctx, TcpLink* link, uint8_t* buf, int32_t len);
  static void TS_CALL on_disconnect(void* ctx, TcpLink* link);
  static void TS_CALL on_idle(void* ctx, TcpLink* link);
  std::vector<ts::IoBuf*> taken_;
  int next_socket_ = 0;
};

// A link for a made-up connection from 127.0.0.1, as a backend's accept makes one
// (Server::accept_link): socket handle number `n` of a range no open socket has (the socket
// options the core sets on it fail harmlessly; the fake backend only records it when the core
// closes it). Not open yet: Server::open_link does that. nullptr (a test failure) if refused.
ts::Link* accept_fake_connection(ts::Server& server, int n);

// OS error codes for the tests: one the core takes for a reset, one it does not.
int reset_error();
int other_error();

}  // namespace tstest
