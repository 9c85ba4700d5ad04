// Functions of the rule language, end to end through the evaluator, with
// expected values worked out by hand from Prometheus 2.42's formulas, and the
// numeric kernels on their own.
#include "rules/internal/functions.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/internal/eval_testing.h"

namespace klaxon::rules_internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr double kInf = std::numeric_limits<double>::infinity();

class FunctionsTest : public EvalTestBase {};

// A counter sampled every 60s, the last sample 50s before the evaluation, so
// that a 5m range holds five samples 10s after its start and 50s before its end.
TEST_F(FunctionsTest, RateAndIncreaseExtrapolateToTheRangeBoundaries) {
  AddSamples(R"(requests_total{job="api"})",
             {{290, 10}, {230, 20}, {170, 30}, {110, 40}, {50, 50}});
  // Increase 40 over 240s sampled. Both gaps (10s, 50s) are under 1.1 * 60s,
  // so it extrapolates over the whole 300s: 40 * 300 / 240 = 50.
  EXPECT_DOUBLE_EQ(Only("increase(requests_total[5m])"), 50);
  EXPECT_DOUBLE_EQ(Only("rate(requests_total[5m])"), 50.0 / 300);
  // The metric name goes; the other labels stay.
  EXPECT_THAT(Rows(EvalVector("increase(requests_total[5m])")), ElementsAre(R"({job="api"}=50)"));
  EXPECT_FALSE(EvalVector("rate(requests_total[5m])")[0].origin.has_value());
}

TEST_F(FunctionsTest, RateUnderAnOffsetExtrapolatesToTheShiftedRange) {
  // The same samples as above, 5m older: the range [t-10m, t-5m] sees them as
  // the plain range saw the originals.
  AddSamples("c", {{590, 10}, {530, 20}, {470, 30}, {410, 40}, {350, 50}});
  EXPECT_DOUBLE_EQ(Only("increase(c[5m] offset 5m)"), 50);
  EXPECT_THAT(EvalVector("increase(c[5m])"), IsEmpty());  // no samples in [t-5m, t]
}

TEST_F(FunctionsTest, HandBuiltCallsWithBadArgumentsAreErrorsNotCrashes) {
  auto call = std::make_shared<const Expr>(Expr{Call{"abs", {}}, {}});
  absl::StatusOr<EvalResult> r = Evaluate(*call, reader_, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "wrong arguments in call to function \"abs\"");
  auto rate = std::make_shared<const Expr>(
      Expr{Call{"rate", {std::make_shared<const Expr>(Expr{NumberLiteral{1}, {}})}}, {}});
  EXPECT_FALSE(Evaluate(*rate, reader_, kNow).ok());
}

TEST_F(FunctionsTest, RateCountsACounterReset) {
  AddSamples("c", {{290, 10}, {230, 20}, {170, 5}, {110, 15}, {50, 25}});
  // 25 - 10 = 15, plus the 20 lost at the reset: 35, extrapolated by 300/240.
  EXPECT_DOUBLE_EQ(Only("increase(c[5m])"), 35 * 1.25);
  EXPECT_DOUBLE_EQ(Only("rate(c[5m])"), 35 * (1.25 / 300));
  EXPECT_EQ(Only("resets(c[5m])"), 1);
  // delta() knows no resets: (25 - 10) * 1.25.
  EXPECT_DOUBLE_EQ(Only("delta(c[5m])"), 15 * 1.25);
}

TEST_F(FunctionsTest, RateStopsExtrapolatingAtTheCountersZero) {
  // 4 samples 60s apart, the first 100s after the range start. Increase 18,
  // first value 5: the counter was at zero 180 * 5/18 = 50s before the first
  // sample. 2.42 takes those 50s (under the 66s threshold) before deciding
  // whether to extrapolate, so 18 * (180 + 50 + 20) / 180 = 25. (From 2.52 on
  // Prometheus first cuts the 100s to half an interval, 30s, and gets 23.)
  AddSamples("c", {{200, 5}, {140, 11}, {80, 17}, {20, 23}});
  EXPECT_DOUBLE_EQ(Only("increase(c[5m])"), 25);
}

