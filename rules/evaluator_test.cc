#include "rules/evaluator.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "detector/labels.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/expr.h"
#include "rules/internal/eval_testing.h"
#include "rules/internal/format.h"
#include "rules/internal/testing_series_reader.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr double kInf = std::numeric_limits<double>::infinity();

class EvaluatorTest : public rules_internal::EvalTestBase {};

TEST_F(EvaluatorTest, NumberIsScalar) {
  EXPECT_EQ(EvalScalar("42"), 42);
  EXPECT_EQ(EvalScalar("-0x10"), -16);
}

TEST_F(EvaluatorTest, ScalarArithmeticFollowsPromQLPrecedence) {
  EXPECT_EQ(EvalScalar("2 ^ 3 ^ 2"), 512);  // 2 ^ 9, not 8 ^ 2
  EXPECT_EQ(EvalScalar("1 + 2 * 3"), 7);
  EXPECT_EQ(EvalScalar("-2 ^ 2"), -4);
  EXPECT_EQ(EvalScalar("(-2) ^ 2"), 4);
  EXPECT_EQ(EvalScalar("(1 + 2) * 3"), 9);
  EXPECT_EQ(EvalScalar("10 - 2 - 3"), 5);
  EXPECT_EQ(EvalScalar("2 ^ -1"), 0.5);
  EXPECT_EQ(EvalScalar("-(3 - 5)"), 2);
}

TEST_F(EvaluatorTest, ScalarArithmeticEdgeCasesAsGo) {
  EXPECT_EQ(EvalScalar("7 % 3"), 1);
  EXPECT_EQ(EvalScalar("-7 % 3"), -1);  // fmod keeps the dividend's sign
  EXPECT_EQ(EvalScalar("5.5 % 2"), 1.5);
  EXPECT_TRUE(std::isnan(EvalScalar("1 % 0")));
  EXPECT_EQ(EvalScalar("1 / 0"), kInf);
  EXPECT_EQ(EvalScalar("-1 / 0"), -kInf);
  EXPECT_TRUE(std::isnan(EvalScalar("0 / 0")));
  EXPECT_EQ(EvalScalar("NaN ^ 0"), 1);
  EXPECT_TRUE(std::isnan(EvalScalar("NaN + 1")));
}

TEST_F(EvaluatorTest, ScalarComparisonsReturnZeroOrOne) {
  EXPECT_EQ(EvalScalar("1 < bool 2"), 1);
  EXPECT_EQ(EvalScalar("2 < bool 1"), 0);
  EXPECT_EQ(EvalScalar("2 <= bool 2"), 1);
  EXPECT_EQ(EvalScalar("2 >= bool 3"), 0);
  EXPECT_EQ(EvalScalar("3 > bool 2"), 1);
  EXPECT_EQ(EvalScalar("2 == bool 2"), 1);
  EXPECT_EQ(EvalScalar("2 != bool 2"), 0);
  EXPECT_EQ(EvalScalar("NaN == bool NaN"), 0);
  EXPECT_EQ(EvalScalar("NaN != bool NaN"), 1);
  EXPECT_EQ(EvalScalar("NaN < bool Inf"), 0);
  EXPECT_EQ(EvalScalar("Inf >= bool Inf"), 1);
}

TEST_F(EvaluatorTest, ScalarComparisonWithoutBoolIsRefused) {
  // A tree built without the parser gets the same answer as the parser gives.
  auto one = std::make_shared<const Expr>(Expr{NumberLiteral{1}, {}});
  Expr compare{BinaryExpr{BinaryOp::kEq, one, one, false, VectorMatching{}}, {}};
  absl::StatusOr<EvalResult> r = Evaluate(compare, reader_, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "comparisons between scalars must use BOOL modifier");
}

TEST_F(EvaluatorTest, SelectorReturnsNewestSampleWithItsOrigin) {
  const SeriesId api = Add(R"(up{job="api", instance="a"})", 0, 30 * kSecond);
  Add(R"(up{job="api", instance="a"})", 1, 10 * kSecond);
  Add(R"(up{job="api", instance="a"})", 7, -10 * kSecond);  // after the evaluation time
  const SeriesId web = Add(R"(up{job="web"})", 0.5);
  Add(R"(down{job="api"})", 3);

  const InstantVector v = EvalVector("up");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].labels, ParseSeries(R"(up{job="api", instance="a"})").value());
  EXPECT_EQ(v[0].value, 1);
  EXPECT_EQ(v[0].origin, api);
  EXPECT_EQ(v[1].labels, ParseSeries(R"(up{job="web"})").value());
  EXPECT_EQ(v[1].value, 0.5);
  EXPECT_EQ(v[1].origin, web);
}

TEST_F(EvaluatorTest, LookbackDropsStaleSeries) {
  Add(R"(probe_success{probe="fresh"})", 1, 5 * kMinute - kSecond);
  Add(R"(probe_success{probe="stale"})", 1, 5 * kMinute + 1);
  EXPECT_THAT(Rows(EvalVector("probe_success")), ElementsAre(R"(probe_success{probe="fresh"}=1)"));

  EvalOptions short_lookback;
  short_lookback.lookback = absl::Minutes(1);
  EXPECT_THAT(EvalVector("probe_success", short_lookback), IsEmpty());
}

