// The fake backend and the LinkLifeTest fixture (see fake_backend.h). The test's own thread
// calls everything here; only resume_paused_readers may also come from a thread that returns
// a pool buffer.
#include "fake_backend.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "platform/socket.h"

namespace tstest {

// ------------------------------------------------------------------------------------------
// FakeBackend
// ------------------------------------------------------------------------------------------

bool FakeBackend::start(ts::socket_t, int, int) {
  ADD_FAILURE() << "Server::start_for_tests must not start the backend";
  return false;
}

void FakeBackend::note(const std::string& event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (events) events->push_back(event);
}

long FakeBackend::write_locked(ts::Link& link, const ts::ConstBuf* parts, int count, int* err) {
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += parts[i].len;
  WriteResult r{socket_full ? 0 : static_cast<long>(total), 0};
  if (!write_script.empty()) {
    r = write_script.front();
    write_script.pop_front();
  }
  note("write_locked");
  if (r.n < 0) {
    *err = r.err;
    return -1;
  }
  size_t left = std::min(static_cast<size_t>(r.n), total);
  for (int i = 0; i < count && left > 0; ++i) {
    size_t take = std::min(left, parts[i].len);
    written.append(reinterpret_cast<const char*>(parts[i].data), take);
    left -= take;
  }
  return static_cast<long>(std::min(static_cast<size_t>(r.n), total));
}

int FakeBackend::queued_locked(ts::Link& link) {
  queued_calls.push_back(&link);
  note("queued_locked");
  return queued_error;
}

void FakeBackend::post_close(ts::Link& link, uint64_t id, int32_t reason, bool abort) {
  post_close_calls.push_back({&link, id, reason, abort});
  note("post_close reason=" + std::to_string(reason) + " abort=" + std::to_string(abort));
}

void FakeBackend::resume_paused_readers() {
  resume_paused_readers_calls.fetch_add(1);
  note("resume_paused_readers");
}

void FakeBackend::resume_reading(ts::Link& link, uint64_t id) {
  resume_reading_calls.push_back({&link, id});
  note("resume_reading");
}

void FakeBackend::close_socket(ts::Link& link, ts::socket_t s, bool reset) {
  close_socket_calls.push_back({&link, s, reset});
  note(std::string("close_socket reset=") + (reset ? "1" : "0"));
}

void FakeBackend::retire(ts::Link& link, ts::WorkerCtx&) {
  retire_calls.push_back(&link);
  note("retire");
  if (release_on_retire) server_.release_link(link);
}

// ------------------------------------------------------------------------------------------
// ScriptedRecv
// ------------------------------------------------------------------------------------------

ts::RecvResult ScriptedRecv::operator()(uint8_t* buf, size_t size) {
  ++calls;
  Answer a = otherwise;
  if (!answers.empty()) {
    a = std::move(answers.front());
    answers.pop_front();
  }
  if (a.n > 0) {
    EXPECT_LE(a.bytes.size(), size) << "a scripted read larger than the read buffer";
    a.n = static_cast<long>(std::min(a.bytes.size(), size));
    std::memcpy(buf, a.bytes.data(), static_cast<size_t>(a.n));
  }
  return {a.n, a.err};
}

// ------------------------------------------------------------------------------------------
// LinkLifeTest
// ------------------------------------------------------------------------------------------

int32_t TS_CALL LinkLifeTest::on_connect(void* ctx, TcpLink*) {
  auto* t = static_cast<LinkLifeTest*>(ctx);
  t->events.push_back("OnConnect");
  return t->connect_result;
}

int32_t TS_CALL LinkLifeTest::on_receive(void* ctx, TcpLink* link, uint8_t* buf, int32_t len) {
  auto* t = static_cast<LinkLifeTest*>(ctx);
  t->events.push_back("OnReceive");
  ++t->receives;
  t->received.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
  if (t->on_receive_action) t->on_receive_action(*reinterpret_cast<ts::Link*>(link));
  return t->receive_result;
}

void TS_CALL LinkLifeTest::on_disconnect(void* ctx, TcpLink* link) {
  auto* t = static_cast<LinkLifeTest*>(ctx);
  t->events.push_back("OnDisconnect");
  t->disconnects.push_back({link->Id, link->CloseReason, link->CloseError, false});
}

void TS_CALL LinkLifeTest::on_idle(void* ctx, TcpLink* link) {
  auto* t = static_cast<LinkLifeTest*>(ctx);
  t->events.push_back("OnLinkIdleOvertime");
  t->disconnects.push_back({link->Id, link->CloseReason, link->CloseError, true});
}

void LinkLifeTest::set_option(int32_t id, int64_t value) {
  ASSERT_TRUE(server->set_option(id, value)) << ts::last_error_text();
}

void LinkLifeTest::SetUp() {
  server = std::make_unique<ts::Server>(this);
  set_option(TS_OPT_MAX_LINKS, 8);
  set_option(TS_OPT_IO_BUFFER_COUNT, kBufferCount);
  set_option(TS_OPT_IO_BUFFER_SIZE, kBufferSize);
  set_option(TS_OPT_WORKER_THREADS, 1);  // a pool reserve of one buffer
  set_option(TS_OPT_IDLE_TIMEOUT_MS, 0);
  ts::Callbacks cb;
  cb.receive_ex = &on_receive;
  cb.disconnect_ex = &on_disconnect;
  cb.idle_ex = &on_idle;
  ASSERT_TRUE(server->set_callbacks(cb)) << ts::last_error_text();
  ASSERT_TRUE(server->set_connect(nullptr, &on_connect)) << ts::last_error_text();
  Configure();
  auto fake = std::make_unique<FakeBackend>(*server);
  backend = fake.get();
  backend->events = &events;
  ASSERT_TRUE(server->start_for_tests(std::move(fake))) << ts::last_error_text();
  ASSERT_TRUE(server->active());
}

void LinkLifeTest::TearDown() {
  if (!backend) return;
  // What a test left open or unreleased: closed and handed back without callbacks.
  backend->in_flight = false;
  backend->release_on_retire = true;
  server->for_each_link([&](ts::Link& link) {
    if (link.live()) server->close_link(link, w, TS_CLOSE_SERVER_STOP, 0, true, false);
    else if (link.state_now() == ts::LinkState::kClosed) server->release_link(link);
  });
  give_back_pool_buffers();
  EXPECT_EQ(pool_free(), kBufferCount) << "a pool buffer was lost";
  EXPECT_EQ(counter(TS_COUNTER_MEMORY_IN_USE), 0) << "bytes still counted against the budget";
  EXPECT_TRUE(server->stop(-1)) << ts::last_error_text();
  EXPECT_EQ(backend->begin_stop_calls, 1);
  EXPECT_FALSE(server->active());
}

ts::Link* accept_fake_connection(ts::Server& server, int n) {
  const auto s = static_cast<ts::socket_t>(0x7fff0000 + n);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(40000 + n));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ts::Link* link = server.accept_link(s, reinterpret_cast<const sockaddr*>(&addr));
  EXPECT_NE(link, nullptr) << ts::last_error_text();
  if (!link) return nullptr;
  EXPECT_EQ(link->sock, s);
  EXPECT_STREQ(link->pub.RemoteIP, "127.0.0.1");
  EXPECT_EQ(link->pub.RemotePort, static_cast<uint32_t>(40000 + n));
  EXPECT_EQ(link->state_now(), ts::LinkState::kFree) << "visible before open_link";
  return link;
}