TEST_F(FunctionsTest, RateExtrapolatesHalfAnIntervalWhenTheSeriesStartsLate) {
  // Samples from 120s to 0s before the end, 30s apart, start 180s after the
  // range start: beyond 1.1 * 30s, so only 15s are added there; the end gap
  // is 0. The first value 100 puts the zero point far away. 40 * 135 / 120.
  AddSamples("c", {{120, 100}, {90, 110}, {60, 120}, {30, 130}, {0, 140}});
  EXPECT_DOUBLE_EQ(Only("increase(c[5m])"), 40 * (135.0 / 120));
  EXPECT_DOUBLE_EQ(Only("delta(c[5m])"), 40 * (135.0 / 120));
}

TEST_F(FunctionsTest, RateNeedsTwoSamples) {
  AddSamples("one", {{10, 5}});
  EXPECT_THAT(EvalVector("rate(one[5m])"), IsEmpty());
  EXPECT_THAT(EvalVector("irate(one[5m])"), IsEmpty());
  EXPECT_THAT(EvalVector("deriv(one[5m])"), IsEmpty());
  EXPECT_EQ(Only("resets(one[5m])"), 0);
  EXPECT_EQ(Only("changes(one[5m])"), 0);
}

TEST_F(FunctionsTest, IrateAndIdeltaUseTheLastTwoSamples) {
  AddSamples("c", {{170, 1}, {110, 15}, {50, 25}});
  AddSamples("reset", {{110, 20}, {50, 5}});
  EXPECT_DOUBLE_EQ(Only("irate(c[5m])"), 10.0 / 60);
  EXPECT_DOUBLE_EQ(Only("idelta(c[5m])"), 10);
  EXPECT_DOUBLE_EQ(Only("irate(reset[5m])"), 5.0 / 60);  // restarted from 0
  EXPECT_DOUBLE_EQ(Only("idelta(reset[5m])"), -15);
}

TEST_F(FunctionsTest, ResetsAndChanges) {
  AddSamples("m", {{240, 3}, {180, 1}, {120, 1}, {60, 4}, {0, 2}});
  EXPECT_EQ(Only("resets(m[5m])"), 2);
  EXPECT_EQ(Only("changes(m[5m])"), 3);
  AddSamples("nans", {{120, std::nan("")}, {60, std::nan("")}, {0, 1}});
  EXPECT_EQ(Only("changes(nans[5m])"), 1);  // NaN to NaN is no change
}

TEST_F(FunctionsTest, DerivAndPredictLinear) {
  // x (s from now) = -120, -60, 0; y = 1, 2, 6. Least squares: slope
  // 300 / 7200 = 1/24, value at now 3 - (1/24)(-60) = 5.5.
  AddSamples("m", {{120, 1}, {60, 2}, {0, 6}});
  EXPECT_DOUBLE_EQ(Only("deriv(m[5m])"), 1.0 / 24);
  EXPECT_DOUBLE_EQ(Only("predict_linear(m[5m], 3600)"), 3600.0 / 24 + 5.5);
  // With an offset the fit still predicts from the evaluation instant, as 2.42:
  // the same points seen 1m later are x = -180, -120, -60, value 5.5 - 60/24 at now.
  EXPECT_DOUBLE_EQ(Only("predict_linear(m[5m] offset -1m, 0)"), 5.5);
  AddSamples("flat", {{120, 7}, {60, 7}, {0, 7}});
  EXPECT_EQ(Only("deriv(flat[5m])"), 0);
  EXPECT_EQ(Only("predict_linear(flat[5m], 100)"), 7);
}