TEST_F(EvaluatorTest, EveryMatcherOp) {
  Add(R"(up{job="api"})", 1);
  Add(R"(up{job="api-canary"})", 2);
  Add(R"(up{job="web"})", 3);
  Add(R"(up{instance="x"})", 4);  // no job label: matches as job=""

  EXPECT_THAT(Rows(EvalVector(R"(up{job="api"})")), ElementsAre(R"(up{job="api"}=1)"));
  EXPECT_THAT(
      Rows(EvalVector(R"(up{job!="api"})")),
      ElementsAre(R"(up{instance="x"}=4)", R"(up{job="api-canary"}=2)", R"(up{job="web"}=3)"));
  EXPECT_THAT(Rows(EvalVector(R"(up{job=~"api.*"})")),
              ElementsAre(R"(up{job="api"}=1)", R"(up{job="api-canary"}=2)"));
  EXPECT_THAT(Rows(EvalVector(R"(up{job!~"api.*"})")),
              ElementsAre(R"(up{instance="x"}=4)", R"(up{job="web"}=3)"));
  EXPECT_THAT(Rows(EvalVector(R"({__name__="up", job=~"web|none"})")),
              ElementsAre(R"(up{job="web"}=3)"));
  EXPECT_THAT(Rows(EvalVector(R"(up{job=""})")), ElementsAre(R"(up{instance="x"}=4)"));
}

TEST_F(EvaluatorTest, RegexesAreAnchored) {
  Add(R"(m{v="a"})", 1);
  Add(R"(m{v="ab"})", 2);
  Add(R"(m{v="ba"})", 3);
  EXPECT_THAT(Rows(EvalVector(R"(m{v=~"a"})")), ElementsAre(R"(m{v="a"}=1)"));
  EXPECT_THAT(Rows(EvalVector(R"(m{v!~"a"})")), ElementsAre(R"(m{v="ab"}=2)", R"(m{v="ba"}=3)"));
}

TEST_F(EvaluatorTest, VectorScalarArithmeticDropsNameAndOrigin) {
  Add(R"(latency_seconds{job="api"})", 0.25);
  Add(R"(latency_seconds{job="web"})", 2);
  const InstantVector v = EvalVector("latency_seconds * 1000");
  EXPECT_THAT(Rows(v), ElementsAre(R"({job="api"}=250)", R"({job="web"}=2000)"));
  EXPECT_FALSE(v[0].origin.has_value());
  // The scalar on the left stays the left operand.
  EXPECT_THAT(Rows(EvalVector("10 - latency_seconds")),
              ElementsAre(R"({job="api"}=9.75)", R"({job="web"}=8)"));
  EXPECT_THAT(Rows(EvalVector("2 ^ latency_seconds")),
              ElementsAre(R"({job="api"}=1.189207115002721)", R"({job="web"}=4)"));
  EXPECT_THAT(Rows(EvalVector("-latency_seconds")),
              ElementsAre(R"({job="api"}=-0.25)", R"({job="web"}=-2)"));
}

TEST_F(EvaluatorTest, VectorScalarComparisonFiltersAndKeepsSamples) {
  const SeriesId api = Add(R"(probe_success{probe="api"})", 0);
  Add(R"(probe_success{probe="web"})", 1);
  Add(R"(probe_success{probe="nan"})", std::nan(""));

  const InstantVector down = EvalVector("probe_success == 0");
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].labels, ParseSeries(R"(probe_success{probe="api"})").value());
  EXPECT_EQ(down[0].value, 0);
  EXPECT_EQ(down[0].origin, api);

  // Scalar on the left: the result still carries the vector's values.
  EXPECT_THAT(Rows(EvalVector("0.5 < probe_success")),
              ElementsAre(R"(probe_success{probe="web"}=1)"));
  // NaN compares false with everything, so only != keeps it.
  EXPECT_THAT(Rows(EvalVector("probe_success >= 0")),
              ElementsAre(R"(probe_success{probe="api"}=0)", R"(probe_success{probe="web"}=1)"));
  EXPECT_THAT(Rows(EvalVector("probe_success != 1")),
              ElementsAre(R"(probe_success{probe="api"}=0)", R"(probe_success{probe="nan"}=NaN)"));
}

// `selector OP number` is answered by filtering during the selection; it must
// give exactly what the general path (`selector OP (number + 0)`) gives, with
// the number on either side, for every comparison and awkward values.
TEST_F(EvaluatorTest, SelectorComparedWithNumberAsTheGeneralPath) {
  const double values[] = {-kInf, -1, 0, 0.5, 1, 2, kInf, std::nan("")};
  for (size_t i = 0; i < std::size(values); ++i) {
    Add(absl::StrCat(R"(m{i=")", i, R"(", job="j"})"), values[i]);
  }
  Add(R"(other{i="0"})", 1);
  for (const char* op : {"==", "!=", "<", "<=", ">", ">="}) {
    for (const char* number : {"0", "1", "-1", "Inf", "NaN"}) {
      const std::string fast = absl::StrCat("m ", op, " ", number);
      const std::string general = absl::StrCat("m ", op, " (", number, " + 0)");
      const InstantVector f = EvalVector(fast);
      EXPECT_EQ(Rows(f), Rows(EvalVector(general))) << fast;
      for (const VectorSample& sample : f) EXPECT_TRUE(sample.origin.has_value()) << fast;
      EXPECT_EQ(Rows(EvalVector(absl::StrCat(number, " ", op, " m"))),
                Rows(EvalVector(absl::StrCat("(", number, " + 0) ", op, " m"))))
          << number << " " << op << " m";
    }
  }
  EXPECT_THAT(Rows(EvalVector("m{job=\"j\"} > 0.5")),
              ElementsAre(R"(m{i="4", job="j"}=1)", R"(m{i="5", job="j"}=2)",
                          R"(m{i="6", job="j"}=+Inf)"));
}

