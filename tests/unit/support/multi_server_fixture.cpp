#include "support/multi_server_fixture.h"

#include <algorithm>
#include <cstring>

#include "support/payload.h"
#include "support/proc_stats.h"
#include "support/wait.h"

namespace tstest {

bool ServerCtx::owns_thread_data(const void* data) {
  std::lock_guard<std::mutex> lock(mu);
  for (auto& t : threads)
    if (t.get() == data) return true;
  return false;
}

uint64_t ServerCtx::id_of_port(uint16_t port) {
  std::lock_guard<std::mutex> lock(mu);
  for (auto& p : id_by_port)
    if (p.first == port) return p.second;
  return 0;
}

std::set<uint64_t> ServerCtx::id_set() {
  std::lock_guard<std::mutex> lock(mu);
  return std::set<uint64_t>(ids.begin(), ids.end());
}

TcpLink* ServerCtx::any_open_link() {
  std::lock_guard<std::mutex> lock(mu);
  return open_links.empty() ? nullptr : open_links.front();
}

int ServerCtx::threads_of_kind(int is_worker) {
  std::lock_guard<std::mutex> lock(mu);
  return static_cast<int>(std::count_if(threads.begin(), threads.end(),
                                        [&](auto& t) { return t->is_worker == is_worker; }));
}

int ServerCtx::thread_exits_of_kind(int is_worker) {
  std::lock_guard<std::mutex> lock(mu);
  int n = 0;
  for (auto& t : threads)
    if (t->is_worker == is_worker) n += t->exits.load();
  return n;
}

void* TS_CALL ctx_thread_create(void* context, int32_t is_worker) {
  auto* ctx = static_cast<ServerCtx*>(context);
  auto rec = std::make_unique<ThreadRecord>();
  rec->owner = ctx;
  rec->created_on = os_thread_id();
  rec->is_worker = is_worker;
  std::lock_guard<std::mutex> lock(ctx->mu);
  ctx->threads.push_back(std::move(rec));
  return ctx->threads.back().get();
}

void TS_CALL ctx_thread_exit(void* context, int32_t is_worker, void* data) {
  auto* ctx = static_cast<ServerCtx*>(context);
  if (!ctx->owns_thread_data(data)) {
    ctx->foreign_thread_exit++;
    return;
  }
  auto* rec = static_cast<ThreadRecord*>(data);
  if (rec->is_worker != is_worker) ctx->foreign_thread_exit++;
  if (rec->created_on != os_thread_id()) rec->exited_elsewhere++;
  rec->exits++;
}

namespace {
void check_worker(ServerCtx* ctx, TcpLink* link) {
  if (!link->Worker || !ctx->owns_thread_data(link->Worker->Data)) ctx->foreign_worker++;
}
}  // namespace

int32_t TS_CALL ctx_connect(void* context, TcpLink* link) {
  auto* ctx = static_cast<ServerCtx*>(context);
  check_worker(ctx, link);
  {
    std::lock_guard<std::mutex> lock(ctx->mu);
    ctx->ids.push_back(link->Id);
    ctx->id_by_port.emplace_back(static_cast<uint16_t>(link->RemotePort), link->Id);
    ctx->open_links.push_back(link);
  }
  ctx->connects++;
  return 1;
}

int32_t TS_CALL ctx_receive(void* context, TcpLink* link, uint8_t* buf, int32_t len) {
  auto* ctx = static_cast<ServerCtx*>(context);
  ctx->receives++;
  check_worker(ctx, link);
  int seen = ctx->max_len.load();
  while (len > seen && !ctx->max_len.compare_exchange_weak(seen, len)) {
  }
  void* mem = ctx->echo_with_pool ? TcpServerGetIOMem(ctx->handle) : nullptr;
  if (!mem) {
    if (!SendBuffer(link, buf, len)) ctx->send_failed++;
    return 1;
  }
  std::memcpy(mem, buf, static_cast<size_t>(len));
  if (!PostSend(link, mem, len)) {  // a buffer of another server's pool would fail here
    ctx->send_failed++;
    FreeIOMem(mem);
  }
  return 1;
}

namespace {
void forget_link(ServerCtx* ctx, TcpLink* link) {
  check_worker(ctx, link);
  ctx->last_close_reason = link->CloseReason;
  std::lock_guard<std::mutex> lock(ctx->mu);
  ctx->open_links.erase(std::remove(ctx->open_links.begin(), ctx->open_links.end(), link),
                        ctx->open_links.end());
}
}  // namespace

void TS_CALL ctx_disconnect(void* context, TcpLink* link) {
  auto* ctx = static_cast<ServerCtx*>(context);
  forget_link(ctx, link);
  ctx->disconnects++;
}

void TS_CALL ctx_idle(void* context, TcpLink* link) {
  auto* ctx = static_cast<ServerCtx*>(context);
  forget_link(ctx, link);
  ctx->idles++;
}

EchoStreams::EchoStreams(MultiClient& clients, uint64_t seed_base, uint64_t bytes_per_link)
    : clients_(clients), limit_(bytes_per_link), sent_(clients.size(), 0),
      bad_(clients.size(), UINT64_MAX) {
  for (size_t i = 0; i < clients.size(); ++i) {
    const uint64_t seed = seed_base + i;  // one stream per link: crossed links show
    clients.at(i).on_writable = [this, i, seed](MultiClient::Conn& c) {
      if (stopped_ || (limit_ && sent_[i] >= limit_)) return;
      uint64_t n = 1 + (sent_[i] * 31 + i * 977) % 16384;  // chunk sizes vary
      if (limit_) n = std::min(n, limit_ - sent_[i]);
      c.out.resize(static_cast<size_t>(n));
      fill_pattern(seed, sent_[i], c.out.data(), c.out.size());
      sent_[i] += n;
    };
    clients.at(i).on_data = [this, i, seed](MultiClient::Conn& c, const uint8_t* p, size_t n) {
      const uint64_t at = c.bytes_in - n;
      if (bad_[i] != UINT64_MAX) return;
      if (c.bytes_in > sent_[i]) bad_[i] = sent_[i];  // more came back than was sent
      size_t k = pattern_mismatch(seed, at, p, n);
      if (k != n) bad_[i] = at + k;
    };
  }
}

bool EchoStreams::finished() const {
  for (size_t i = 0; i < sent_.size(); ++i) {
    const MultiClient::Conn& c = clients_.at(i);
    if (c.ended()) continue;
    if (!stopped_ && limit_ == 0) return false;
    if (limit_ && sent_[i] < limit_) return false;
    if (c.bytes_in < sent_[i]) return false;
  }
  return true;
}

::testing::AssertionResult EchoStreams::all_verified() const {
  for (size_t i = 0; i < sent_.size(); ++i) {
    const MultiClient::Conn& c = clients_.at(i);
    if (bad_[i] != UINT64_MAX)
      return ::testing::AssertionFailure() << "link " << i << ": wrong byte at offset " << bad_[i];
    if (c.ended())
      return ::testing::AssertionFailure() << "link " << i << " ended (error " << c.error
                                           << ") after " << c.bytes_in << " bytes";
    if (c.bytes_in != sent_[i])
      return ::testing::AssertionFailure() << "link " << i << ": " << c.bytes_in << " of "
                                           << sent_[i] << " bytes came back";
  }
  return ::testing::AssertionSuccess();
}

uint64_t EchoStreams::bytes_sent() const {
  uint64_t total = 0;
  for (uint64_t n : sent_) total += n;
  return total;
}

bool pump_both(MultiClient& a, MultiClient& b, const std::function<bool()>& done,
               std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= deadline) return done();
    a.pump(1);
    b.pump(1);
  }
  return true;
}

