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
#include "rules/internal/format.h"
#include "rules/internal/testing_series_reader.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int64_t kNow = 1'700'000'000'000;  // ms
constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr double kInf = std::numeric_limits<double>::infinity();

class EvaluatorTest : public ::testing::Test {
 protected:
  absl::StatusOr<EvalResult> Eval(absl::string_view text, const EvalOptions& options = {}) {
    absl::StatusOr<ExprPtr> expr = ParseExpr(text);
    if (!expr.ok()) return expr.status();
    return Evaluate(**expr, reader_, kNow, options);
  }

  double EvalScalar(absl::string_view text) {
    absl::StatusOr<EvalResult> r = Eval(text);
    EXPECT_TRUE(r.ok()) << text << ": " << r.status();
    if (!r.ok()) return -12345;
    EXPECT_TRUE(std::holds_alternative<Scalar>(*r)) << text;
    if (!std::holds_alternative<Scalar>(*r)) return -12345;
    return std::get<Scalar>(*r).value;
  }

  InstantVector EvalVector(absl::string_view text, const EvalOptions& options = {}) {
    absl::StatusOr<EvalResult> r = Eval(text, options);
    EXPECT_TRUE(r.ok()) << text << ": " << r.status();
    if (!r.ok()) return {};
    EXPECT_TRUE(std::holds_alternative<InstantVector>(*r)) << text;
    if (!std::holds_alternative<InstantVector>(*r)) return {};
    return std::get<InstantVector>(*r);
  }

  // "labels=value" per sample, for compact assertions.
  std::vector<std::string> Rows(const InstantVector& v) {
    std::vector<std::string> out;
    for (const VectorSample& s : v)
      out.push_back(absl::StrCat(s.labels.ToString(), "=", rules_internal::FormatFloat(s.value)));
    return out;
  }

  SeriesId Add(absl::string_view series, double value, int64_t age_ms = 0) {
    return reader_.Add(ParseSeries(series).value(), kNow - age_ms, value);
  }

  rules_internal::TestingSeriesReader reader_;
};

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
  Expr compare{BinaryExpr{BinaryOp::kEq, one, one, false}, {}};
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

}  // namespace
}  // namespace klaxon