// The same for a range function compared with a number (`rate(x[5m]) > 10`),
// including the duplicate-labelset error when the selector spans metric names.
TEST_F(EvaluatorTest, RangeFunctionComparedWithNumberAsTheGeneralPath) {
  // rate(c[5m]): 0.4, 4 and 0; d{i="0"} has c{i="0"}'s labels without the name.
  AddSamples(R"(c{i="0", job="j"})", {{120, 0}, {60, 60}, {0, 120}});
  AddSamples(R"(c{i="1", job="j"})", {{120, 0}, {60, 600}, {0, 1200}});
  AddSamples(R"(c{i="2", job="j"})", {{120, 5}, {60, 5}, {0, 5}});
  AddSamples(R"(d{i="0", job="j"})", {{120, 0}, {60, 6}, {0, 12}});
  for (const char* op : {"==", "!=", "<", "<=", ">", ">="}) {
    for (const char* call : {"rate(c[5m])", "max_over_time(c[5m])", "last_over_time(c[5m])",
                             "absent_over_time(nothing[5m])", "rate({job=\"j\"}[5m])",
                             "rate({__name__=~\"c|d\", i=\"1\"}[5m])"}) {
      for (const char* number : {"0", "1", "5"}) {
        const std::string fast = absl::StrCat(call, " ", op, " ", number);
        const std::string general = absl::StrCat(call, " ", op, " (", number, " + 0)");
        EXPECT_EQ(EvalError(fast), EvalError(general)) << fast;
        if (!EvalError(fast).empty()) continue;
        EXPECT_EQ(Rows(EvalVector(fast)), Rows(EvalVector(general))) << fast;
        const std::string left = absl::StrCat(number, " ", op, " ", call);
        EXPECT_EQ(Rows(EvalVector(left)),
                  Rows(EvalVector(absl::StrCat("(", number, " + 0) ", op, " ", call))))
            << left;
      }
    }
  }
  EXPECT_THAT(EvalError("rate({job=\"j\"}[5m]) > 5"), HasSubstr("same labelset"));
  EXPECT_THAT(Rows(EvalVector("rate(c[5m]) > 1")), ElementsAre(R"({i="1", job="j"}=4)"));
}

// An aggregation of a range function aggregates the function's values as
// they are computed; it must give what aggregating the function's vector does
// (`+ 0` takes the general path), for every op it takes and both groupings.
TEST_F(EvaluatorTest, AggregatedRangeFunctionAsTheGeneralPath) {
  AddSamples(R"(c{i="0", job="j", code="200"})", {{120, 0}, {60, 60}, {0, 120}});
  AddSamples(R"(c{i="1", job="j", code="500"})", {{120, 0}, {60, 600}, {0, 1200}});
  AddSamples(R"(c{i="1", job="k", code="200"})", {{120, 5}, {60, 5}, {0, 5}});
  AddSamples(R"(c{i="2", job="k", code="500"})", {{120, 7}, {60, 3}, {0, 9}});
  AddSamples(R"(d{i="0", job="j"})", {{120, 0}, {60, 6}, {0, 12}});
  for (const char* op : {"sum", "avg", "max", "min", "count", "group", "stddev", "stdvar"}) {
    for (const char* grouping : {"", " by (i)", " by (job, code)", " without (i)",
                                 " without (job, code, i)", " by (__name__)", " without (__name__)",
                                 " by (nothing)"}) {
      for (const char* call : {"rate(c[5m])", "increase(c{code=\"500\"}[5m])",
                               "max_over_time(c[5m])", "resets(c[5m])", "rate(nothing[5m])",
                               "rate({job=\"j\"}[5m])"}) {
        const std::string fused = absl::StrCat(op, grouping, " (", call, ")");
        const std::string general = absl::StrCat(op, grouping, " (", call, " + 0)");
        EXPECT_EQ(EvalError(fused), EvalError(general)) << fused;
        if (!EvalError(fused).empty()) continue;
        EXPECT_EQ(Rows(EvalVector(fused)), Rows(EvalVector(general))) << fused;
      }
    }
  }
  EXPECT_THAT(Rows(EvalVector("sum by (job) (rate(c[5m]))")),
              ElementsAre(R"({job="j"}=4.4)", R"({job="k"}=0.0375)"));
  EXPECT_THAT(Rows(EvalVector("sum by (__name__) (rate(c[5m]))")), ElementsAre(R"({}=4.4375)"));
}