TEST_F(FunctionsTest, OverTimeAggregations) {
  const SeriesId id = AddSamples(R"(m{job="a"})", {{180, 1}, {120, 2}, {60, 3}, {0, 10}});
  EXPECT_EQ(Only("avg_over_time(m[5m])"), 4);
  EXPECT_EQ(Only("min_over_time(m[5m])"), 1);
  EXPECT_EQ(Only("max_over_time(m[5m])"), 10);
  EXPECT_EQ(Only("sum_over_time(m[5m])"), 16);
  EXPECT_EQ(Only("count_over_time(m[5m])"), 4);
  EXPECT_EQ(Only("present_over_time(m[5m])"), 1);
  // Sorted 1 2 3 10, rank 0.5 * 3 = 1.5: between 2 and 3.
  EXPECT_EQ(Only("quantile_over_time(0.5, m[5m])"), 2.5);
  EXPECT_EQ(Only("quantile_over_time(1, m[5m])"), 10);
  EXPECT_EQ(Only("quantile_over_time(1.5, m[5m])"), kInf);
  EXPECT_TRUE(std::isnan(Only("quantile_over_time(NaN, m[5m])")));
  // Deviations -3 -2 -1 6 around 4: variance 50 / 4.
  EXPECT_DOUBLE_EQ(Only("stdvar_over_time(m[5m])"), 12.5);
  EXPECT_DOUBLE_EQ(Only("stddev_over_time(m[5m])"), std::sqrt(12.5));
  EXPECT_THAT(Rows(EvalVector("avg_over_time(m[5m])")), ElementsAre(R"({job="a"}=4)"));
  // last_over_time keeps the name and the source, like a selector.
  const InstantVector last = EvalVector("last_over_time(m[5m])");
  EXPECT_THAT(Rows(last), ElementsAre(R"(m{job="a"}=10)"));
  EXPECT_EQ(last[0].origin, id);
  EXPECT_EQ(Only("last_over_time(m[1m] offset 1m)"), 3);
}

TEST_F(FunctionsTest, OverTimeNaNAndInf) {
  AddSamples("m", {{120, std::nan("")}, {60, 1}, {0, 5}});
  EXPECT_EQ(Only("max_over_time(m[5m])"), 5);  // a NaN first is replaced
  EXPECT_EQ(Only("min_over_time(m[5m])"), 1);
  EXPECT_TRUE(std::isnan(Only("sum_over_time(m[5m])")));
  AddSamples("infs", {{60, kInf}, {0, 1}});
  EXPECT_EQ(Only("avg_over_time(infs[5m])"), kInf);
  EXPECT_EQ(Only("sum_over_time(infs[5m])"), kInf);
}

TEST_F(FunctionsTest, AbsentAndAbsentOverTime) {
  Add(R"(up{job="api"})", 1);
  EXPECT_THAT(EvalVector(R"(absent(up{job="api"}))"), IsEmpty());
  // Labels come from the equality matchers, unless a label is matched twice.
  EXPECT_THAT(Rows(EvalVector(R"(absent(up{job="web", env=~"prod.*", zone="a", zone="b"}))")),
              ElementsAre(R"({job="web"}=1)"));
  // Matchers apply in order (Prometheus 2.42): a label's first `=` sets it, any
  // other matcher of the label removes it.
  EXPECT_THAT(Rows(EvalVector(R"(absent(up{job!="x", job="web"}))")),
              ElementsAre(R"({job="web"}=1)"));
  EXPECT_THAT(Rows(EvalVector(R"(absent(up{job="web", job!="x"}))")), ElementsAre("{}=1"));
  EXPECT_THAT(Rows(EvalVector(R"(absent(nonexistent))")), ElementsAre("{}=1"));
  EXPECT_THAT(Rows(EvalVector(R"(absent(sum(nonexistent{job="x"})))")), ElementsAre("{}=1"));
  EXPECT_THAT(EvalVector(R"(absent_over_time(up[5m]))"), IsEmpty());
  EXPECT_THAT(Rows(EvalVector(R"(absent_over_time(up{job="web", x!="y"}[5m]))")),
              ElementsAre(R"({job="web"}=1)"));
  Add(R"(old{job="api"})", 1, 10 * kMinute);
  EXPECT_THAT(Rows(EvalVector(R"(absent_over_time(old{job="api"}[5m]))")),
              ElementsAre(R"({job="api"}=1)"));
  EXPECT_THAT(EvalVector(R"(absent_over_time(old{job="api"}[15m]))"), IsEmpty());
  EXPECT_FALSE(EvalVector("absent(nonexistent)")[0].origin.has_value());
}

