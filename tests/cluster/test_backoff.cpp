// The reconnection wait (cluster/src/backoff.h): it doubles from the minimum to the maximum,
// each wait falls at random in the upper half of its step, and a success starts it over.
#include <gtest/gtest.h>

#include "backoff.h"

TEST(BackoffTest, DoublesWithJitterUpToTheMaximumAndStartsOverAfterASuccess) {
  tc::Backoff b(100, 1000, 42);
  const int64_t steps[] = {100, 200, 400, 800, 1000, 1000};
  for (int64_t step : steps) {
    int64_t ms = b.next().count();
    EXPECT_GE(ms, step / 2) << "step " << step;
    EXPECT_LE(ms, step) << "step " << step;
  }
  b.reset();
  EXPECT_LE(b.next().count(), 100);
}

TEST(BackoffTest, JitterSpreadsNodesThatLostRedisTogether) {
  // Sixteen nodes with their own seeds: their first waits are not all the same.
  int64_t first = tc::Backoff(1000, 5000, 1).next().count();
  bool differ = false;
  for (uint64_t seed = 2; seed <= 16; ++seed) differ |= tc::Backoff(1000, 5000, seed).next().count() != first;
  EXPECT_TRUE(differ);
}

TEST(BackoffTest, ATinyMinimumNeverWaitsZero) {
  tc::Backoff b(1, 1, 7);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.next().count(), 1);
}