TEST_F(EvaluatorTest, VectorScalarComparisonWithBoolGivesZeroOrOne) {
  Add(R"(probe_success{probe="api"})", 0);
  Add(R"(probe_success{probe="web"})", 1);
  const InstantVector v = EvalVector("probe_success == bool 0");
  EXPECT_THAT(Rows(v), ElementsAre(R"({probe="api"}=1)", R"({probe="web"}=0)"));
  EXPECT_FALSE(v[0].origin.has_value());
  EXPECT_THAT(Rows(EvalVector("1 > bool probe_success")),
              ElementsAre(R"({probe="api"}=1)", R"({probe="web"}=0)"));
}

TEST_F(EvaluatorTest, DroppingTheNameMustNotMergeSeries) {
  Add(R"(a{job="x"})", 1);
  Add(R"(b{job="x"})", 2);
  absl::StatusOr<EvalResult> r = Eval(R"({__name__=~"a|b"} * 2)");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("vector cannot contain metrics with the same labelset"));
  // Filtering keeps the names, so nothing merges.
  EXPECT_THAT(Rows(EvalVector(R"({__name__=~"a|b"} > 0)")),
              ElementsAre(R"(a{job="x"}=1)", R"(b{job="x"}=2)"));
}

TEST_F(EvaluatorTest, VectorVectorMatchesOnAllLabelsButName) {
  Add(R"(errors_total{job="a"})", 5);
  Add(R"(errors_total{job="b"})", 0);
  Add(R"(errors_total{job="d"})", 1);  // nothing to match on the right
  Add(R"(requests_total{job="a"})", 10);
  Add(R"(requests_total{job="b"})", 20);
  Add(R"(requests_total{job="c"})", 30);
  Add(R"(requests_total{job="d", zone="eu"})", 40);  // different label set

  const InstantVector ratio = EvalVector("errors_total / requests_total");
  EXPECT_THAT(Rows(ratio), ElementsAre(R"({job="a"}=0.5)", R"({job="b"}=0)"));
  EXPECT_FALSE(ratio[0].origin.has_value());
  EXPECT_THAT(Rows(EvalVector("errors_total - requests_total")),
              ElementsAre(R"({job="a"}=-5)", R"({job="b"}=-20)"));
  EXPECT_THAT(Rows(EvalVector("errors_total + missing_metric")), IsEmpty());
}

TEST_F(EvaluatorTest, VectorVectorComparisonKeepsLeftSample) {
  const SeriesId errors_a = Add(R"(errors_total{job="a"})", 5);
  Add(R"(errors_total{job="b"})", 1);
  Add(R"(requests_total{job="a"})", 10);
  Add(R"(requests_total{job="b"})", 20);

  const InstantVector high = EvalVector("errors_total > requests_total * 0.1");
  ASSERT_EQ(high.size(), 1u);
  EXPECT_EQ(high[0].labels, ParseSeries(R"(errors_total{job="a"})").value());
  EXPECT_EQ(high[0].value, 5);
  EXPECT_EQ(high[0].origin, errors_a);

  const InstantVector as_bool = EvalVector("errors_total > bool requests_total * 0.1");
  EXPECT_THAT(Rows(as_bool), ElementsAre(R"({job="a"}=1)", R"({job="b"}=0)"));
  EXPECT_FALSE(as_bool[0].origin.has_value());
}

TEST_F(EvaluatorTest, DuplicateSeriesOnTheRightIsManyToMany) {
  Add(R"(errors_total{job="a"})", 5);
  Add(R"(requests_total{job="a"})", 10);
  Add(R"(requests_total_v2{job="a"})", 11);
  absl::StatusOr<EvalResult> r = Eval(R"(errors_total / {__name__=~"requests_total.*"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("many-to-many matching not allowed"));
  EXPECT_THAT(r.status().message(), HasSubstr(R"(match group {job="a"})"));
}

TEST_F(EvaluatorTest, DuplicateSeriesOnTheLeftNeedsGroupLeft) {
  Add(R"(errors_total{job="a"})", 5);
  Add(R"(errors_total_v2{job="a"})", 0);
  Add(R"(requests_total{job="a"})", 10);
  absl::StatusOr<EvalResult> r = Eval(R"({__name__=~"errors_total.*"} / requests_total)");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("many-to-one matching must be explicit"));
  // As in Prometheus, only samples that survive a filter can collide.
  EXPECT_THAT(Rows(EvalVector(R"({__name__=~"errors_total.*"} > requests_total * 0.1)")),
              ElementsAre(R"(errors_total{job="a"}=5)"));
}

TEST_F(EvaluatorTest, NaNInVectorComparisons) {
  Add(R"(x{job="a"})", std::nan(""));
  Add(R"(y{job="a"})", std::nan(""));
  EXPECT_THAT(EvalVector("x == y"), IsEmpty());
  EXPECT_THAT(Rows(EvalVector("x == bool y")), ElementsAre(R"({job="a"}=0)"));
  EXPECT_THAT(Rows(EvalVector("x != y")), ElementsAre(R"(x{job="a"}=NaN)"));
}