TEST_F(FunctionsTest, HistogramQuantile) {
  for (const auto& [le, count] : std::vector<std::pair<std::string, double>>{
           {"0.1", 10}, {"0.5", 30}, {"1", 40}, {"+Inf", 50}}) {
    Add(absl::StrCat(R"(latency_bucket{job="a", le=")", le, "\"}"), count);
    Add(absl::StrCat(R"(latency_bucket{job="b", le=")", le, "\"}"), count * 2);
  }
  // Rank 25 falls in (0.1, 0.5] holding 20, 15 of them: 0.1 + 0.4 * 15/20.
  EXPECT_THAT(Rows(EvalVector("histogram_quantile(0.5, latency_bucket)")),
              ElementsAre(R"({job="a"}=0.4)", R"({job="b"}=0.4)"));
  // In the first bucket it interpolates from 0: 0.1 * 2.5/10.
  EXPECT_DOUBLE_EQ(Only(R"(histogram_quantile(0.05, latency_bucket{job="a"}))"), 0.025);
  // In the +Inf bucket it answers the largest finite bound.
  EXPECT_EQ(Only(R"(histogram_quantile(0.9, latency_bucket{job="a"}))"), 1);
  EXPECT_EQ(Only(R"(histogram_quantile(1.5, latency_bucket{job="a"}))"), kInf);
  EXPECT_EQ(Only(R"(histogram_quantile(-1, latency_bucket{job="a"}))"), -kInf);
  EXPECT_TRUE(std::isnan(Only(R"(histogram_quantile(NaN, latency_bucket{job="a"}))")));
  // Without a +Inf bucket there is no answer.
  EXPECT_TRUE(std::isnan(Only(R"(histogram_quantile(0.5, latency_bucket{job="a", le!="+Inf"}))")));
  // Series without a parsable le are skipped.
  Add(R"(latency_bucket{job="c", le="fast"})", 1);
  Add(R"(latency_count{job="a"})", 50);
  EXPECT_EQ(EvalVector(R"(histogram_quantile(0.5, {__name__=~"latency_.*"}))").size(), 2u);
}

TEST_F(FunctionsTest, HistogramQuantileMergesAndRepairsBuckets) {
  // "1" and "1.0" are one bucket; counts that drop with the bound are raised.
  Add(R"(h_bucket{le="0.5"})", 10);
  Add(R"(h_bucket{le="1"})", 5);
  Add(R"(h_bucket{le="1.0"})", 3);
  Add(R"(h_bucket{le="2"})", 4);  // below 8: treated as 8
  Add(R"(h_bucket{le="+Inf"})", 20);
  // Merged, bucket 1 holds 5 + 3 = 8, below the 10 of bucket 0.5, so it is
  // lifted to 10, and so is bucket 2. Rank 15 then lands in +Inf: answer 2.
  EXPECT_EQ(Only("histogram_quantile(0.75, h_bucket)"), 2);
  // Rank 5 in the first bucket: 0.5 * 5/10.
  EXPECT_EQ(Only("histogram_quantile(0.25, h_bucket)"), 0.25);
  // Two histograms that differ only by name would give one label set: an error.
  Add(R"(g_bucket{le="+Inf"})", 1);
  Add(R"(g_bucket{le="1"})", 1);
  EXPECT_THAT(EvalError(R"(histogram_quantile(0.5, {__name__=~".*_bucket"}))"),
              HasSubstr("vector cannot contain metrics with the same labelset"));
}

