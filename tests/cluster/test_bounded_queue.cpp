// The bounded publish queue (cluster/src/bounded_queue.h): it never holds more than its item
// and byte bounds, refuses instead of waiting, hands items over in order and in batches, and
// loses or repeats nothing under several producers.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bounded_queue.h"

using Queue = tc::BoundedQueue<int>;
using Clock = std::chrono::steady_clock;

TEST(BoundedQueueTest, RefusesAtTheItemBoundAndReportsItsFigures) {
  Queue q(3, 1000);
  EXPECT_TRUE(q.try_push(1, 10));
  EXPECT_TRUE(q.try_push(2, 10));
  EXPECT_TRUE(q.try_push(3, 10));
  EXPECT_FALSE(q.try_push(4, 10));
  EXPECT_EQ(q.length(), 3u);
  EXPECT_EQ(q.bytes(), 30u);
  EXPECT_EQ(q.peak(), 3u);
  std::vector<int> out;
  EXPECT_EQ(q.take(&out, 10, Clock::now()), 3u);
  EXPECT_EQ(out, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(q.length(), 0u);
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.peak(), 3u);  // the peak stays
}

TEST(BoundedQueueTest, RefusesAtTheByteBound) {
  Queue q(100, 25);
  EXPECT_TRUE(q.try_push(1, 20));
  EXPECT_FALSE(q.try_push(2, 6));  // 26 > 25
  EXPECT_TRUE(q.try_push(3, 5));   // exactly 25
  EXPECT_FALSE(q.try_push(4, 1));
  EXPECT_EQ(q.bytes(), 25u);
  std::vector<int> out;
  q.take(&out, 1, Clock::now());
  EXPECT_EQ(out, (std::vector<int>{1}));
  EXPECT_TRUE(q.try_push(5, 20));  // room again
}

TEST(BoundedQueueTest, TakesInBatchesInOrder) {
  Queue q(100, 1000);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(q.try_push(int(i), 1));
  std::vector<int> out;
  EXPECT_EQ(q.take(&out, 4, Clock::now()), 4u);
  EXPECT_EQ(q.take(&out, 4, Clock::now()), 4u);
  EXPECT_EQ(q.take(&out, 4, Clock::now()), 2u);
  EXPECT_EQ(q.take(&out, 4, Clock::now()), 0u);
  EXPECT_EQ(out, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(BoundedQueueTest, WakeEndsAWaitWithoutItems) {
  Queue q(10, 100);
  std::atomic<bool> returned{false};
  std::thread consumer([&] {
    std::vector<int> out;
    q.take(&out, 10, Clock::now() + std::chrono::minutes(5));
    returned = true;
  });
  q.wake();
  consumer.join();  // a lost wake-up would hang here for 5 minutes (ctest's timeout fails it)
  EXPECT_TRUE(returned);
}

TEST(BoundedQueueTest, ManyProducersLoseAndRepeatNothing) {
  Queue q(64, 1 << 20);
  constexpr int kProducers = 4, kEach = 20000;
  std::atomic<int> refused{0}, producers_done{0};
  std::vector<int> seen;
  std::thread consumer([&] {
    std::vector<int> out;
    while (producers_done.load() < kProducers || q.length() > 0) {
      out.clear();
      q.take(&out, 16, Clock::now() + std::chrono::milliseconds(5));
      seen.insert(seen.end(), out.begin(), out.end());
      EXPECT_LE(q.length(), 64u);
    }
  });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p)
    producers.emplace_back([&, p] {
      for (int i = 0; i < kEach; ++i)
        if (!q.try_push(p * kEach + i, 8)) refused++;
      producers_done++;
    });
  for (auto& t : producers) t.join();
  consumer.join();
  EXPECT_EQ(seen.size() + static_cast<size_t>(refused.load()), size_t(kProducers) * kEach);
  EXPECT_LE(q.peak(), 64u);
  // Each producer's items arrive once, in its own order.
  std::vector<int> last(kProducers, -1);
  for (int v : seen) {
    int p = v / kEach;
    EXPECT_GT(v, last[p]);
    last[p] = v;
  }
}
