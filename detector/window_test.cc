#include "detector/window.h"

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

}  // namespace
}  // namespace klaxon
