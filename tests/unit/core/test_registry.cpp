// Tests of the server registry (dll/src/core/registry.*), which turns TcpServerHandle values
// into servers and finds the server a link, an id or an IO buffer belongs to: handle
// generations (a destroyed handle is recognised without touching the freed server), pins that
// keep a server alive while DestroyTcpServer waits, the limit of 256 servers, and ownership.
// Servers are created but not started (a server starts no thread and opens no socket before
// TcpServerStart), except in the one test about links, which exist only in a running server's
// table: its servers run on the fake backend (fake_backend.h), with no socket and no thread.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "core/registry.h"
#include "core/server.h"
#include "fake_backend.h"
#include "support/wait.h"

namespace {

using ts::Pinned;
using ts::Server;
using tstest::wait_until;
using namespace std::chrono_literals;

void prime_error() { ts::fail(TS_ERR_TIMEOUT, "primed by the test"); }

// Creates servers with a small pool and destroys whichever are left at the end of the test.
class RegistryTest : public ::testing::Test {
 protected:
  TcpServerHandle* create(void* context = nullptr) {
    TcpServerHandle* h = ts::create_server(context);
    if (h) {
      live_.push_back(h);
      Pinned p = ts::pin_handle(h, "test");
      EXPECT_TRUE(p->set_option(TS_OPT_IO_BUFFER_COUNT, 16)) << ts::last_error_text();
      EXPECT_TRUE(p->set_option(TS_OPT_IO_BUFFER_SIZE, 256)) << ts::last_error_text();
    }
    return h;
  }
  bool destroy(TcpServerHandle* h) {
    bool ok = ts::destroy_server(h);
    if (ok) live_.erase(std::find(live_.begin(), live_.end(), h));
    return ok;
  }
  void TearDown() override {
    for (TcpServerHandle* h : std::vector<TcpServerHandle*>(live_))
      EXPECT_TRUE(destroy(h)) << ts::last_error_text();
  }
  std::vector<TcpServerHandle*> live_;
};

TEST_F(RegistryTest, ACreatedHandleNamesItsOwnServer) {
  int ctx_a = 0, ctx_b = 0;
  TcpServerHandle* a = create(&ctx_a);
  TcpServerHandle* b = create(&ctx_b);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_NE(a, ts::default_server_handle());
  Pinned pa = ts::pin_handle(a, "test");
  Pinned pb = ts::pin_handle(b, "test");
  ASSERT_TRUE(pa);
  ASSERT_TRUE(pb);
  EXPECT_EQ(pa->context(), &ctx_a);
  EXPECT_EQ(pb->context(), &ctx_b);
  EXPECT_NE(&*pa, &*pb);
  EXPECT_NE(&*pa, &ts::default_server());
  Pinned again = ts::pin_handle(a, "test");
  EXPECT_EQ(&*again, &*pa);
}

TEST_F(RegistryTest, TheDefaultHandleNamesTheDefaultServerWhichCannotBeDestroyed) {
  TcpServerHandle* d = ts::default_server_handle();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(ts::default_server_handle(), d);
  Pinned p = ts::pin_handle(d, "test");
  ASSERT_TRUE(p);
  EXPECT_EQ(&*p, &ts::default_server());
  prime_error();
  EXPECT_FALSE(ts::destroy_server(d));
  EXPECT_EQ(ts::last_error_code(), TS_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(ts::last_error_text(), "default server"), nullptr) << ts::last_error_text();
  EXPECT_TRUE(ts::pin_handle(d, "test"));
}

TEST_F(RegistryTest, ADestroyedHandleIsRecognisedAndNothingBehindItIsUsed) {
  TcpServerHandle* h = create();
  ASSERT_NE(h, nullptr);
  ASSERT_TRUE(destroy(h));
  // The server is freed: AddressSanitizer would report any read of it from here on.
  prime_error();
  EXPECT_FALSE(ts::pin_handle(h, "TcpServerStart"));
  EXPECT_EQ(ts::last_error_code(), TS_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(ts::last_error_text(), "TcpServerStart"), nullptr) << ts::last_error_text();
  EXPECT_NE(std::strstr(ts::last_error_text(), "not a live server handle"), nullptr)
      << ts::last_error_text();
  prime_error();
  EXPECT_FALSE(ts::destroy_server(h)) << "destroyed twice";
  EXPECT_EQ(ts::last_error_code(), TS_ERR_INVALID_ARGUMENT);
}

TEST_F(RegistryTest, OldHandlesStayDeadWhenTheirSlotsServeNewServers) {
  // More create/destroy cycles than there are slots, so slots are reused: each old handle must
  // still be refused while a newer server lives in its slot.
  TcpServerHandle* keep = create();  // a neighbour that must stay reachable throughout
  ASSERT_NE(keep, nullptr);
  std::set<TcpServerHandle*> seen{keep};
  std::vector<TcpServerHandle*> dead;
  for (int i = 0; i < 600; ++i) {
    TcpServerHandle* h = create();
    ASSERT_NE(h, nullptr) << "cycle " << i << ": " << ts::last_error_text();
    EXPECT_TRUE(seen.insert(h).second) << "cycle " << i << ": a handle value came back";
    ASSERT_TRUE(ts::pin_handle(h, "test"));
    for (size_t k = dead.size() >= 3 ? dead.size() - 3 : 0; k < dead.size(); ++k)
      EXPECT_FALSE(ts::pin_handle(dead[k], "test")) << "cycle " << i << ": dead handle " << k;
    ASSERT_TRUE(destroy(h));
    dead.push_back(h);
  }
  for (TcpServerHandle* h : dead) EXPECT_FALSE(ts::pin_handle(h, "test"));
  EXPECT_TRUE(ts::pin_handle(keep, "test"));
}

TEST_F(RegistryTest, NullAndMadeUpHandlesAreRefused) {
  TcpServerHandle* live = create();
  ASSERT_NE(live, nullptr);
  prime_error();
  EXPECT_FALSE(ts::pin_handle(nullptr, "TcpServerStop"));
  EXPECT_EQ(ts::last_error_code(), TS_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(ts::last_error_text(), "NULL"), nullptr) << ts::last_error_text();
  int on_stack = 0;
  const uintptr_t made_up[] = {1, 2, 0xff, 0xdeadbeef, ~uintptr_t{0},
                               reinterpret_cast<uintptr_t>(&on_stack),
                               reinterpret_cast<uintptr_t>(&ts::default_server()),
                               reinterpret_cast<uintptr_t>(&*ts::pin_handle(live, "test"))};
  for (uintptr_t v : made_up) {
    auto* h = reinterpret_cast<TcpServerHandle*>(v);
    prime_error();
    EXPECT_FALSE(ts::pin_handle(h, "test")) << std::hex << v;
    EXPECT_EQ(ts::last_error_code(), TS_ERR_INVALID_ARGUMENT) << std::hex << v;
    EXPECT_FALSE(ts::destroy_server(h)) << std::hex << v;
  }
  EXPECT_FALSE(ts::destroy_server(nullptr));
  EXPECT_TRUE(ts::pin_handle(live, "test"));
}

TEST_F(RegistryTest, DestroyWaitsForPinnedCallsAndKeepsTheServerWholeUntilThen) {
  TcpServerHandle* h = create();
  ASSERT_NE(h, nullptr);
  Pinned pinned = ts::pin_handle(h, "a call in progress");
  ASSERT_TRUE(pinned);
  void* mem = pinned->get_io_mem();
  ASSERT_NE(mem, nullptr);
  ASSERT_EQ(&*ts::pin_buffer_owner(mem), &*pinned);

  std::atomic<bool> returned{false};
  bool destroyed = false;
  std::thread destroyer([&] {
    destroyed = ts::destroy_server(h);
    returned = true;
  });
  // Destroy first unpublishes the server: from then on new calls by handle, buffer, link or id
  // do not find it...
  ASSERT_TRUE(wait_until([&] { return !ts::pin_handle(h, "probe"); }, 30s));
  EXPECT_EQ(&*ts::pin_buffer_owner(mem), &ts::default_server());
  // ...while the call already inside keeps a whole server (ASan: nothing freed under it).
  for (int i = 0; i < 200; ++i) {
    void* m = pinned->get_io_mem();
    ASSERT_NE(m, nullptr) << ts::last_error_text();
    ASSERT_TRUE(pinned->free_io_mem(m)) << ts::last_error_text();
  }
  EXPECT_TRUE(pinned->free_io_mem(mem));
  EXPECT_EQ(pinned->io_mem_free(), 16);
  EXPECT_FALSE(returned.load()) << "DestroyTcpServer returned while a call still used the server";
  { Pinned done = std::move(pinned); }  // the call returns: unpinned
  ASSERT_TRUE(wait_until([&] { return returned.load(); }, 30s)) << "Destroy did not notice the unpin";
  destroyer.join();
  EXPECT_TRUE(destroyed) << ts::last_error_text();
  live_.erase(std::find(live_.begin(), live_.end(), h));
}

TEST_F(RegistryTest, ManyThreadsPinningWhileAnotherDestroysNeverReachAFreedServer) {
  for (int round = 0; round < 20; ++round) {
    TcpServerHandle* h = create();
    ASSERT_NE(h, nullptr);
    std::atomic<bool> stop{false};
    std::atomic<int> used{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < 3; ++t)
      callers.emplace_back([&] {
        while (!stop.load()) {
          Pinned p = ts::pin_handle(h, "caller");
          if (!p) continue;  // destroyed (or being destroyed): refused, fine
          if (void* m = p->get_io_mem()) {  // a real use of the pinned server
            p->free_io_mem(m);
            used++;
          }
        }
      });
    ASSERT_TRUE(wait_until([&] { return used.load() > 50; }, 30s));
    EXPECT_TRUE(destroy(h)) << ts::last_error_text();
    EXPECT_FALSE(ts::pin_handle(h, "after"));
    stop = true;
    for (auto& th : callers) th.join();
  }
}

TEST_F(RegistryTest, AtMost255ServersBesideTheDefaultOne) {
  std::vector<TcpServerHandle*> made;
  for (int i = 0; i < 300; ++i) {
    TcpServerHandle* h = create();
    if (!h) break;
    made.push_back(h);
  }
  EXPECT_EQ(made.size(), 255u);
  prime_error();
  EXPECT_EQ(create(), nullptr);
  EXPECT_EQ(ts::last_error_code(), TS_ERR_OUT_OF_MEMORY);
  EXPECT_NE(std::strstr(ts::last_error_text(), "DestroyTcpServer one first"), nullptr)
      << ts::last_error_text();
  for (TcpServerHandle* h : made) EXPECT_TRUE(ts::pin_handle(h, "test")) << "a refused create disturbed a live server";
  ASSERT_TRUE(destroy(made[100]));
  TcpServerHandle* again = create();
  EXPECT_NE(again, nullptr) << "a freed slot was not given out again: " << ts::last_error_text();
  EXPECT_FALSE(ts::pin_handle(made[100], "test"));
}

TEST_F(RegistryTest, ABufferBelongsToTheServerWhosePoolHoldsIt) {
  TcpServerHandle* a = create();
  TcpServerHandle* b = create();
  ASSERT_TRUE(a && b);
  Server* sa = &*ts::pin_handle(a, "test");
  Server* sb = &*ts::pin_handle(b, "test");
  Server* sd = &ts::default_server();
  void* ma = sa->get_io_mem();
  void* mb = sb->get_io_mem();
  void* md = sd->get_io_mem();
  ASSERT_TRUE(ma && mb && md) << ts::last_error_text();
  EXPECT_EQ(&*ts::pin_buffer_owner(ma), sa);
  EXPECT_EQ(&*ts::pin_buffer_owner(mb), sb);
  EXPECT_EQ(&*ts::pin_buffer_owner(md), sd);
  // Nobody's buffer: the default server, whose own checks then report the error.
  int on_stack = 0;
  EXPECT_EQ(&*ts::pin_buffer_owner(&on_stack), sd);
  EXPECT_EQ(&*ts::pin_buffer_owner(nullptr), sd);
  EXPECT_EQ(&*ts::pin_buffer_owner(static_cast<uint8_t*>(ma) + 1), sd) << "inside a buffer";
  EXPECT_FALSE(ts::buffer_of_another_server(ma, sa));
  EXPECT_TRUE(ts::buffer_of_another_server(ma, sb));
  EXPECT_TRUE(ts::buffer_of_another_server(md, sa)) << "the default server is another server too";
  EXPECT_FALSE(ts::buffer_of_another_server(&on_stack, sa));
  EXPECT_TRUE(sa->free_io_mem(ma));
  EXPECT_TRUE(sd->free_io_mem(md));
  ASSERT_TRUE(destroy(b));  // with mb still taken: its pool goes with the server
  EXPECT_EQ(&*ts::pin_buffer_owner(mb), sd) << "a destroyed server's buffer was still found";
  EXPECT_FALSE(ts::buffer_of_another_server(mb, sa));
}

TEST_F(RegistryTest, AnIdOrLinkNoServerHasFallsToTheDefaultServer) {
  TcpServerHandle* a = create();
  ASSERT_NE(a, nullptr);
  // Not started: no server has a link table, so no link or id is anyone's.
  TcpLink on_stack{};
  EXPECT_EQ(&*ts::pin_link_owner(&on_stack), &ts::default_server());
  EXPECT_EQ(&*ts::pin_link_owner(nullptr), &ts::default_server());
  EXPECT_EQ(&*ts::pin_id_owner(12345), &ts::default_server());
  EXPECT_EQ(&*ts::pin_id_owner(0), &ts::default_server());
}

// The only test here with links, which exist only in a running server's table. Each server
// runs on the fake backend (fake_backend.h, Server::start_for_tests): no listener, no thread.
// The test takes a link the way a worker does for an accepted connection and closes it the way
// the link's owner does (the fake backend's retire hands it back to the table at once).
TEST_F(RegistryTest, ALinkAndItsIdBelongToTheServerWhoseTableHoldsThem) {
  TcpServerHandle* ha = create();
  TcpServerHandle* hb = create();
  ASSERT_TRUE(ha && hb);
  Server* a = &*ts::pin_handle(ha, "test");
  Server* b = &*ts::pin_handle(hb, "test");
  for (Server* s : {a, b}) {
    ASSERT_TRUE(s->set_option(TS_OPT_WORKER_THREADS, 1));
    ASSERT_TRUE(s->set_option(TS_OPT_MAX_LINKS, 4));
    ASSERT_TRUE(s->set_option(TS_OPT_IDLE_TIMEOUT_MS, 0));
    ASSERT_TRUE(s->start_for_tests(std::make_unique<tstest::FakeBackend>(*s)))
        << ts::last_error_text();
  }
  ts::WorkerCtx w;  // stands in for the worker that would run OnConnect
  ts::Link* la = tstest::accept_fake_connection(*a, 1);
  ts::Link* lb = tstest::accept_fake_connection(*b, 2);
  ASSERT_TRUE(la && lb);
  ASSERT_TRUE(a->open_link(*la, w));
  ASSERT_TRUE(b->open_link(*lb, w));
  const uint64_t ida = la->pub.Id, idb = lb->pub.Id;

  EXPECT_EQ(&*ts::pin_link_owner(&la->pub), a);
  EXPECT_EQ(&*ts::pin_link_owner(&lb->pub), b);
  EXPECT_EQ(&*ts::pin_id_owner(ida), a);
  EXPECT_EQ(&*ts::pin_id_owner(idb), b);
  EXPECT_TRUE(a->has_link_id(ida));
  EXPECT_FALSE(a->has_link_id(idb));
  EXPECT_TRUE(b->owns_link(&lb->pub));
  EXPECT_FALSE(b->owns_link(&la->pub));

  EXPECT_EQ(a->close_link(*la, w, TS_CLOSE_BY_APP, 0, true), ts::CloseStep::kClosed);
  EXPECT_FALSE(a->has_link_id(ida));
  // A stale id belongs to nobody: a running server reports it (TS_ERR_LINK_CLOSED).
  Pinned stale = ts::pin_id_owner(ida);
  EXPECT_TRUE(&*stale == a || &*stale == b);
  EXPECT_TRUE(stale->active());
  EXPECT_EQ(&*ts::pin_link_owner(&la->pub), a) << "the pointer still lies in a's table";
  EXPECT_EQ(b->close_link(*lb, w, TS_CLOSE_BY_APP, 0, true), ts::CloseStep::kClosed);
  for (Server* s : {a, b}) EXPECT_TRUE(s->stop(-1)) << ts::last_error_text();
}

}  // namespace
