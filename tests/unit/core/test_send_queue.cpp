// Socket-free tests of what a link has still to send (dll/src/core/send_queue.*): ts::SendQueue
// (order, byte accounting through partial writes, take_all), ts::SharedBlock (one copy shared by
// many links' items, freed by the last release) and ts::release_item (each item's memory back
// where it came from). Under AddressSanitizer a block is also checked to be freed exactly at its
// last release (its memory poisoned then, and not before), and LeakSanitizer reports a block
// that is never freed.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <random>
#include <thread>
#include <vector>

#include "core/io_pool.h"
#include "core/send_queue.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TS_TEST_ASAN 1
#endif
#if defined(TS_TEST_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace {

using ts::IoBuf;
using ts::IoPool;
using ts::release_item;
using ts::SendItem;
using ts::SendQueue;
using ts::SharedBlock;

// Whether the memory of a block is still allocated, where the build can tell (AddressSanitizer
// poisons freed memory); elsewhere nothing is claimed.
void expect_alive(SharedBlock* b) {
#if defined(TS_TEST_ASAN)
  EXPECT_FALSE(__asan_address_is_poisoned(b)) << "the block was freed before its last release";
#else
  (void)b;
#endif
}
void expect_freed(SharedBlock* b) {
#if defined(TS_TEST_ASAN)
  EXPECT_TRUE(__asan_address_is_poisoned(b)) << "the block was not freed at its last release";
#else
  (void)b;
#endif
}

// A heap item over a fresh block of `len` bytes; the item holds the block's only reference.
SendItem* block_item(uint32_t len, uint8_t fill) {
  std::vector<uint8_t> bytes(len, fill);
  SharedBlock* b = SharedBlock::create(bytes.data(), len);
  SendItem* item = SendItem::for_block(b, b->data(), len);
  b->unref();
  return item;
}

void release_chain(IoPool& pool, SendItem* chain) {
  while (chain) {
    SendItem* next = chain->next;
    release_item(pool, chain);
    chain = next;
  }
}

TEST(SendQueueTest, AnEmptyQueueHasNoFrontAndNoBytes) {
  SendQueue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.front(), nullptr);
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.take_all(), nullptr);
  EXPECT_TRUE(q.empty());
}

