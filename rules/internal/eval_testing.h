// EvalTestBase is the GoogleTest fixture of the evaluator's tests: an in-memory
// reader, an evaluation instant, and compact ways to write series and read
// results. Test-only; thread-compatible.
#ifndef KLAXON_RULES_INTERNAL_EVAL_TESTING_H_
#define KLAXON_RULES_INTERNAL_EVAL_TESTING_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "detector/labels.h"
#include "gtest/gtest.h"
#include "rules/evaluator.h"
#include "rules/expr.h"
#include "rules/internal/format.h"
#include "rules/internal/testing_series_reader.h"

namespace klaxon::rules_internal {

class EvalTestBase : public ::testing::Test {
 protected:
  static constexpr int64_t kNow = 1'700'000'000'000;  // ms: 2023-11-14T22:13:20Z, a Tuesday
  static constexpr int64_t kSecond = 1000;
  static constexpr int64_t kMinute = 60 * kSecond;

  absl::StatusOr<EvalResult> Eval(absl::string_view text, const EvalOptions& options = {},
                                  int64_t at_ms = kNow) {
    absl::StatusOr<ExprPtr> expr = ParseExpr(text);
    if (!expr.ok()) return expr.status();
    return Evaluate(**expr, reader_, at_ms, options);
  }

  double EvalScalar(absl::string_view text) {
    absl::StatusOr<EvalResult> r = Eval(text);
    EXPECT_TRUE(r.ok()) << text << ": " << r.status();
    if (!r.ok()) return -12345;
    EXPECT_TRUE(std::holds_alternative<Scalar>(*r)) << text;
    if (!std::holds_alternative<Scalar>(*r)) return -12345;
    return std::get<Scalar>(*r).value;
  }

  InstantVector EvalVector(absl::string_view text, const EvalOptions& options = {},
                           int64_t at_ms = kNow) {
    absl::StatusOr<EvalResult> r = Eval(text, options, at_ms);
    EXPECT_TRUE(r.ok()) << text << ": " << r.status();
    if (!r.ok()) return {};
    EXPECT_TRUE(std::holds_alternative<InstantVector>(*r)) << text;
    if (!std::holds_alternative<InstantVector>(*r)) return {};
    return std::get<InstantVector>(*r);
  }

  // The message of the error `text` evaluates to; "" if it evaluates.
  std::string EvalError(absl::string_view text) {
    absl::StatusOr<EvalResult> r = Eval(text);
    if (r.ok()) return "";
    return std::string(r.status().message());
  }

  // "labels=value" per sample in result order, for compact assertions.
  static std::vector<std::string> Rows(const InstantVector& v) {
    std::vector<std::string> out;
    for (const VectorSample& s : v) {
      out.push_back(absl::StrCat(s.labels.ToString(), "=", FormatFloat(s.value)));
    }
    return out;
  }

  // The one sample's value, for results compared with EXPECT_DOUBLE_EQ.
  double Only(absl::string_view text) {
    const InstantVector v = EvalVector(text);
    EXPECT_EQ(v.size(), 1u) << text << ": " << ::testing::PrintToString(Rows(v));
    return v.size() == 1 ? v[0].value : -12345;
  }

  // One sample `age_ms` before kNow (negative: after it).
  SeriesId Add(absl::string_view series, double value, int64_t age_ms = 0) {
    return reader_.Add(ParseSeries(series).value(), kNow - age_ms, value);
  }

  // Samples given as {seconds before kNow, value}.
  SeriesId AddSamples(absl::string_view series,
                      std::initializer_list<std::pair<double, double>> ago_seconds_and_values) {
    SeriesId id = 0;
    for (const auto& [ago, value] : ago_seconds_and_values) {
      id = Add(series, value, static_cast<int64_t>(ago * kSecond));
    }
    return id;
  }

  TestingSeriesReader reader_;
};

}  // namespace klaxon::rules_internal

#endif  // KLAXON_RULES_INTERNAL_EVAL_TESTING_H_