TEST_F(EvaluatorTest, InstantLookbackWindowIsClosed) {
  Add(R"(m{at="edge"})", 1, 5 * kMinute);      // exactly t - 5m: in
  Add(R"(m{at="past"})", 2, 5 * kMinute + 1);  // 1ms older: out
  Add(R"(m{at="now"})", 3, 0);                 // exactly t: in
  Add(R"(m{at="future"})", 4, -1);             // after t: not seen
  EXPECT_THAT(Rows(EvalVector("m")), ElementsAre(R"(m{at="edge"}=1)", R"(m{at="now"}=3)"));
}

TEST_F(EvaluatorTest, OffsetMovesTheWindowBack) {
  const SeriesId id = AddSamples("m", {{30, 1}, {90, 2}, {400, 3}});
  // [t-1m-5m, t-1m]: the newest at or before t-1m is the one 90s old.
  const InstantVector v = EvalVector("m offset 1m");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].value, 2);
  EXPECT_EQ(v[0].origin, id);  // an offset selector is still a source
  EXPECT_EQ(Only("m offset 2m"), 3);
  EXPECT_THAT(EvalVector("m offset 7m"), IsEmpty());  // 400s is older than 7m - 5m... at 2m
  EXPECT_EQ(Only("timestamp(m offset 1m)"), static_cast<double>(kNow - 90 * kSecond) / 1000);
}

TEST_F(EvaluatorTest, NegativeOffsetReadsLaterSamples) {
  AddSamples("m", {{0, 1}, {-60, 2}, {-120, 3}});
  EXPECT_EQ(Only("m"), 1);
  EXPECT_EQ(Only("m offset -1m"), 2);
  EXPECT_EQ(Only("m offset -90s"), 2);
  EXPECT_EQ(Only("sum_over_time(m[1m] offset -2m)"), 5);
}

TEST_F(EvaluatorTest, RangeWindowIsClosedAtBothEnds) {
  AddSamples("m", {{300.001, 1000}, {300, 1}, {200, 2}, {100, 4}, {0, 8}, {-0.001, 1000}});
  EXPECT_EQ(Only("count_over_time(m[5m])"), 4);
  EXPECT_EQ(Only("sum_over_time(m[5m])"), 15);
  // The offset shifts both ends: [t-6m40s, t-1m40s].
  EXPECT_EQ(Only("sum_over_time(m[5m] offset 100s)"), 1000 + 1 + 2 + 4);
  EXPECT_THAT(EvalVector("count_over_time(m[1m] offset 1h)"), IsEmpty());
}

TEST_F(EvaluatorTest, StaleMarkersEndASeries) {
  Add("gone", 1, 60 * kSecond);
  Add("gone", StaleNaN(), 30 * kSecond);
  Add("kept", 1, 60 * kSecond);
  EXPECT_THAT(Rows(EvalVector(R"({__name__=~"gone|kept"})")), ElementsAre("kept=1"));
  // In a range the marker is skipped, the samples before it still count.
  EXPECT_EQ(Only("count_over_time(gone[5m])"), 1);
}

TEST_F(EvaluatorTest, BinaryPrecedenceAcrossOperatorKinds) {
  Add(R"(a{x="1"})", 1);
  Add(R"(a{x="2"})", 2);
  Add(R"(b{x="2"})", 5);
  EXPECT_EQ(EvalScalar("1 + 2 * 3 ^ 2"), 19);
  EXPECT_EQ(EvalScalar("2 * 3 % 4"), 2);  // left to right at one level
  EXPECT_EQ(EvalScalar("2 ^ 3 ^ 2 / 2"), 256);
  EXPECT_EQ(EvalScalar("1 < bool 2 + 3"), 1);  // + before comparison
  // and binds tighter than or: a or (b and a{x="1"}) is all of a; read
  // the other way, (a or b) and a{x="1"} would be a{x="1"} alone.
  EXPECT_THAT(Rows(EvalVector(R"(a or b and a{x="1"})")),
              ElementsAre(R"(a{x="1"}=1)", R"(a{x="2"}=2)"));
  EXPECT_THAT(Rows(EvalVector("(a or b) and b")), ElementsAre(R"(a{x="2"}=2)"));
  EXPECT_THAT(Rows(EvalVector("a + 1 > 2")), ElementsAre(R"({x="2"}=3)"));
  EXPECT_EQ(EvalScalar("1 atan2 1 * 4"), std::atan2(1, 1) * 4);
}