void MultiServerTest::TearDown() {
  for (TcpServerHandle* h : handles_)
    EXPECT_EQ(DestroyTcpServer(h), 1) << "DestroyTcpServer: " << GetLastErrorText();
  handles_.clear();
  ServerTest::TearDown();
}

ServerCtx& MultiServerTest::add(const std::string& name) {
  contexts_.push_back(std::make_unique<ServerCtx>(name));
  return *contexts_.back();
}

void MultiServerTest::create(ServerCtx& ctx,
                             std::initializer_list<std::pair<int32_t, int64_t>> options) {
  ctx.handle = CreateTcpServer(&ctx);
  ASSERT_NE(ctx.handle, nullptr) << GetLastErrorText();
  handles_.push_back(ctx.handle);
  ASSERT_EQ(TcpServerSetEventProc(ctx.handle, ctx_receive, ctx_disconnect, ctx_idle,
                                  ctx_thread_create, ctx_thread_create),
            1)
      << GetLastErrorText();
  ASSERT_EQ(TcpServerSetConnectProc(ctx.handle, ctx_connect), 1) << GetLastErrorText();
  ASSERT_EQ(TcpServerSetThreadExitProc(ctx.handle, ctx_thread_exit), 1) << GetLastErrorText();
  ASSERT_TRUE(apply_test_backend(ctx.handle)) << GetLastErrorText();
  for (const auto& o : options) {
    ASSERT_EQ(TcpServerSetOption(ctx.handle, o.first, o.second), 1)
        << "option " << o.first << ": " << GetLastErrorText();
    if (o.first == TS_OPT_IO_BUFFER_SIZE) ctx.buffer_size = static_cast<int32_t>(o.second);
  }
}

uint16_t MultiServerTest::start(ServerCtx& ctx) {
  EXPECT_EQ(TcpServerStart(ctx.handle, "127.0.0.1", 0), 1)
      << ctx.name << ": " << GetLastErrorText();
  EXPECT_EQ(TcpServerIsActive(ctx.handle), 1);
  auto port = static_cast<uint16_t>(TcpServerGetPort(ctx.handle));
  EXPECT_NE(port, 0);
  return port;
}

void MultiServerTest::destroy(ServerCtx& ctx) {
  EXPECT_EQ(DestroyTcpServer(ctx.handle), 1) << ctx.name << ": " << GetLastErrorText();
  handles_.erase(std::remove(handles_.begin(), handles_.end(), ctx.handle), handles_.end());
}

}  // namespace tstest
