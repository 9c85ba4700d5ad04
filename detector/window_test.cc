#include "detector/window.h"

#include <bit>
#include <cmath>
#include <deque>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

std::vector<int64_t> Times(const SampleWindow& w, int64_t from, int64_t to) {
  std::vector<SampleWindow::Point> points;
  w.CopyRange(from, to, points);
  std::vector<int64_t> out;
  for (const auto& p : points) out.push_back(p.timestamp_ms);
  return out;
}

TEST(SampleWindowTest, KeepsWhatTheRetentionReachesAndAlwaysTheNewest) {
  SampleWindow w;
  for (int64_t t = 0; t <= 100; t += 10) w.Append({t, double(t)}, t - 30);
  EXPECT_THAT(Times(w, 0, 1000), ::testing::ElementsAre(70, 80, 90, 100));
  // A retention of zero keeps just the newest.
  w.Append({200, 2}, 200);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.newest().value, 2);
}

TEST(SampleWindowTest, RangesIncludeBothEnds) {
  SampleWindow w;
  for (int64_t t = 0; t <= 100; t += 10) w.Append({t, 0}, 0);
  EXPECT_THAT(Times(w, 20, 40), ::testing::ElementsAre(20, 30, 40));
  EXPECT_THAT(Times(w, 21, 39), ::testing::ElementsAre(30));
  EXPECT_TRUE(Times(w, 101, 200).empty());
}

TEST(SampleWindowTest, NewestAtLooksBackFromAnInstant) {
  SampleWindow w;
  EXPECT_FALSE(w.NewestAt(5).has_value());
  for (int64_t t = 10; t <= 50; t += 10) w.Append({t, double(t)}, 0);
  EXPECT_FALSE(w.NewestAt(5).has_value());
  EXPECT_EQ(w.NewestAt(10)->timestamp_ms, 10);
  EXPECT_EQ(w.NewestAt(39)->timestamp_ms, 30);
  EXPECT_EQ(w.NewestAt(1000)->timestamp_ms, 50);
}

TEST(SampleWindowTest, WrapsAroundWithoutGrowingInSteadyState) {
  SampleWindow w;
  for (int64_t t = 0; t < 1000; ++t) w.Append({t, double(t)}, t - 7);
  size_t steady = w.capacity_bytes();
  for (int64_t t = 1000; t < 100000; ++t) w.Append({t, double(t)}, t - 7);
  EXPECT_EQ(w.capacity_bytes(), steady);
  EXPECT_EQ(w.size(), 8u);
  EXPECT_THAT(Times(w, 0, 1 << 30),
              ::testing::ElementsAre(99992, 99993, 99994, 99995, 99996, 99997, 99998, 99999));
  EXPECT_EQ(w.NewestAt(99995)->value, 99995);
}

TEST(SampleWindowTest, ASteadyWindowCostsUnderThirteenBytesASample) {
  SampleWindow w;
  for (int64_t t = 0; t < 3'600'000; t += 1000) w.Append({t, 1}, t - 300'000);
  EXPECT_EQ(w.size(), 301u);
  EXPECT_LT(double(w.capacity_bytes()) / double(w.size()), 13.0);
}

TEST(SampleWindowTest, SpansBeyondThirtyTwoBitsOfMillisecondsRebase) {
  SampleWindow w;
  const int64_t day = 86'400'000;
  for (int64_t t = 0; t <= 60 * day; t += day) w.Append({t, double(t / day)}, 0);
  // Everything older than 2^32 ms (49.7 days) before the newest is gone.
  std::vector<SampleWindow::Point> points;
  w.CopyRange(0, 100 * day, points);
  ASSERT_FALSE(points.empty());
  EXPECT_EQ(points.front().timestamp_ms, 11 * day);
  EXPECT_EQ(points.back().timestamp_ms, 60 * day);
  EXPECT_EQ(points.back().value, 60);
}

TEST(SampleWindowTest, KeepsFullPrecisionTimestampsFarFromTheEpoch) {
  SampleWindow w;
  const int64_t t0 = 1'790'000'000'123;
  w.Append({t0, 1.5}, 0);
  w.Append({t0 + 15'000, 2.5}, 0);
  EXPECT_EQ(w.newest().timestamp_ms, t0 + 15'000);
  EXPECT_EQ(w.NewestAt(t0 + 14'999)->timestamp_ms, t0);
  EXPECT_EQ(w.NewestAt(t0 + 14'999)->value, 1.5);
}

// Whatever the encoding does, a window must read back exactly what a plain
// list of the same samples would: odd steps (jitter, gaps, steps that shrink),
// values that change in every bit, NaNs with payloads (the stale marker),
// negative zero, and retentions that drop many samples at once.
TEST(SampleWindowTest, ReadsBackExactlyWhatAPlainListHolds) {
  std::mt19937_64 random(20261124);
  for (int round = 0; round < 20; ++round) {
    SampleWindow w;
    std::deque<SampleWindow::Point> reference;
    int64_t t = int64_t(random() % 2'000'000'000'000);
    double counter = 0;
    for (int i = 0; i < 3000; ++i) {
      switch (random() % 6) {
        case 0: t += 15'000; break;
        case 1: t += 15'000 + int64_t(random() % 200) - 100; break;
        case 2: t += 1 + int64_t(random() % 5); break;
        case 3: t += int64_t(random() % (int64_t{1} << 33)); break;  // beyond a window's span
        default: t += 1 + int64_t(random() % 100'000); break;
      }
      double value;
      switch (random() % 6) {
        case 0: value = std::bit_cast<double>(random()); break;
        case 1: value = std::bit_cast<double>(uint64_t{0x7ff0000000000002}); break;
        case 2: value = -0.0; break;
        case 3: value = counter; break;
        default: value = counter += double(random() % 1000); break;
      }
      const int64_t retention = int64_t(random() % 600'000);
      w.Append({t, value}, t - retention);
      reference.push_back({t, value});
      while (reference.front().timestamp_ms < t - retention ||
             t - reference.front().timestamp_ms > int64_t{0xffffffff}) {
        reference.pop_front();
      }
      ASSERT_EQ(w.size(), reference.size()) << "round " << round << " sample " << i;
      if (i % 7 != 0) continue;
      std::vector<SampleWindow::Point> points;
      w.CopyRange(reference.front().timestamp_ms, t, points);
      ASSERT_EQ(points.size(), reference.size());
      for (size_t k = 0; k < points.size(); ++k) {
        ASSERT_EQ(points[k].timestamp_ms, reference[k].timestamp_ms);
        ASSERT_EQ(std::bit_cast<uint64_t>(points[k].value),
                  std::bit_cast<uint64_t>(reference[k].value));
      }
      const size_t probe = random() % reference.size();
      const auto found = w.NewestAt(reference[probe].timestamp_ms);
      ASSERT_TRUE(found.has_value());
      EXPECT_EQ(found->timestamp_ms, reference[probe].timestamp_ms);
      EXPECT_EQ(std::bit_cast<uint64_t>(found->value),
                std::bit_cast<uint64_t>(reference[probe].value));
    }
  }
}

// The figure-4 shape: a counter scraped every 15 s, five minutes kept.
TEST(SampleWindowTest, AFiveMinuteCounterWindowTakesUnderTwoHundredBytes) {
  SampleWindow w;
  double counter = 0;
  for (int64_t t = 0; t < 3'600'000; t += 15'000) {
    w.Append({t, counter += 37}, t - 300'000);
  }
  EXPECT_EQ(w.size(), 21u);
  EXPECT_LT(w.capacity_bytes() + sizeof(SampleWindow), 200u);
}

}  // namespace
}  // namespace klaxon
