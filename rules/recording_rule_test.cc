#include "rules/recording_rule.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "detector/labels.h"
#include "detector/sample.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/expr.h"
#include "rules/sample_store.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Labels L(absl::string_view series) { return ParseSeries(series).value(); }

const absl::Time kNow = absl::FromUnixSeconds(600);
constexpr int64_t kNowMs = 600'000;

RecordingRuleOptions Options(absl::string_view record, absl::string_view expr,
                             std::vector<Label> labels = {}) {
  RecordingRuleOptions o;
  o.record = std::string(record);
  o.expr = ParseExpr(expr).value();
  o.labels = std::move(labels);
  return o;
}

// "name{labels} value" of every output sample, in order.
std::vector<std::string> Render(const InstantVector& v) {
  std::vector<std::string> out;
  for (const VectorSample& s : v) out.push_back(absl::StrCat(s.labels.ToString(), " ", s.value));
  return out;
}

TEST(RecordingRuleTest, RenamesTheResultAndAppliesLabels) {
  SampleStore store;
  store.Add(L(R"(http_requests{job="api", instance="a"})"), kNowMs - 1000, 10);
  store.Add(L(R"(http_requests{job="api", instance="b"})"), kNowMs - 1000, 20);
  RecordingRule rule(Options("job:http_requests:doubled", "http_requests * 2",
                             {{"team", "checkout"}, {"instance", ""}, {"job", "frontend"}}));
  absl::StatusOr<InstantVector> out = rule.Evaluate(store, kNow);
  // Dropping `instance` makes the two outputs one label set: an error, as Prometheus.
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(),
              HasSubstr("vector contains metrics with the same labelset after applying rule "
                        "labels: job:http_requests:doubled{job=\"frontend\", team=\"checkout\"}"));

  RecordingRule keep(
      Options("job:http_requests:doubled", "http_requests * 2", {{"team", "checkout"}}));
  out = keep.Evaluate(store, kNow);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(
      Render(*out),
      ElementsAre("job:http_requests:doubled{instance=\"a\", job=\"api\", team=\"checkout\"} 20",
                  "job:http_requests:doubled{instance=\"b\", job=\"api\", team=\"checkout\"} 40"));
}

TEST(RecordingRuleTest, SelectorOutputKeepsLabelsButIsANewSeries) {
  SampleStore store;
  store.Add(L(R"(up{job="api"})"), kNowMs, 1);
  RecordingRule rule(Options("up:copy", "up"));
  absl::StatusOr<InstantVector> out = rule.Evaluate(store, kNow);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].labels, L(R"(up:copy{job="api"})"));
  EXPECT_FALSE((*out)[0].origin.has_value());
}

TEST(RecordingRuleTest, RuleLabelsOverrideExpressionLabels) {
  SampleStore store;
  store.Add(L(R"(up{job="api", env="dev"})"), kNowMs, 1);
  RecordingRule rule(Options("up:prod", "up", {{"env", "prod"}}));
  absl::StatusOr<InstantVector> out = rule.Evaluate(store, kNow);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Render(*out), ElementsAre("up:prod{env=\"prod\", job=\"api\"} 1"));
}

TEST(RecordingRuleTest, ScalarBecomesOneSampleWithOnlyTheRuleLabels) {
  SampleStore store;
  RecordingRule rule(Options("answer", "40 + 2", {{"source", "constant"}}));
  absl::StatusOr<InstantVector> out = rule.Evaluate(store, kNow);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Render(*out), ElementsAre("answer{source=\"constant\"} 42"));
}

TEST(RecordingRuleTest, EmptyResultIsEmpty) {
  SampleStore store;
  RecordingRule rule(Options("nothing", "absent_metric"));
  absl::StatusOr<InstantVector> out = rule.Evaluate(store, kNow);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(*out, IsEmpty());
}