TEST_F(FunctionsTest, ClampRoundAndMath) {
  Add(R"(m{i="neg"})", -2.5);
  Add(R"(m{i="mid"})", 0.5);
  Add(R"(m{i="big"})", 7.25);
  Add(R"(m{i="nan"})", std::nan(""));
  EXPECT_THAT(
      Rows(EvalVector("clamp(m, 0, 1)")),
      ElementsAre(R"({i="big"}=1)", R"({i="mid"}=0.5)", R"({i="nan"}=NaN)", R"({i="neg"}=0)"));
  EXPECT_THAT(EvalVector("clamp(m, 2, 1)"), IsEmpty());
  EXPECT_THAT(
      Rows(EvalVector("clamp_min(m, 1)")),
      ElementsAre(R"({i="big"}=7.25)", R"({i="mid"}=1)", R"({i="nan"}=NaN)", R"({i="neg"}=1)"));
  EXPECT_THAT(
      Rows(EvalVector("clamp_max(m, 1)")),
      ElementsAre(R"({i="big"}=1)", R"({i="mid"}=0.5)", R"({i="nan"}=NaN)", R"({i="neg"}=-2.5)"));
  // Ties round up: -2.5 to -2, 0.5 to 1.
  EXPECT_THAT(Rows(EvalVector("round(m)")), ElementsAre(R"({i="big"}=7)", R"({i="mid"}=1)",
                                                        R"({i="nan"}=NaN)", R"({i="neg"}=-2)"));
  EXPECT_EQ(Only(R"(round(m{i="big"}, 0.5))"), 7.5);
  EXPECT_EQ(Only(R"(round(m{i="big"}, 10))"), 10);
  EXPECT_EQ(Only(R"(abs(m{i="neg"}))"), 2.5);
  EXPECT_EQ(Only(R"(ceil(m{i="neg"}))"), -2);
  EXPECT_EQ(Only(R"(floor(m{i="neg"}))"), -3);
  EXPECT_EQ(Only(R"(sgn(m{i="neg"}))"), -1);
  EXPECT_EQ(Only("sqrt(vector(16))"), 4);
  EXPECT_EQ(Only("exp(vector(0))"), 1);
  EXPECT_EQ(Only("ln(vector(1))"), 0);
  EXPECT_EQ(Only("log2(vector(8))"), 3);
  EXPECT_NEAR(Only("log10(vector(1000))"), 3, 1e-15);
  EXPECT_NEAR(Only("deg(vector(pi()))"), 180, 1e-12);
  EXPECT_TRUE(std::isnan(Only("ln(vector(-1))")));
  // Functions that change values drop the name; duplicates are then an error.
  Add(R"(a{job="x"})", -1);
  Add(R"(b{job="x"})", -2);
  EXPECT_THAT(EvalError(R"(abs({__name__=~"a|b"}))"),
              HasSubstr("vector cannot contain metrics with the same labelset"));
}

