// Socket-free tests of ts::LinkTable (dll/src/core/link_table.*), the preallocated links of a
// server: handing links out until the table is full, ids that are never reused and carry their
// slot, finding a link by id or by the pointer an application holds, and the counts the
// statistics read. The engine makes a link visible (kOpen) in Server::open_link; these tests
// do the same through Link::set_state under the link's lock.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/link_table.h"
#include "support/wait.h"

namespace {

using ts::Link;
using ts::LinkState;
using ts::LinkTable;

void set_state(Link* link, LinkState s) {
  std::lock_guard<std::mutex> lock(link->mu);
  link->set_state(s);
}

void mark_closed(LinkTable& table, Link* link) {
  std::lock_guard<std::mutex> lock(link->mu);
  table.mark_closed_locked(link);
}

void mark_open(LinkTable& table, Link* link) {
  std::lock_guard<std::mutex> lock(link->mu);
  table.mark_open_locked(link);
}

uint64_t id_of(const Link* link) { return link->id.load(); }

TEST(LinkTableTest, AcquireHandsOutEveryLinkOnceThenNull) {
  LinkTable table(5);
  EXPECT_EQ(table.size(), 5u);
  std::set<Link*> links;
  for (int i = 0; i < 5; ++i) {
    Link* link = table.acquire();
    ASSERT_NE(link, nullptr) << "link " << i << " of 5";
    EXPECT_EQ(link->state, LinkState::kFree) << "invisible until the engine opens it";
    links.insert(link);
  }
  EXPECT_EQ(links.size(), 5u);
  EXPECT_EQ(table.acquire(), nullptr);
  EXPECT_EQ(table.in_use(), 5u);
}

TEST(LinkTableTest, AnAcquiredLinkStartsClean) {
  LinkTable table(2);
  Link* link = table.acquire();
  ASSERT_NE(link, nullptr);
  // Dirty it as a closed link of the last tenant would be.
  link->pub.Data = link;
  link->pub.CloseReason = TS_CLOSE_PEER_RESET;
  link->close_reason = TS_CLOSE_PEER_RESET;
  link->close_error = 104;
  link->paused_by_pool = true;
  link->hold = ts::kHeldByApp | ts::kHeldByHighWater;
  link->message_pending = true;
  link->scan_requested = true;
  link->close_requested = true;
  set_state(link, LinkState::kClosed);
  mark_closed(table, link);
  table.release(link);
  Link* again = table.acquire();
  ASSERT_EQ(again, link);
  EXPECT_EQ(again->pub.Data, nullptr);
  EXPECT_EQ(again->pub.CloseReason, TS_CLOSE_NONE);
  EXPECT_EQ(again->pub.Id, id_of(again));
  EXPECT_EQ(again->close_reason, TS_CLOSE_NONE);
  EXPECT_EQ(again->close_error, 0);
  EXPECT_FALSE(again->paused_by_pool.load());
  EXPECT_EQ(again->hold.load(), 0);
  EXPECT_FALSE(again->message_pending.load());
  EXPECT_FALSE(again->scan_requested.load());
  EXPECT_FALSE(again->close_requested.load());
  EXPECT_EQ(again->state, LinkState::kFree);
  EXPECT_EQ(again->sock, ts::kNoSocket);
}

TEST(LinkTableTest, IdsAreUniqueAndNeverReusedAcrossReleaseAndAcquire) {
  LinkTable table(3);
  LinkTable other(3);  // ids are process-wide: another server's table never repeats one
  std::set<uint64_t> seen;
  for (int round = 0; round < 200; ++round) {
    for (LinkTable* t : {&table, &other}) {
      Link* link = t->acquire();
      ASSERT_NE(link, nullptr);
      uint64_t id = id_of(link);
      EXPECT_NE(id, 0u);
      EXPECT_EQ(link->pub.Id, id);
      EXPECT_TRUE(seen.insert(id).second) << "id " << id << " handed out twice (round " << round << ")";
      t->release(link);
    }
  }
  EXPECT_EQ(seen.size(), 400u);
}

TEST(LinkTableTest, AnIdCarriesItsSlotInItsLowBits) {
  LinkTable table(4);
  std::vector<Link*> links;
  for (int i = 0; i < 4; ++i) links.push_back(table.acquire());
  for (Link* link : links) {
    ASSERT_NE(link, nullptr);
    EXPECT_EQ(id_of(link) & ts::kMaxLinks, link->slot);
    EXPECT_EQ(&table.at(link->slot), link);
    EXPECT_GT(id_of(link) >> ts::kSlotBits, 0u);  // the sequence part
  }
}

TEST(LinkTableTest, ByIdFindsAnOpenLinkOnlyWhileItIsThatLink) {
  LinkTable table(2);
  Link* link = table.acquire();
  ASSERT_NE(link, nullptr);
  const uint64_t id = id_of(link);
  EXPECT_EQ(table.by_id(id), nullptr) << "acquired but not opened: not visible yet";
  set_state(link, LinkState::kOpen);
  EXPECT_EQ(table.by_id(id), link);
  set_state(link, LinkState::kClosing);
  EXPECT_EQ(table.by_id(id), link) << "a closing link still flushes: sends by id reach it";
  set_state(link, LinkState::kClosed);
  EXPECT_EQ(table.by_id(id), link);
  table.release(link);
  EXPECT_EQ(table.by_id(id), nullptr);
  // The same slot for the next link: the old id is stale, the new one is found.
  Link* next = table.acquire();
  ASSERT_EQ(next, link);
  set_state(next, LinkState::kOpen);
  EXPECT_NE(id_of(next), id);
  EXPECT_EQ(table.by_id(id), nullptr) << "a stale id named the slot's next link";
  EXPECT_EQ(table.by_id(id_of(next)), next);
}

TEST(LinkTableTest, ByIdRefusesZeroAndSlotsOutsideTheTable) {
  LinkTable table(2);
  Link* a = table.acquire();
  Link* b = table.acquire();
  set_state(a, LinkState::kOpen);
  set_state(b, LinkState::kOpen);
  EXPECT_EQ(table.by_id(0), nullptr);
  const uint64_t seq = id_of(a) & ~uint64_t{ts::kMaxLinks};
  EXPECT_EQ(table.by_id(seq | 2), nullptr);  // slot 2 of a 2-link table
  EXPECT_EQ(table.by_id(seq | ts::kMaxLinks), nullptr);
  EXPECT_EQ(table.by_id(~uint64_t{0}), nullptr);
  EXPECT_EQ(table.by_id(id_of(a) + (uint64_t{1} << ts::kSlotBits)), nullptr);  // a future id
}

TEST(LinkTableTest, FromPublicAcceptsOnlyTheStartOfALinkOfThisTable) {
  LinkTable table(3);
  LinkTable other(3);
  Link* link = table.acquire();
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(table.from_public(&link->pub), link);
  EXPECT_EQ(table.from_public(&table.at(2).pub), &table.at(2)) << "any slot, open or not";
  TcpLink on_stack{};
  const auto* bytes = reinterpret_cast<const uint8_t*>(&link->pub);
  auto shifted = [&](std::ptrdiff_t n) {  // as an integer: some of these lie outside the table
    return reinterpret_cast<const TcpLink*>(reinterpret_cast<uintptr_t>(bytes) + static_cast<uintptr_t>(n));
  };
  const std::ptrdiff_t kLink = sizeof(Link);
  const TcpLink* foreign[] = {
      nullptr,
      &on_stack,
      &other.at(0).pub,
      shifted(1),                           // misaligned
      shifted(8),                           // inside the record
      shifted(kLink - 1),                   // the last byte of the link
      shifted(-kLink * (link->slot + 1)),   // before the table
      shifted(kLink * (3 - link->slot)),    // just past the end
      shifted(kLink * (100 - link->slot)),  // far past it
  };
  for (const TcpLink* p : foreign) EXPECT_EQ(table.from_public(p), nullptr) << p;
}

TEST(LinkTableTest, HighWaterCoversEverySlotEverHandedOut) {
  LinkTable table(8);
  EXPECT_EQ(table.high_water(), 0u);
  std::vector<Link*> links;
  for (int i = 0; i < 3; ++i) links.push_back(table.acquire());
  EXPECT_EQ(table.high_water(), 3u);
  for (Link* link : links) EXPECT_LT(link->slot, table.high_water());
  table.release(links[2]);
  table.release(links[1]);
  EXPECT_EQ(table.high_water(), 3u) << "releasing does not lower it";
  links.resize(1);
  for (int i = 0; i < 2; ++i) links.push_back(table.acquire());  // back from the free list
  EXPECT_EQ(table.high_water(), 3u);
  links.push_back(table.acquire());  // a new slot
  EXPECT_EQ(table.high_water(), 4u);
  EXPECT_LT(links.back()->slot, 4u);
}

TEST(LinkTableTest, LinksGoOutLowestSlotFirstAndComeBackLastInFirstOut) {
  LinkTable table(6);
  Link* a = table.acquire();
  Link* b = table.acquire();
  Link* c = table.acquire();
  EXPECT_EQ(a->slot, 0u);
  EXPECT_EQ(b->slot, 1u);
  EXPECT_EQ(c->slot, 2u);
  table.release(a);
  table.release(c);
  EXPECT_EQ(table.acquire(), c);
  EXPECT_EQ(table.acquire(), a);
  EXPECT_EQ(table.acquire()->slot, 3u);
}

TEST(LinkTableTest, OpenCountRisesAtMarkOpenDropsAtMarkClosedInUseAtRelease) {
  LinkTable table(4);
  Link* a = table.acquire();
  Link* b = table.acquire();
  Link* c = table.acquire();
  EXPECT_EQ(table.in_use(), 3u);
  EXPECT_EQ(table.open_count(), 0u) << "acquired (say, in a TLS handshake) is not open yet";
  mark_open(table, b);
  mark_open(table, c);
  mark_open(table, c);  // counted once
  EXPECT_EQ(table.open_count(), 2u);
  mark_closed(table, b);  // OnDisconnect is about to run: no longer counted as open
  EXPECT_EQ(table.in_use(), 3u) << "the slot is still taken";
  EXPECT_EQ(table.open_count(), 1u);
  mark_closed(table, b);  // a second close path counts nothing more
  mark_closed(table, a);  // never opened (a handshake that failed): nothing to take back
  EXPECT_EQ(table.open_count(), 1u);
  table.release(a);
  EXPECT_EQ(table.in_use(), 2u);
  EXPECT_EQ(table.open_count(), 1u);
  table.release(b);
  EXPECT_EQ(table.in_use(), 1u);
  EXPECT_EQ(table.open_count(), 1u) << "released after marked closed: not subtracted twice";
  Link* b2 = table.acquire();  // b's slot again: its marks did not follow it
  ASSERT_EQ(b2, b);
  EXPECT_EQ(table.open_count(), 1u);
  mark_open(table, b2);
  EXPECT_EQ(table.open_count(), 2u);
  mark_closed(table, c);
  mark_closed(table, b2);
  EXPECT_EQ(table.open_count(), 0u);
  table.release(c);
  table.release(b2);
  EXPECT_EQ(table.in_use(), 0u);
  EXPECT_EQ(table.open_count(), 0u);
}

TEST(LinkTableTest, ManyThreadsAcquiringAndReleasingGetDistinctLinksAndUniqueIds) {
  constexpr uint32_t kSize = 16;
  constexpr int kThreads = 4, kRounds = 5000;
  LinkTable table(kSize);
  std::atomic<int> errors{0};
  std::vector<std::vector<uint64_t>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        Link* link = table.acquire();
        if (!link) continue;  // all 16 taken by the others right now
        uint64_t id = id_of(link);
        ids[t].push_back(id);
        // Owned by this thread alone until released: Data is ours to write.
        link->pub.Data = &ids[t];
        set_state(link, LinkState::kOpen);
        mark_open(table, link);
        if (table.by_id(id) != link || link->pub.Data != &ids[t]) errors++;
        mark_closed(table, link);
        set_state(link, LinkState::kClosed);
        table.release(link);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(table.in_use(), 0u);
  EXPECT_EQ(table.open_count(), 0u);
  EXPECT_LE(table.high_water(), kSize);
  std::vector<uint64_t> all;
  for (auto& v : ids) all.insert(all.end(), v.begin(), v.end());
  size_t n = all.size();
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::unique(all.begin(), all.end()) - all.begin(), static_cast<std::ptrdiff_t>(n))
      << "an id was handed out twice";
  EXPECT_GT(n, static_cast<size_t>(kRounds));
}