TEST(RecordingRuleTest, NoExpressionIsAnError) {
  SampleStore store;
  RecordingRuleOptions o;
  o.record = "x";
  EXPECT_EQ(RecordingRule(o).Evaluate(store, kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// SampleStore

std::vector<std::string> Instant(const SampleStore& store, absl::string_view expr, int64_t at_ms) {
  std::vector<std::string> out;
  ExprPtr e = ParseExpr(expr).value();
  const auto* selector = std::get_if<VectorSelector>(&e->node);
  store.SelectInstant(selector->matchers, at_ms, 300'000,
                      [&](SeriesId, const Labels& labels, int64_t t, double v) {
                        out.push_back(absl::StrCat(labels.ToString(), "@", t, "=", v));
                      });
  return out;
}

std::vector<std::string> Range(const SampleStore& store, absl::string_view expr, int64_t at_ms,
                               int64_t range_ms) {
  std::vector<std::string> out;
  ExprPtr e = ParseExpr(expr).value();
  const auto* selector = std::get_if<VectorSelector>(&e->node);
  store.SelectRange(selector->matchers, at_ms, range_ms,
                    [&](SeriesId, const Labels& labels, absl::Span<const SeriesReader::Point> ps) {
                      std::string s = labels.ToString();
                      for (const auto& p : ps)
                        absl::StrAppend(&s, " ", p.timestamp_ms, "=", p.value);
                      out.push_back(s);
                    });
  return out;
}

TEST(SampleStoreTest, InstantTakesTheNewestSampleWithinTheLookback) {
  SampleStore store;
  store.Add(L("a"), 0, 1);
  store.Add(L("a"), 60'000, 2);
  EXPECT_THAT(Instant(store, "a", 59'999), ElementsAre("a@0=1"));
  EXPECT_THAT(Instant(store, "a", 60'000), ElementsAre("a@60000=2"));
  EXPECT_THAT(Instant(store, "a", 360'000), ElementsAre("a@60000=2"));  // both ends included
  EXPECT_THAT(Instant(store, "a", 360'001), IsEmpty());
  EXPECT_THAT(Instant(store, "a", -1), IsEmpty());
}

TEST(SampleStoreTest, StaleMarkerHidesTheSeriesUntilTheNextSample) {
  SampleStore store;
  store.Add(L("a"), 0, 1);
  store.Add(L("a"), 60'000, StaleNaN());
  store.Add(L("a"), 180'000, 3);
  EXPECT_THAT(Instant(store, "a", 30'000), ElementsAre("a@0=1"));
  EXPECT_THAT(Instant(store, "a", 120'000), IsEmpty());
  EXPECT_THAT(Instant(store, "a", 180'000), ElementsAre("a@180000=3"));
  // Ranges skip stale markers.
  EXPECT_THAT(Range(store, "a", 180'000, 180'000), ElementsAre("a 0=1 180000=3"));
}

TEST(SampleStoreTest, RangeIncludesBothEndsAndOutOfOrderAddsAreSorted) {
  SampleStore store;
  store.Add(L(R"(b{x="1"})"), 120'000, 3);
  store.Add(L(R"(b{x="1"})"), 0, 1);
  store.Add(L(R"(b{x="1"})"), 60'000, 2);
  store.Add(L(R"(b{x="1"})"), 60'000, 5);  // same timestamp: replaces
  store.Add(L(R"(b{x="2"})"), 0, 9);
  EXPECT_EQ(store.series_count(), 2u);
  EXPECT_EQ(store.sample_count(), 4u);
  EXPECT_THAT(Range(store, R"(b{x="1"})", 120'000, 60'000),
              ElementsAre("b{x=\"1\"} 60000=5 120000=3"));
  EXPECT_THAT(Range(store, "b", 60'000, 60'000),
              ElementsAre("b{x=\"1\"} 0=1 60000=5", "b{x=\"2\"} 0=9"));
  EXPECT_THAT(Range(store, "b", 300'000, 60'000), IsEmpty());
}

}  // namespace
}  // namespace klaxon