TEST_F(FunctionsTest, TimeTimestampVectorScalar) {
  EXPECT_EQ(EvalScalar("time()"), 1'700'000'000);
  Add(R"(m{i="1"})", 5, 20 * kSecond);
  Add(R"(m{i="2"})", 6, 1500);
  EXPECT_THAT(Rows(EvalVector("timestamp(m)")),
              ElementsAre(R"({i="1"}=1.69999998e+09)", R"({i="2"}=1.6999999985e+09)"));
  // Of anything but a bare selector, 2.42 answers the evaluation time.
  EXPECT_THAT(Rows(EvalVector("timestamp(m > 0)")),
              ElementsAre(R"({i="1"}=1.7e+09)", R"({i="2"}=1.7e+09)"));
  EXPECT_THAT(Rows(EvalVector("vector(time() - 1)")), ElementsAre("{}=1.699999999e+09"));
  EXPECT_TRUE(std::isnan(EvalScalar("scalar(m)")));  // two samples
  EXPECT_EQ(EvalScalar(R"(scalar(m{i="2"}))"), 6);
  EXPECT_TRUE(std::isnan(EvalScalar("scalar(missing)")));
  EXPECT_EQ(EvalScalar("pi()"), M_PI);
}

TEST_F(FunctionsTest, LabelReplace) {
  const SeriesId id = Add(R"(up{job="api-server", instance="host:9090"})", 1);
  const InstantVector v = EvalVector(R"(label_replace(up, "host", "$1", "instance", "(.*):.*"))");
  EXPECT_THAT(Rows(v), ElementsAre(R"(up{host="host", instance="host:9090", job="api-server"}=1)"));
  EXPECT_EQ(v[0].origin, id);  // values unchanged: still the source's sample
  // The regex is anchored: a partial match is no match, and the sample stays as it was.
  EXPECT_THAT(Rows(EvalVector(R"(label_replace(up, "host", "$1", "instance", "(.*):90"))")),
              ElementsAre(R"(up{instance="host:9090", job="api-server"}=1)"));
  // Go's template rules: ${1}x, $1x (the group named "1x": empty), $$, named groups.
  EXPECT_THAT(Rows(EvalVector(R"(label_replace(up, "a", "${1}x$$", "instance", "(.*):.*"))")),
              ElementsAre(R"(up{a="hostx$", instance="host:9090", job="api-server"}=1)"));
  EXPECT_THAT(Rows(EvalVector(R"(label_replace(up, "a", "$1x", "instance", "(.*):.*"))")),
              ElementsAre(R"(up{instance="host:9090", job="api-server"}=1)"));
  EXPECT_THAT(
      Rows(EvalVector(R"x(label_replace(up, "port", "$p", "instance", ".*:(?P<p>\\d+)"))x")),
      ElementsAre(R"(up{instance="host:9090", job="api-server", port="9090"}=1)"));
  // An empty result removes the label; the metric name may be replaced.
  EXPECT_THAT(Rows(EvalVector(R"(label_replace(up, "job", "", "job", ".*"))")),
              ElementsAre(R"(up{instance="host:9090"}=1)"));
  EXPECT_THAT(Rows(EvalVector(R"(label_replace(up, "__name__", "x_$1", "job", "(api).*"))")),
              ElementsAre(R"(x_api{instance="host:9090", job="api-server"}=1)"));
  // A missing source label reads as "".
  EXPECT_THAT(Rows(EvalVector(R"(label_replace(up, "a", "empty", "nothere", ""))")),
              ElementsAre(R"(up{a="empty", instance="host:9090", job="api-server"}=1)"));
  Add(R"(up{job="api-server", instance="host:9091"})", 1);
  EXPECT_THAT(EvalError(R"(label_replace(up, "instance", "x", "instance", ".*"))"),
              HasSubstr("vector cannot contain metrics with the same labelset"));
}

TEST_F(FunctionsTest, LabelJoin) {
  Add(R"(up{job="api", instance="h:1"})", 1);
  EXPECT_THAT(Rows(EvalVector(R"(label_join(up, "id", "/", "job", "instance", "none"))")),
              ElementsAre(R"(up{id="api/h:1/", instance="h:1", job="api"}=1)"));
  EXPECT_THAT(Rows(EvalVector(R"(label_join(up, "job", "-", "none"))")),
              ElementsAre(R"(up{instance="h:1"}=1)"));
}

TEST_F(FunctionsTest, SortAndSortDesc) {
  const SeriesId b = Add(R"(m{i="b"})", 2);
  Add(R"(m{i="a"})", 3);
  Add(R"(m{i="n"})", std::nan(""));
  Add(R"(m{i="c"})", 1);
  const InstantVector asc = EvalVector("sort(m)");
  EXPECT_THAT(Rows(asc),
              ElementsAre(R"(m{i="c"}=1)", R"(m{i="b"}=2)", R"(m{i="a"}=3)", R"(m{i="n"}=NaN)"));
  EXPECT_EQ(asc[1].origin, b);
  EXPECT_THAT(Rows(EvalVector("sort_desc(m)")),
              ElementsAre(R"(m{i="a"}=3)", R"(m{i="b"}=2)", R"(m{i="c"}=1)", R"(m{i="n"}=NaN)"));
}

TEST_F(FunctionsTest, DateFunctions) {
  // kNow is 2023-11-14T22:13:20Z, a Tuesday.
  EXPECT_THAT(Rows(EvalVector("year()")), ElementsAre("{}=2023"));
  EXPECT_EQ(Only("month()"), 11);
  EXPECT_EQ(Only("day_of_month()"), 14);
  EXPECT_EQ(Only("day_of_week()"), 2);
  EXPECT_EQ(Only("hour()"), 22);
  EXPECT_EQ(Only("minute()"), 13);
  EXPECT_EQ(Only("days_in_month()"), 30);
  // Of a vector of Unix seconds: 2024-02-29T23:59:59Z, a leap day, a Thursday.
  EXPECT_EQ(Only("days_in_month(vector(1709251199))"), 29);
  EXPECT_EQ(Only("day_of_week(vector(1709251199))"), 4);
  EXPECT_EQ(Only("day_of_week(vector(0))"), 4);       // 1970-01-01 was a Thursday too
  EXPECT_EQ(Only("day_of_week(vector(259200))"), 0);  // 1970-01-04, a Sunday
  Add(R"(boot_time{host="a"})", 1709251199);
  EXPECT_THAT(Rows(EvalVector("month(boot_time)")), ElementsAre(R"({host="a"}=2)"));
}

TEST_F(FunctionsTest, HoltWinters) {
  AddSamples("m", {{180, 1}, {120, 3}, {60, 5}, {0, 7}});
  // A straight line smooths to itself: s = 1, b = 2, then 3, 5, 7.
  EXPECT_DOUBLE_EQ(Only("holt_winters(m[5m], 0.5, 0.5)"), 7);
  EXPECT_EQ(EvalError("holt_winters(m[5m], 1, 0.5)"),
            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000");
  EXPECT_EQ(EvalError("holt_winters(m[5m], 0.5, 0)"),
            "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000");
}

TEST_F(FunctionsTest, RangeFunctionsDropNamesAndMayCollide) {
  AddSamples(R"(a{job="x"})", {{60, 1}, {0, 2}});
  AddSamples(R"(b{job="x"})", {{60, 1}, {0, 2}});
  EXPECT_THAT(EvalError(R"(rate({__name__=~"a|b"}[5m]))"),
              HasSubstr("vector cannot contain metrics with the same labelset"));
  EXPECT_EQ(EvalVector(R"(last_over_time({__name__=~"a|b"}[5m]))").size(), 2u);
}

// The kernels on their own.

TEST(QuantileTest, InterpolatesBetweenRanks) {
  std::vector<double> v = {4, 1, 3, 2};
  EXPECT_EQ(Quantile(0, v), 1);
  EXPECT_EQ(Quantile(1, v), 4);
  EXPECT_EQ(Quantile(0.5, v), 2.5);
  EXPECT_EQ(Quantile(1.0 / 3, v), 2);
  std::vector<double> with_nan = {2, std::nan(""), 1};
  EXPECT_TRUE(std::isnan(Quantile(0, with_nan)));  // NaN sorts first
  EXPECT_EQ(Quantile(1, with_nan), 2);
  std::vector<double> empty;
  EXPECT_TRUE(std::isnan(Quantile(0.5, empty)));
}

TEST(BucketQuantileTest, EdgeCases) {
  EXPECT_TRUE(std::isnan(BucketQuantile(0.5, {})));
  EXPECT_TRUE(std::isnan(BucketQuantile(0.5, {{kInf, 10}})));         // one bucket
  EXPECT_TRUE(std::isnan(BucketQuantile(0.5, {{1, 0}, {kInf, 0}})));  // no observations
  // A first bucket with a bound at or below zero answers its bound.
  EXPECT_EQ(BucketQuantile(0.1, {{-1, 5}, {0, 10}, {kInf, 10}}), -1);
  // Order of the input does not matter.
  EXPECT_EQ(BucketQuantile(0.5, {{kInf, 4}, {2, 4}, {1, 2}}), 1);
}

TEST(ParseGoFloatTest, AsStrconvParseFloat) {
  EXPECT_EQ(ParseGoFloat("0.25"), 0.25);
  EXPECT_EQ(ParseGoFloat("1e3"), 1000);
  EXPECT_EQ(ParseGoFloat("+Inf"), kInf);
  EXPECT_EQ(ParseGoFloat("-inf"), -kInf);
  EXPECT_EQ(ParseGoFloat("Infinity"), kInf);
  EXPECT_TRUE(std::isnan(ParseGoFloat("NaN").value_or(0)));
  EXPECT_EQ(ParseGoFloat("+1.5"), 1.5);
  EXPECT_EQ(ParseGoFloat(".5"), 0.5);
  EXPECT_EQ(ParseGoFloat("1e-400"), 0);
  EXPECT_FALSE(ParseGoFloat("1e400").has_value());
  EXPECT_FALSE(ParseGoFloat("").has_value());
  EXPECT_FALSE(ParseGoFloat(" 1").has_value());
  EXPECT_FALSE(ParseGoFloat("1s").has_value());
  EXPECT_FALSE(ParseGoFloat("+NaN").has_value());
  EXPECT_FALSE(ParseGoFloat("infinit").has_value());
}

TEST(FormatFloatFixedTest, AsFormatFloatF) {
  EXPECT_EQ(FormatFloatFixed(1), "1");
  EXPECT_EQ(FormatFloatFixed(0.1), "0.1");
  EXPECT_EQ(FormatFloatFixed(1e21), "1000000000000000000000");
  EXPECT_EQ(FormatFloatFixed(1.5e-7), "0.00000015");
  EXPECT_EQ(FormatFloatFixed(-2.5), "-2.5");
  EXPECT_EQ(FormatFloatFixed(std::nan("")), "NaN");
  EXPECT_EQ(FormatFloatFixed(-kInf), "-Inf");
}

TEST(ExpandTemplateTest, GoRegexpExpand) {
  const std::vector<std::optional<absl::string_view>> groups = {"ab:12", "ab", std::nullopt, "12"};
  const std::vector<std::string> names = {"", "", "", "port"};
  EXPECT_EQ(ExpandTemplate("$1-$3", groups, names), "ab-12");
  EXPECT_EQ(ExpandTemplate("${1}x", groups, names), "abx");
  EXPECT_EQ(ExpandTemplate("$1x", groups, names), "");  // ${1x}: no such group
  EXPECT_EQ(ExpandTemplate("$2|$9|$port|${port}", groups, names), "||12|12");
  EXPECT_EQ(ExpandTemplate("$$1 $ ${1 $", groups, names), "$1 $ ${1 $");
  EXPECT_EQ(ExpandTemplate("$01", groups, names), "");  // leading zero: a name
  EXPECT_EQ(ExpandTemplate("plain", groups, names), "plain");
}

TEST(GoMaxMinTest, NaNAndSignedZero) {
  EXPECT_EQ(GoMax(kInf, std::nan("")), kInf);  // +Inf wins over NaN in Go
  EXPECT_TRUE(std::isnan(GoMax(1, std::nan(""))));
  EXPECT_FALSE(std::signbit(GoMax(-0.0, 0.0)));
  EXPECT_EQ(GoMin(-kInf, std::nan("")), -kInf);
  EXPECT_TRUE(std::isnan(GoMin(std::nan(""), 1)));
  EXPECT_TRUE(std::signbit(GoMin(0.0, -0.0)));
}

TEST(LookupFunctionTest, SignaturesAsPrometheus) {
  const FunctionSignature* rate = LookupFunction("rate");
  ASSERT_NE(rate, nullptr);
  EXPECT_THAT(rate->arg_types, ElementsAre(ValueType::kRangeVector));
  EXPECT_EQ(rate->return_type, ValueType::kInstantVector);
  EXPECT_EQ(LookupFunction("scalar")->return_type, ValueType::kScalar);
  EXPECT_EQ(LookupFunction("label_join")->variadic, -1);
  EXPECT_EQ(LookupFunction("Rate"), nullptr);
  EXPECT_EQ(LookupFunction("sum"), nullptr);  // an aggregation, not a function
}

}  // namespace
}  // namespace klaxon::rules_internal
