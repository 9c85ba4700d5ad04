// PromQL's functions for the rule language: the signatures the parser checks
// calls against, and the numeric kernels the evaluator applies, each a copy of
// Prometheus 2.42's arithmetic (same operation order, so the same rounding).
// Not API; pure functions and immutable tables, thread-safe. Defined in
// functions.cc.
#ifndef KLAXON_RULES_INTERNAL_FUNCTIONS_H_
#define KLAXON_RULES_INTERNAL_FUNCTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "detector/series_reader.h"
#include "rules/expr.h"

namespace klaxon::rules_internal {

enum class FunctionId {
  // Range vector in, one value per series out.
  kRate,
  kIrate,
  kIncrease,
  kDelta,
  kIdelta,
  kResets,
  kChanges,
  kDeriv,
  kPredictLinear,
  kHoltWinters,
  kAvgOverTime,
  kMinOverTime,
  kMaxOverTime,
  kSumOverTime,
  kCountOverTime,
  kLastOverTime,
  kQuantileOverTime,
  kStddevOverTime,
  kStdvarOverTime,
  kPresentOverTime,
  kAbsentOverTime,
  // Instant vector (or nothing) in.
  kAbsent,
  kHistogramQuantile,
  kClamp,
  kClampMin,
  kClampMax,
  kRound,
  kTime,
  kTimestamp,
  kVector,
  kScalar,
  kLabelReplace,
  kLabelJoin,
  kSort,
  kSortDesc,
  kPi,
  // Date functions of a vector of Unix seconds (default: vector(time())).
  kDayOfMonth,
  kDayOfWeek,
  kDaysInMonth,
  kHour,
  kMinute,
  kMonth,
  kYear,
  // Element-wise math; drops the metric name.
  kAbs,
  kCeil,
  kFloor,
  kExp,
  kSqrt,
  kLn,
  kLog2,
  kLog10,
  kSgn,
  kSin,
  kCos,
  kTan,
  kAsin,
  kAcos,
  kAtan,
  kSinh,
  kCosh,
  kTanh,
  kAsinh,
  kAcosh,
  kAtanh,
  kDeg,
  kRad,
};

struct FunctionSignature {
  absl::string_view name;
  FunctionId id;
  std::vector<ValueType> arg_types;
  // 0: exactly arg_types; n > 0: the last arg_types entry may be left out or
  // repeated up to n times in all; -1: the last may repeat without limit.
  int variadic;
  ValueType return_type;
};

// Prometheus 2.42's name for the function, or null if it has none.
const FunctionSignature* LookupFunction(absl::string_view name);

// The one value a range function gives for one series' points (oldest first,
// at least one), or nullopt when the series yields no sample (rate with one
// point, say). Not for absent_over_time, which the evaluator handles whole.
struct RangeContext {
  int64_t eval_ms;         // the evaluation instant
  int64_t range_start_ms;  // eval - offset - range
  int64_t range_end_ms;    // eval - offset
  double range_seconds;
  double scalar_arg = 0;   // q of quantile_over_time, t of predict_linear, sf of holt_winters
  double scalar_arg2 = 0;  // tf of holt_winters
};
std::optional<double> RangeFunction(FunctionId id, absl::Span<const SeriesReader::Point> points,
                                    const RangeContext& ctx);

// Element-wise kernels (abs, ln, round's helper...) and the date functions.
double MathFunction(FunctionId id, double v);
double DateFunction(FunctionId id, double unix_seconds);

// Go's math.Max and math.Min, whose NaN and signed-zero rules differ from fmax/fmin.
double GoMax(double x, double y);
double GoMin(double x, double y);

// The φ-quantile of `values` (sorted in place), as quantile and quantile_over_time.
double Quantile(double q, std::vector<double>& values);

struct Bucket {
  double upper_bound;
  double count;
};
// histogram_quantile over one classic histogram's cumulative buckets (any order).
double BucketQuantile(double q, std::vector<Bucket> buckets);

// strconv.ParseFloat(s, 64) for `le` label values; nullopt when Go refuses it.
std::optional<double> ParseGoFloat(absl::string_view s);
// strconv.FormatFloat(v, 'f', -1, 64), as count_values writes its label.
std::string FormatFloatFixed(double v);

// Go regexp's Expand template syntax ($1, ${1}, $name, ${name}, $$) over one
// match; `groups` holds the submatches (group 0 first, nullopt when unset)
// and `names` each group's name ("" for unnamed ones).
std::string ExpandTemplate(absl::string_view tmpl,
                           const std::vector<std::optional<absl::string_view>>& groups,
                           const std::vector<std::string>& names);

// model.LabelName.IsValid: [a-zA-Z_][a-zA-Z0-9_]*.
bool IsValidLabelName(absl::string_view name);

}  // namespace klaxon::rules_internal

#endif  // KLAXON_RULES_INTERNAL_FUNCTIONS_H_