TEST_F(EvaluatorTest, MatchingOnAndIgnoring) {
  Add(R"(errors{job="a", instance="1", code="500"})", 10);
  Add(R"(errors{job="b", instance="1", code="500"})", 1);
  Add(R"(requests{job="a", instance="1"})", 100);
  Add(R"(requests{job="b", instance="1"})", 1000);
  EXPECT_THAT(Rows(EvalVector("errors / ignoring(code) requests")),
              ElementsAre(R"({instance="1", job="a"}=0.1)", R"({instance="1", job="b"}=0.001)"));
  // on() keeps only the listed labels in a one-to-one result.
  EXPECT_THAT(Rows(EvalVector("errors / on(job) requests")),
              ElementsAre(R"({job="a"}=0.1)", R"({job="b"}=0.001)"));
  // ...even for a filter, which still passes the left value and source.
  const InstantVector high = EvalVector("errors > on(job, instance) requests * 0.05");
  ASSERT_EQ(high.size(), 1u);
  EXPECT_EQ(high[0].labels.ToString(), R"({instance="1", job="a"})");
  EXPECT_EQ(high[0].value, 10);
  EXPECT_TRUE(high[0].origin.has_value());
  // A comparison ignoring a label drops that label from the left sample.
  EXPECT_THAT(Rows(EvalVector("errors >= ignoring(code) requests / 100")),
              ElementsAre(R"(errors{instance="1", job="a"}=10)"));
  EXPECT_THAT(EvalVector("errors / requests"), IsEmpty());  // code differs
}

TEST_F(EvaluatorTest, GroupLeftAndGroupRight) {
  Add(R"(errors{job="a", code="500"})", 10);
  Add(R"(errors{job="a", code="503"})", 20);
  Add(R"(errors{job="b", code="500"})", 5);
  Add(R"(requests{job="a"})", 100);
  Add(R"(info{job="a", team="ops"})", 1);
  Add(R"(info{job="b", team="dev"})", 2);
  EXPECT_THAT(Rows(EvalVector("errors / on(job) group_left requests")),
              ElementsAre(R"({code="500", job="a"}=0.1)", R"({code="503", job="a"}=0.2)"));
  EXPECT_THAT(Rows(EvalVector("errors / ignoring(code) group_left requests")),
              ElementsAre(R"({code="500", job="a"}=0.1)", R"({code="503", job="a"}=0.2)"));
  // group_left(team) copies the label from the "one" side.
  EXPECT_THAT(Rows(EvalVector("errors * on(job) group_left(team) info")),
              ElementsAre(R"({code="500", job="a", team="ops"}=10)",
                          R"({code="500", job="b", team="dev"}=10)",
                          R"({code="503", job="a", team="ops"}=20)"));
  // group_right: the right side is the "many" side; values keep their sides.
  EXPECT_THAT(Rows(EvalVector("requests - on(job) group_right errors")),
              ElementsAre(R"({code="500", job="a"}=90)", R"({code="503", job="a"}=80)"));
  EXPECT_THAT(Rows(EvalVector("info * on(job) group_right(team) errors")),
              ElementsAre(R"({code="500", job="a", team="ops"}=10)",
                          R"({code="500", job="b", team="dev"}=10)",
                          R"({code="503", job="a", team="ops"}=20)"));
  // A group_right filter keeps the right side's labels and the left value, as Prometheus.
  EXPECT_THAT(
      Rows(EvalVector("requests > on(job) group_right errors")),
      ElementsAre(R"(errors{code="500", job="a"}=100)", R"(errors{code="503", job="a"}=100)"));
  EXPECT_THAT(Rows(EvalVector("errors > bool on(job) group_left requests / 10")),
              ElementsAre(R"({code="500", job="a"}=0)", R"({code="503", job="a"}=1)"));
}

TEST_F(EvaluatorTest, MatchingErrors) {
  Add(R"(errors{job="a", code="500"})", 10);
  Add(R"(errors{job="a", code="503"})", 20);
  Add(R"(requests{job="a"})", 100);
  Add(R"(e1{job="a"})", 1);
  Add(R"(e2{job="a"})", 2);
  EXPECT_EQ(EvalError("requests / on(job) errors"),
            "found duplicate series for the match group {job=\"a\"} on the right hand-side of "
            "the operation: [{__name__=\"errors\", code=\"503\", job=\"a\"}, {__name__=\"errors\", "
            "code=\"500\", job=\"a\"}];many-to-many matching not allowed: matching labels must "
            "be unique on one side");
  EXPECT_THAT(EvalError("errors / on(job) group_right requests"),
              HasSubstr("on the left hand-side of the operation"));
  EXPECT_EQ(EvalError("errors / on(job) requests"),
            "multiple matches for labels: many-to-one matching must be explicit "
            "(group_left/group_right)");
  EXPECT_EQ(EvalError(R"({__name__=~"e1|e2"} / on(job) group_left requests)"),
            "multiple matches for labels: grouping labels must ensure unique matches");
  // An empty side short-circuits before any matching error, as in Prometheus.
  EXPECT_THAT(EvalVector("missing / on(job) errors"), IsEmpty());
}