ts::Link* LinkLifeTest::accept() { return accept_fake_connection(*server, next_socket_++); }

ts::Link* LinkLifeTest::open() {
  ts::Link* link = accept();
  if (!link) return nullptr;
  EXPECT_TRUE(server->open_link(*link, w));
  EXPECT_TRUE(link->open());
  return link;
}

ts::IoBuf* LinkLifeTest::queue_buffer(ts::Link& link, uint32_t len, char fill) {
  ts::IoBuf* b = server->pool().get(ts::BufState::kQueued);
  EXPECT_NE(b, nullptr) << "the pool is empty";
  if (!b) return nullptr;
  EXPECT_LE(len, kBufferSize);
  std::memset(b->data(), fill, len);
  b->item.data = b->data();
  b->item.left = len;
  std::lock_guard<std::mutex> lock(link.mu);
  EXPECT_TRUE(link.queue.push(&b->item));
  return b;
}

void LinkLifeTest::drain_pool_to_low() {
  ts::IoPool& pool = server->pool();
  while (!pool.low()) {
    ts::IoBuf* b = pool.get(ts::BufState::kApp);
    ASSERT_NE(b, nullptr);
    taken_.push_back(b);
  }
}

void LinkLifeTest::give_back_pool_buffers() {
  for (ts::IoBuf* b : taken_) EXPECT_TRUE(server->pool().free_app(b->data()));
  taken_.clear();
}

size_t LinkLifeTest::count_events(const std::string& event) const {
  return static_cast<size_t>(std::count(events.begin(), events.end(), event));
}

int reset_error() {
#if defined(_WIN32)
  return WSAECONNRESET;
#else
  return ECONNRESET;
#endif
}

int other_error() {
#if defined(_WIN32)
  return WSAENETDOWN;
#else
  return EIO;
#endif
}

}  // namespace tstest