TEST(SendQueueTest, ItemsLeaveInTheOrderTheyWerePushed) {
  IoPool pool(64, 1);
  SendQueue q;
  std::vector<SendItem*> items;
  for (uint32_t i = 0; i < 6; ++i) {
    items.push_back(block_item(10 + i, static_cast<uint8_t>(i)));
    q.push(items.back());
  }
  EXPECT_EQ(q.bytes(), size_t{10 + 11 + 12 + 13 + 14 + 15});
  for (uint32_t i = 0; i < 6; ++i) {
    ASSERT_EQ(q.front(), items[i]) << "item " << i;
    EXPECT_EQ(q.front()->data[0], i);
    SendItem* done = q.consume_front(10 + i);
    EXPECT_EQ(done, items[i]);
    release_item(pool, done);
  }
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(SendQueueTest, APartlySentFrontStaysFirstWithItsRestAccounted) {
  IoPool pool(64, 1);
  SendQueue q;
  SendItem* a = block_item(100, 0xAA);
  SendItem* b = block_item(50, 0xBB);
  const uint8_t* a_start = a->data;
  q.push(a);
  q.push(b);
  EXPECT_EQ(q.consume_front(30), nullptr) << "70 bytes of it are still unsent";
  EXPECT_EQ(q.front(), a);
  EXPECT_EQ(a->data, a_start + 30);
  EXPECT_EQ(a->left, 70u);
  EXPECT_EQ(q.bytes(), 120u);
  EXPECT_EQ(q.consume_front(69), nullptr);
  EXPECT_EQ(q.bytes(), 51u);
  EXPECT_EQ(q.consume_front(1), a);
  EXPECT_EQ(q.front(), b);
  EXPECT_EQ(q.bytes(), 50u);
  release_item(pool, a);
  EXPECT_EQ(q.consume_front(50), b);
  EXPECT_TRUE(q.empty());
  release_item(pool, b);
}

TEST(SendQueueTest, ByteCountMatchesWhatIsLeftThroughRandomPushesAndPartialWrites) {
  IoPool pool(64, 1);
  SendQueue q;
  std::deque<uint32_t> model;  // bytes left per item, front first
  std::mt19937 rng(12345);
  uint64_t pushed = 0, written = 0;
  for (int step = 0; step < 5000; ++step) {
    if (model.empty() || rng() % 2) {
      uint32_t len = 1 + rng() % 3000;
      q.push(block_item(len, 0));
      model.push_back(len);
      pushed += len;
    } else {  // a write takes part of the front item, or all of it, as a socket would
      uint32_t n = 1 + rng() % model.front();
      SendItem* done = q.consume_front(n);
      written += n;
      model.front() -= n;
      if (model.front() == 0) {
        ASSERT_NE(done, nullptr) << "step " << step;
        release_item(pool, done);
        model.pop_front();
      } else {
        ASSERT_EQ(done, nullptr) << "step " << step;
        EXPECT_EQ(q.front()->left, model.front());
      }
    }
    size_t left = 0;
    for (uint32_t m : model) left += m;
    ASSERT_EQ(q.bytes(), left) << "step " << step;
    ASSERT_EQ(q.bytes(), pushed - written);
  }
  release_chain(pool, q.take_all());
}

TEST(SendQueueTest, TakeAllUnlinksEverythingInOrderAndLeavesAnEmptyUsableQueue) {
  IoPool pool(64, 1);
  SendQueue q;
  std::vector<SendItem*> items;
  for (uint32_t i = 0; i < 4; ++i) {
    items.push_back(block_item(8, static_cast<uint8_t>(i)));
    q.push(items.back());
  }
  q.consume_front(3);  // a partly written front goes too
  SendItem* all = q.take_all();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.front(), nullptr);
  EXPECT_EQ(q.bytes(), 0u);
  size_t k = 0;
  for (SendItem* it = all; it; it = it->next, ++k) {
    ASSERT_LT(k, items.size());
    EXPECT_EQ(it, items[k]);
  }
  EXPECT_EQ(k, items.size());
  // The queue starts over: the old tail must not be linked to.
  SendItem* fresh = block_item(5, 9);
  q.push(fresh);
  EXPECT_EQ(q.front(), fresh);
  EXPECT_EQ(q.bytes(), 5u);
  EXPECT_EQ(items.back()->next, nullptr);
  release_chain(pool, all);
  release_chain(pool, q.take_all());
}

TEST(SendQueueTest, APushedItemEndsTheChainWhateverItWasLinkedTo) {
  IoPool pool(64, 1);
  SendQueue q1, q2;
  SendItem* a = block_item(4, 1);
  SendItem* b = block_item(4, 2);
  q1.push(a);
  q1.push(b);
  SendItem* chain = q1.take_all();  // a -> b
  ASSERT_EQ(chain, a);
  q2.push(a);  // a still points at b from its last queue
  EXPECT_EQ(a->next, nullptr);
  EXPECT_EQ(q2.bytes(), 4u);
  EXPECT_EQ(q2.consume_front(4), a);
  EXPECT_TRUE(q2.empty());
  release_item(pool, a);
  release_item(pool, b);
}

TEST(SharedBlockTest, CreateCopiesTheDataAndHoldsOneReference) {
  const char text[] = "broadcast payload";
  SharedBlock* b = SharedBlock::create(text, sizeof text);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->refs.load(), 1);
  EXPECT_EQ(b->size, sizeof text);
  EXPECT_EQ(std::memcmp(b->data(), text, sizeof text), 0);
  b->unref();
  expect_freed(b);
}

TEST(SharedBlockTest, CreateWithoutASourceLeavesTheDataForTheCallerToFill) {
  SharedBlock* b = SharedBlock::create(nullptr, 1000);
  ASSERT_NE(b, nullptr);
  std::memset(b->data(), 0x5A, 1000);  // all 1000 bytes are the caller's (ASan checks the bounds)
  EXPECT_EQ(b->size, 1000u);
  b->unref();
}