TEST_F(EvaluatorTest, SetOperators) {
  const SeriesId a1 = Add(R"(a{x="1"})", 1);
  const SeriesId a2 = Add(R"(a{x="2"})", 2);
  Add(R"(b{x="2"})", 20);
  const SeriesId b3 = Add(R"(b{x="3"})", 30);
  const InstantVector both = EvalVector("a and b");
  EXPECT_THAT(Rows(both), ElementsAre(R"(a{x="2"}=2)"));
  EXPECT_EQ(both[0].origin, a2);
  const InstantVector either = EvalVector("a or b");
  EXPECT_THAT(Rows(either), ElementsAre(R"(a{x="1"}=1)", R"(a{x="2"}=2)", R"(b{x="3"}=30)"));
  EXPECT_EQ(either[0].origin, a1);
  EXPECT_EQ(either[2].origin, b3);
  const InstantVector only = EvalVector("a unless b");
  EXPECT_THAT(Rows(only), ElementsAre(R"(a{x="1"}=1)"));
  EXPECT_EQ(only[0].origin, a1);
  // Matching modifiers choose the labels compared.
  EXPECT_THAT(Rows(EvalVector("a and on() b")), ElementsAre(R"(a{x="1"}=1)", R"(a{x="2"}=2)"));
  EXPECT_THAT(Rows(EvalVector("a or ignoring(x) b")),
              ElementsAre(R"(a{x="1"}=1)", R"(a{x="2"}=2)"));
  EXPECT_THAT(EvalVector("a unless on(__name__) a"), IsEmpty());
  EXPECT_THAT(Rows(EvalVector("a unless on(__name__) b")),
              ElementsAre(R"(a{x="1"}=1)", R"(a{x="2"}=2)"));
  // Empty sides.
  EXPECT_THAT(EvalVector("a and missing"), IsEmpty());
  EXPECT_THAT(Rows(EvalVector("missing or b")), ElementsAre(R"(b{x="2"}=20)", R"(b{x="3"}=30)"));
  EXPECT_THAT(Rows(EvalVector("a unless missing")), ElementsAre(R"(a{x="1"}=1)", R"(a{x="2"}=2)"));
  // Computed samples have no source.
  EXPECT_FALSE(EvalVector("a * 2 and b")[0].origin.has_value());
}

TEST_F(EvaluatorTest, Atan2KeepsTheMetricNameAs242) {
  Add(R"(y{k="1"})", 1);
  Add(R"(x{k="1"})", 1);
  const InstantVector v = EvalVector("y atan2 x");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].labels.ToString(), R"(y{k="1"})");
  EXPECT_DOUBLE_EQ(v[0].value, M_PI / 4);
  EXPECT_FALSE(v[0].origin.has_value());
  EXPECT_DOUBLE_EQ(Only("y atan2 0"), M_PI / 2);
}

TEST_F(EvaluatorTest, Aggregations) {
  Add(R"(http{job="a", instance="1"})", 1);
  Add(R"(http{job="a", instance="2"})", 3);
  Add(R"(http{job="b", instance="1"})", 5);
  Add(R"(http{job="b", instance="2"})", 7);
  EXPECT_THAT(Rows(EvalVector("sum(http)")), ElementsAre("{}=16"));
  EXPECT_THAT(Rows(EvalVector("sum by (job) (http)")),
              ElementsAre(R"({job="a"}=4)", R"({job="b"}=12)"));
  EXPECT_THAT(Rows(EvalVector("sum(http) by (job)")),
              ElementsAre(R"({job="a"}=4)", R"({job="b"}=12)"));
  EXPECT_THAT(Rows(EvalVector("sum without (instance) (http)")),
              ElementsAre(R"({job="a"}=4)", R"({job="b"}=12)"));
  EXPECT_THAT(Rows(EvalVector("sum by (__name__) (http)")), ElementsAre("http=16"));
  EXPECT_THAT(Rows(EvalVector("sum by (nothere) (http)")), ElementsAre("{}=16"));
  EXPECT_THAT(Rows(EvalVector("avg by (job) (http)")),
              ElementsAre(R"({job="a"}=2)", R"({job="b"}=6)"));
  EXPECT_THAT(Rows(EvalVector("min by (job) (http)")),
              ElementsAre(R"({job="a"}=1)", R"({job="b"}=5)"));
  EXPECT_THAT(Rows(EvalVector("max by (job) (http)")),
              ElementsAre(R"({job="a"}=3)", R"({job="b"}=7)"));
  EXPECT_THAT(Rows(EvalVector("count by (instance) (http)")),
              ElementsAre(R"({instance="1"}=2)", R"({instance="2"}=2)"));
  EXPECT_THAT(Rows(EvalVector("group by (job) (http)")),
              ElementsAre(R"({job="a"}=1)", R"({job="b"}=1)"));
  // Population deviation: a's values 1 and 3 around 2.
  EXPECT_THAT(Rows(EvalVector("stddev by (job) (http)")),
              ElementsAre(R"({job="a"}=1)", R"({job="b"}=1)"));
  EXPECT_THAT(Rows(EvalVector("stdvar(http)")), ElementsAre("{}=5"));  // (9+1+1+9)/4
  // Rank 0.5 * 3 = 1.5: halfway between 3 and 5.
  EXPECT_THAT(Rows(EvalVector("quantile(0.5, http)")), ElementsAre("{}=4"));
  EXPECT_THAT(Rows(EvalVector("quantile by (job) (0.25, http)")),
              ElementsAre(R"({job="a"}=1.5)", R"({job="b"}=5.5)"));
  EXPECT_THAT(Rows(EvalVector("quantile(2, http)")), ElementsAre("{}=+Inf"));
  EXPECT_THAT(Rows(EvalVector("quantile(-1, http)")), ElementsAre("{}=-Inf"));
  EXPECT_THAT(EvalVector("sum(missing)"), IsEmpty());
  // The parameter may be any scalar expression.
  EXPECT_THAT(Rows(EvalVector("quantile(scalar(http{job=\"a\", instance=\"1\"}) / 2, http)")),
              ElementsAre("{}=4"));
}