// release() used to list the slot as free and only then lower in_use_, while acquire() takes a
// slot and only then raises it: a link released and taken again by another thread in between
// was counted twice, in_use() exceeded size(), and Server::link_free() (size - in_use, as
// int32) returned -1, which GetLinkFree documents as its error value. Two threads churn a
// table of one link; each looks at in_use() right after its own acquire, when the other may
// be inside release() (the widest window), and a third thread samples it too. Before the fix
// (release lowers in_use_ first, then lists the slot) the count passed the size within
// moments; after it, in_use() can never pass the number of slots taken off the free list.
TEST(LinkTableTest, InUseNeverExceedsTheTableSizeWhileLinksChurn) {
  LinkTable table(1);
  std::atomic<bool> stop{false};
  std::atomic<int> running{2};
  std::atomic<uint32_t> worst{0};
  auto note = [&](uint32_t seen) {
    uint32_t w = worst.load(std::memory_order_relaxed);
    while (seen > w && !worst.compare_exchange_weak(w, seen)) {
    }
    if (seen > table.size()) stop = true;
  };
  std::vector<std::thread> churn;
  for (int t = 0; t < 2; ++t)
    churn.emplace_back([&] {
      for (int i = 0; i < 6000000 && !stop.load(std::memory_order_relaxed); ++i)
        if (Link* link = table.acquire()) {
          note(table.in_use());
          table.release(link);
        }
      running--;
    });
  const auto deadline = tstest::Clock::now() + std::chrono::seconds(20);
  while (running.load() > 0 && !stop.load() && tstest::Clock::now() < deadline)
    note(table.in_use());
  stop = true;
  for (auto& th : churn) th.join();
  EXPECT_LE(worst.load(), table.size())
      << "GetLinkFree would have returned " << static_cast<int32_t>(table.size() - worst.load());
  EXPECT_EQ(table.in_use(), 0u);
}

}  // namespace
