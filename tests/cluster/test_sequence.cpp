// Sequence numbers and gap accounting (cluster/src/sequence.h): numbers start at 1 per
// (publisher, channel); a receiver counts exactly the numbers it skipped, treats a first
// message and a number going back as a new start, and forgets the least recently heard
// publisher when its table is full.
#include <gtest/gtest.h>

#include "sequence.h"
#include "tcpcluster.h"

using tc::SequenceSource;
using tc::SequenceTracker;

TEST(SequenceTest, SourceNumbersEachChannelAndEachTargetFromOne) {
  SequenceSource s(16);
  EXPECT_EQ(s.next_broadcast(), 1u);
  EXPECT_EQ(s.next_broadcast(), 2u);
  EXPECT_EQ(s.next_topic(), 1u);
  EXPECT_EQ(s.next_direct(7), 1u);
  EXPECT_EQ(s.next_direct(8), 1u);
  EXPECT_EQ(s.next_direct(7), 2u);
  EXPECT_EQ(s.next_broadcast(), 3u);
}

TEST(SequenceTest, SourceForgetsTheLeastRecentTargetWhenFull) {
  SequenceSource s(2);
  s.next_direct(1);
  s.next_direct(1);
  s.next_direct(2);
  s.next_direct(1);                  // 1 is now the most recent
  EXPECT_EQ(s.next_direct(3), 1u);   // evicts 2
  EXPECT_EQ(s.next_direct(1), 4u);   // kept
  EXPECT_EQ(s.next_direct(2), 1u);   // forgotten: starts again (the receiver sees a reset)
}

TEST(SequenceTest, TrackerCountsExactlyTheSkippedNumbers) {
  SequenceTracker t(16);
  auto r = t.observe(100, TC_CHANNEL_BROADCAST, 1);
  EXPECT_TRUE(r.first);
  EXPECT_EQ(r.missed, 0u);
  r = t.observe(100, TC_CHANNEL_BROADCAST, 2);
  EXPECT_FALSE(r.first);
  EXPECT_EQ(r.missed, 0u);
  r = t.observe(100, TC_CHANNEL_BROADCAST, 6);
  EXPECT_EQ(r.missed, 3u);  // 3, 4, 5
  r = t.observe(100, TC_CHANNEL_BROADCAST, 7);
  EXPECT_EQ(r.missed, 0u);
  EXPECT_FALSE(r.reset);
}

TEST(SequenceTest, FirstMessageFromAPublisherIsABaselineNotAGap) {
  SequenceTracker t(16);
  auto r = t.observe(5, TC_CHANNEL_TOPIC, 1000);  // it published before we listened
  EXPECT_TRUE(r.first);
  EXPECT_EQ(r.missed, 0u);
  EXPECT_EQ(t.observe(5, TC_CHANNEL_TOPIC, 1002).missed, 1u);
}

TEST(SequenceTest, ChannelsAndPublishersAreCountedApart) {
  SequenceTracker t(16);
  t.observe(1, TC_CHANNEL_BROADCAST, 1);
  t.observe(1, TC_CHANNEL_DIRECT, 1);
  t.observe(2, TC_CHANNEL_BROADCAST, 1);
  EXPECT_EQ(t.observe(1, TC_CHANNEL_BROADCAST, 2).missed, 0u);
  EXPECT_EQ(t.observe(1, TC_CHANNEL_DIRECT, 3).missed, 1u);
  EXPECT_EQ(t.observe(2, TC_CHANNEL_BROADCAST, 5).missed, 3u);
  EXPECT_EQ(t.size(), 3u);
}

TEST(SequenceTest, ANumberGoingBackIsAResetWithoutGap) {
  SequenceTracker t(16);
  t.observe(9, TC_CHANNEL_DIRECT, 50);
  auto r = t.observe(9, TC_CHANNEL_DIRECT, 1);
  EXPECT_TRUE(r.reset);
  EXPECT_EQ(r.missed, 0u);
  r = t.observe(9, TC_CHANNEL_DIRECT, 3);  // counted from the new start
  EXPECT_EQ(r.missed, 1u);
  r = t.observe(9, TC_CHANNEL_DIRECT, 3);  // a repeat is no gap either
  EXPECT_TRUE(r.reset);
  EXPECT_EQ(r.missed, 0u);
}

TEST(SequenceTest, TrackerIsBoundedAndForgetsTheLeastRecentlyHeard) {
  SequenceTracker t(2);
  t.observe(1, TC_CHANNEL_BROADCAST, 1);
  t.observe(2, TC_CHANNEL_BROADCAST, 1);
  t.observe(1, TC_CHANNEL_BROADCAST, 2);  // 1 most recent, 2 least
  t.observe(3, TC_CHANNEL_BROADCAST, 1);  // evicts 2
  EXPECT_EQ(t.size(), 2u);
  EXPECT_FALSE(t.observe(1, TC_CHANNEL_BROADCAST, 3).first);
  auto r = t.observe(2, TC_CHANNEL_BROADCAST, 10);  // forgotten: a new baseline
  EXPECT_TRUE(r.first);
  EXPECT_EQ(r.missed, 0u);
  EXPECT_EQ(t.size(), 2u);
}