TEST_F(EvaluatorTest, TopkAndBottomkPassSamplesThrough) {
  const SeriesId a1 = Add(R"(http{job="a", instance="1"})", 1);
  Add(R"(http{job="a", instance="2"})", 3);
  Add(R"(http{job="b", instance="1"})", 5);
  const SeriesId b2 = Add(R"(http{job="b", instance="2"})", 7);
  const InstantVector top = EvalVector("topk(1, http)");
  EXPECT_THAT(Rows(top), ElementsAre(R"(http{instance="2", job="b"}=7)"));
  EXPECT_EQ(top[0].origin, b2);
  EXPECT_THAT(Rows(EvalVector("topk(3, http)")),
              ElementsAre(R"(http{instance="2", job="b"}=7)", R"(http{instance="1", job="b"}=5)",
                          R"(http{instance="2", job="a"}=3)"));
  EXPECT_THAT(Rows(EvalVector("topk by (job) (1, http)")),
              ElementsAre(R"(http{instance="2", job="a"}=3)", R"(http{instance="2", job="b"}=7)"));
  const InstantVector bottom = EvalVector("bottomk(2, http)");
  EXPECT_THAT(Rows(bottom),
              ElementsAre(R"(http{instance="1", job="a"}=1)", R"(http{instance="2", job="a"}=3)"));
  EXPECT_EQ(bottom[0].origin, a1);
  EXPECT_THAT(Rows(EvalVector("bottomk without (instance) (1, http)")),
              ElementsAre(R"(http{instance="1", job="a"}=1)", R"(http{instance="1", job="b"}=5)"));
  EXPECT_EQ(EvalVector("topk(10, http)").size(), 4u);
  EXPECT_THAT(EvalVector("topk(0, http)"), IsEmpty());
  EXPECT_THAT(EvalVector("topk(0.9, http)"), IsEmpty());  // truncated to 0
  EXPECT_EQ(EvalVector("topk(2.9, http)").size(), 2u);
  EXPECT_EQ(EvalError("topk(NaN, http)"), "Scalar value NaN overflows int64");
  EXPECT_EQ(EvalError("bottomk(1e19, http)"), "Scalar value 1e+19 overflows int64");
}

TEST_F(EvaluatorTest, CountValues) {
  Add(R"(version{instance="1", job="a"})", 1);
  Add(R"(version{instance="2", job="a"})", 1);
  Add(R"(version{instance="3", job="b"})", 1e6);
  Add(R"(version{instance="4", job="b"})", 0.25);
  // Values are written as strconv.FormatFloat(v, 'f', -1, 64): no exponent.
  EXPECT_THAT(Rows(EvalVector(R"(count_values("v", version))")),
              ElementsAre(R"({v="1"}=2)", R"({v="1000000"}=1)", R"({v="0.25"}=1)"));
  EXPECT_THAT(Rows(EvalVector(R"(count_values by (job) ("v", version))")),
              ElementsAre(R"({job="a", v="1"}=2)", R"({job="b", v="1000000"}=1)",
                          R"({job="b", v="0.25"}=1)"));
  EXPECT_THAT(Rows(EvalVector(R"(count_values without (instance) ("job", version))")),
              ElementsAre(R"({job="1"}=2)", R"({job="1000000"}=1)", R"({job="0.25"}=1)"));
}

TEST_F(EvaluatorTest, AggregationNaNAndInfAsPrometheus) {
  Add(R"(m{i="1"})", std::nan(""));
  Add(R"(m{i="2"})", 2);
  Add(R"(m{i="3"})", 1);
  Add(R"(infs{i="1"})", kInf);
  Add(R"(infs{i="2"})", 1);
  Add(R"(infs{i="3"})", -kInf);
  // A NaN first is replaced by any later value; a later NaN is ignored.
  EXPECT_EQ(Only("max(m)"), 2);
  EXPECT_EQ(Only("min(m)"), 1);
  EXPECT_TRUE(std::isnan(Only("sum(m)")));
  EXPECT_TRUE(std::isnan(Only("avg(m)")));
  // The heap counts NaN as the smallest value.
  EXPECT_THAT(Rows(EvalVector("topk(1, m)")), ElementsAre(R"(m{i="2"}=2)"));
  EXPECT_THAT(Rows(EvalVector("bottomk(1, m)")), ElementsAre(R"(m{i="3"}=1)"));
  EXPECT_EQ(Only(R"(avg(infs{i=~"1|2"}))"), kInf);  // Inf stays Inf
  EXPECT_TRUE(std::isnan(Only("avg(infs)")));       // Inf and -Inf: NaN
}

TEST_F(EvaluatorTest, TopLevelStringsAndRangesAreErrors) {
  Add("m", 1);
  EXPECT_THAT(EvalError("\"text\""), HasSubstr("evaluates to a string"));
  EXPECT_THAT(EvalError("m[5m]"), HasSubstr("range vector cannot be a result"));
}

}  // namespace
}  // namespace klaxon