TEST(SharedBlockTest, EveryItemHoldsAReferenceAndTheLastReleaseFreesTheBlock) {
  constexpr int kItems = 100;  // a broadcast to 100 links: one copy, 100 items
  IoPool pool(64, 1);
  std::vector<uint8_t> payload(3000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7);
  SharedBlock* b = SharedBlock::create(payload.data(), static_cast<uint32_t>(payload.size()));
  ASSERT_NE(b, nullptr);
  std::vector<SendItem*> items;
  for (int i = 0; i < kItems; ++i) {
    SendItem* it = SendItem::for_block(b, b->data(), b->size);
    ASSERT_NE(it, nullptr);
    EXPECT_EQ(it->block, b);
    EXPECT_EQ(it->buf, nullptr);
    EXPECT_EQ(it->data, b->data()) << "items share the one copy";
    EXPECT_EQ(it->left, b->size);
    items.push_back(it);
  }
  EXPECT_EQ(b->refs.load(), kItems + 1);
  b->unref();  // the broadcaster lets go: the items keep it
  EXPECT_EQ(b->refs.load(), kItems);
  std::shuffle(items.begin(), items.end(), std::mt19937(7));
  for (int i = 0; i < kItems - 1; ++i) {
    release_item(pool, items[i]);
    expect_alive(b);
    ASSERT_EQ(b->refs.load(), kItems - 1 - i);
    ASSERT_EQ(std::memcmp(b->data(), payload.data(), payload.size()), 0) << "after release " << i;
  }
  EXPECT_EQ(b->refs.load(), 1);
  release_item(pool, items.back());
  expect_freed(b);
  EXPECT_EQ(pool.free_count(), 1u) << "a block item touched the pool";
}

TEST(SharedBlockTest, ItemsReleasedOnManyThreadsFreeTheBlockExactlyOnce) {
  // Links of different workers finish sending a broadcast at the same time.
  constexpr int kThreads = 4, kItemsPerThread = 2000;
  IoPool pool(64, 1);
  for (int round = 0; round < 5; ++round) {
    SharedBlock* b = SharedBlock::create(nullptr, 256);
    ASSERT_NE(b, nullptr);
    std::vector<std::vector<SendItem*>> per_thread(kThreads);
    for (auto& v : per_thread)
      for (int i = 0; i < kItemsPerThread; ++i) v.push_back(SendItem::for_block(b, b->data(), 256));
    b->unref();
    ASSERT_EQ(b->refs.load(), kThreads * kItemsPerThread);
    std::atomic<int> go{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        go.fetch_add(1);
        while (go.load() < kThreads) std::this_thread::yield();
        for (SendItem* it : per_thread[t]) release_item(pool, it);
      });
    for (auto& th : threads) th.join();
    expect_freed(b);  // once: a second free is an ASan error, a missing one an LSan leak
  }
}

TEST(ReleaseItemTest, APoolBufferItemGoesBackToItsPool) {
  IoPool pool(64, 3);
  IoBuf* buf = pool.get(ts::BufState::kQueued);
  ASSERT_NE(buf, nullptr);
  buf->item.data = buf->data();
  buf->item.left = 64;
  SendQueue q;
  q.push(&buf->item);
  EXPECT_EQ(pool.free_count(), 2u);
  SendItem* done = q.consume_front(64);
  ASSERT_EQ(done, &buf->item);
  release_item(pool, done);  // the item lives in the buffer's header: no delete
  EXPECT_EQ(pool.free_count(), 3u);
  EXPECT_EQ(static_cast<ts::BufState>(buf->state.load()), ts::BufState::kFree);
}

TEST(ReleaseItemTest, AQueueOfBothKindsReleasesEachItsOwnWay) {
  IoPool pool(64, 4);
  SharedBlock* b = SharedBlock::create(nullptr, 32);
  SendQueue q;
  std::vector<IoBuf*> bufs;
  for (int i = 0; i < 4; ++i) {
    IoBuf* buf = pool.get(ts::BufState::kQueued);
    ASSERT_NE(buf, nullptr);
    buf->item.data = buf->data();
    buf->item.left = 10;
    bufs.push_back(buf);
    q.push(&buf->item);
    q.push(SendItem::for_block(b, b->data(), 32));
  }
  b->unref();
  EXPECT_EQ(b->refs.load(), 4);
  EXPECT_EQ(q.bytes(), size_t{4 * (10 + 32)});
  EXPECT_EQ(pool.free_count(), 0u);
  release_chain(pool, q.take_all());  // a link closing with its queue full
  EXPECT_EQ(pool.free_count(), 4u);
  for (IoBuf* buf : bufs) EXPECT_EQ(static_cast<ts::BufState>(buf->state.load()), ts::BufState::kFree);
  expect_freed(b);
}

}  // namespace
