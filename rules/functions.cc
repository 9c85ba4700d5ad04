// PromQL's function signatures and numeric kernels, following Prometheus 2.42's
// promql/functions.go and quantile.go operation for operation, so that results
// round the same way (Kahan sums where 2.42 has them, plain sums where not).
#include "rules/internal/functions.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/charconv.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/types/span.h"

namespace klaxon::rules_internal {
namespace {

using Point = SeriesReader::Point;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr ValueType kS = ValueType::kScalar;
constexpr ValueType kV = ValueType::kInstantVector;
constexpr ValueType kM = ValueType::kRangeVector;
constexpr ValueType kStr = ValueType::kString;

const absl::flat_hash_map<absl::string_view, FunctionSignature>& Functions() {
  static const auto* table = [] {
    auto* t = new absl::flat_hash_map<absl::string_view, FunctionSignature>;
    auto add = [t](absl::string_view name, FunctionId id, std::vector<ValueType> args,
                   ValueType ret, int variadic = 0) {
      t->emplace(name, FunctionSignature{name, id, std::move(args), variadic, ret});
    };
    add("rate", FunctionId::kRate, {kM}, kV);
    add("irate", FunctionId::kIrate, {kM}, kV);
    add("increase", FunctionId::kIncrease, {kM}, kV);
    add("delta", FunctionId::kDelta, {kM}, kV);
    add("idelta", FunctionId::kIdelta, {kM}, kV);
    add("resets", FunctionId::kResets, {kM}, kV);
    add("changes", FunctionId::kChanges, {kM}, kV);
    add("deriv", FunctionId::kDeriv, {kM}, kV);
    add("predict_linear", FunctionId::kPredictLinear, {kM, kS}, kV);
    add("holt_winters", FunctionId::kHoltWinters, {kM, kS, kS}, kV);
    add("avg_over_time", FunctionId::kAvgOverTime, {kM}, kV);
    add("min_over_time", FunctionId::kMinOverTime, {kM}, kV);
    add("max_over_time", FunctionId::kMaxOverTime, {kM}, kV);
    add("sum_over_time", FunctionId::kSumOverTime, {kM}, kV);
    add("count_over_time", FunctionId::kCountOverTime, {kM}, kV);
    add("last_over_time", FunctionId::kLastOverTime, {kM}, kV);
    add("quantile_over_time", FunctionId::kQuantileOverTime, {kS, kM}, kV);
    add("stddev_over_time", FunctionId::kStddevOverTime, {kM}, kV);
    add("stdvar_over_time", FunctionId::kStdvarOverTime, {kM}, kV);
    add("present_over_time", FunctionId::kPresentOverTime, {kM}, kV);
    add("absent_over_time", FunctionId::kAbsentOverTime, {kM}, kV);
    add("absent", FunctionId::kAbsent, {kV}, kV);
    add("histogram_quantile", FunctionId::kHistogramQuantile, {kS, kV}, kV);
    add("clamp", FunctionId::kClamp, {kV, kS, kS}, kV);
    add("clamp_min", FunctionId::kClampMin, {kV, kS}, kV);
    add("clamp_max", FunctionId::kClampMax, {kV, kS}, kV);
    add("round", FunctionId::kRound, {kV, kS}, kV, 1);
    add("time", FunctionId::kTime, {}, kS);
    add("timestamp", FunctionId::kTimestamp, {kV}, kV);
    add("vector", FunctionId::kVector, {kS}, kV);
    add("scalar", FunctionId::kScalar, {kV}, kS);
    add("label_replace", FunctionId::kLabelReplace, {kV, kStr, kStr, kStr, kStr}, kV);
    add("label_join", FunctionId::kLabelJoin, {kV, kStr, kStr, kStr}, kV, -1);
    add("sort", FunctionId::kSort, {kV}, kV);
    add("sort_desc", FunctionId::kSortDesc, {kV}, kV);
    add("pi", FunctionId::kPi, {}, kS);
    add("day_of_month", FunctionId::kDayOfMonth, {kV}, kV, 1);
    add("day_of_week", FunctionId::kDayOfWeek, {kV}, kV, 1);
    add("days_in_month", FunctionId::kDaysInMonth, {kV}, kV, 1);
    add("hour", FunctionId::kHour, {kV}, kV, 1);
    add("minute", FunctionId::kMinute, {kV}, kV, 1);
    add("month", FunctionId::kMonth, {kV}, kV, 1);
    add("year", FunctionId::kYear, {kV}, kV, 1);
    add("abs", FunctionId::kAbs, {kV}, kV);
    add("ceil", FunctionId::kCeil, {kV}, kV);
    add("floor", FunctionId::kFloor, {kV}, kV);
    add("exp", FunctionId::kExp, {kV}, kV);
    add("sqrt", FunctionId::kSqrt, {kV}, kV);
    add("ln", FunctionId::kLn, {kV}, kV);
    add("log2", FunctionId::kLog2, {kV}, kV);
    add("log10", FunctionId::kLog10, {kV}, kV);
    add("sgn", FunctionId::kSgn, {kV}, kV);
    add("sin", FunctionId::kSin, {kV}, kV);
    add("cos", FunctionId::kCos, {kV}, kV);
    add("tan", FunctionId::kTan, {kV}, kV);
    add("asin", FunctionId::kAsin, {kV}, kV);
    add("acos", FunctionId::kAcos, {kV}, kV);
    add("atan", FunctionId::kAtan, {kV}, kV);
    add("sinh", FunctionId::kSinh, {kV}, kV);
    add("cosh", FunctionId::kCosh, {kV}, kV);
    add("tanh", FunctionId::kTanh, {kV}, kV);
    add("asinh", FunctionId::kAsinh, {kV}, kV);
    add("acosh", FunctionId::kAcosh, {kV}, kV);
    add("atanh", FunctionId::kAtanh, {kV}, kV);
    add("deg", FunctionId::kDeg, {kV}, kV);
    add("rad", FunctionId::kRad, {kV}, kV);
    return t;
  }();
  return *table;
}

// Neumaier's compensated sum step, as Prometheus's kahanSumInc.
void KahanSumInc(double inc, double& sum, double& c) {
  const double t = sum + inc;
  if (std::fabs(sum) >= std::fabs(inc)) {
    c += (sum - t) + inc;
  } else {
    c += (inc - t) + sum;
  }
  sum = t;
}

// rate, increase and delta: the increase over the samples, extrapolated to the
// range boundaries when the samples come close to them (2.42's extrapolatedRate).
std::optional<double> ExtrapolatedRate(absl::Span<const Point> p, const RangeContext& ctx,
                                       bool is_counter, bool is_rate) {
  if (p.size() < 2) return std::nullopt;
  const Point& first = p.front();
  const Point& last = p.back();
  double result = last.value - first.value;
  if (is_counter) {
    double prev = first.value;
    for (size_t i = 1; i < p.size(); ++i) {
      if (p[i].value < prev) result += prev;  // a reset: the counter restarted from 0
      prev = p[i].value;
    }
  }
  double duration_to_start = static_cast<double>(first.timestamp_ms - ctx.range_start_ms) / 1000;
  const double duration_to_end = static_cast<double>(ctx.range_end_ms - last.timestamp_ms) / 1000;
  const double sampled_interval =
      static_cast<double>(last.timestamp_ms - first.timestamp_ms) / 1000;
  const double average_between = sampled_interval / static_cast<double>(p.size() - 1);
  if (is_counter && result > 0 && first.value >= 0) {
    // A counter cannot go below zero: do not extrapolate back past its zero point.
    const double duration_to_zero = sampled_interval * (first.value / result);
    if (duration_to_zero < duration_to_start) duration_to_start = duration_to_zero;
  }
  const double threshold = average_between * 1.1;
  double extrapolate_to = sampled_interval;
  extrapolate_to += duration_to_start < threshold ? duration_to_start : average_between / 2;
  extrapolate_to += duration_to_end < threshold ? duration_to_end : average_between / 2;
  double factor = extrapolate_to / sampled_interval;
  if (is_rate) factor /= ctx.range_seconds;
  return result * factor;
}

// irate and idelta: from the last two samples only.
std::optional<double> InstantValue(absl::Span<const Point> p, bool is_rate) {
  if (p.size() < 2) return std::nullopt;
  const Point& last = p[p.size() - 1];
  const Point& previous = p[p.size() - 2];
  double result =
      (is_rate && last.value < previous.value) ? last.value : last.value - previous.value;
  const int64_t interval = last.timestamp_ms - previous.timestamp_ms;
  if (interval == 0) return std::nullopt;
  if (is_rate) result /= static_cast<double>(interval) / 1000;
  return result;
}

// Least squares over (seconds since intercept_ms, value); Kahan-summed as 2.42.
void LinearRegression(absl::Span<const Point> p, int64_t intercept_ms, double& slope,
                      double& intercept) {
  double n = 0, sum_x = 0, c_x = 0, sum_y = 0, c_y = 0, sum_xy = 0, c_xy = 0, sum_x2 = 0, c_x2 = 0;
  const double init_y = p[0].value;
  bool const_y = true;
  for (size_t i = 0; i < p.size(); ++i) {
    if (const_y && i > 0 && p[i].value != init_y) const_y = false;
    n += 1.0;
    const double x = static_cast<double>(p[i].timestamp_ms - intercept_ms) / 1e3;
    KahanSumInc(x, sum_x, c_x);
    KahanSumInc(p[i].value, sum_y, c_y);
    KahanSumInc(x * p[i].value, sum_xy, c_xy);
    KahanSumInc(x * x, sum_x2, c_x2);
  }
  if (const_y) {
    if (std::isinf(init_y)) {
      slope = intercept = kNaN;
    } else {
      slope = 0;
      intercept = init_y;
    }
    return;
  }
  sum_x += c_x;
  sum_y += c_y;
  sum_xy += c_xy;
  sum_x2 += c_x2;
  const double cov_xy = sum_xy - sum_x * sum_y / n;
  const double var_x = sum_x2 - sum_x * sum_x / n;
  slope = cov_xy / var_x;
  intercept = sum_y / n - slope * sum_x / n;
}

double HoltWinters(absl::Span<const Point> p, double sf, double tf) {
  double s0 = 0, s1 = p[0].value, b = p[1].value - p[0].value;
  for (size_t i = 1; i < p.size(); ++i) {
    const double x = sf * p[i].value;
    if (i > 1) b = tf * (s1 - s0) + (1 - tf) * b;  // the trend so far
    const double y = (1 - sf) * (s1 + b);
    s0 = s1;
    s1 = x + y;
  }
  return s1;
}

double AvgOverTime(absl::Span<const Point> p) {
  double mean = 0, count = 0, c = 0;
  for (const Point& pt : p) {
    const double v = pt.value;
    count++;
    if (std::isinf(mean)) {
      // Inf - Inf would turn the mean into NaN; an infinite mean stays as it is
      // unless an opposite infinity or a NaN arrives.
      if (std::isinf(v) && (mean > 0) == (v > 0)) continue;
      if (!std::isinf(v) && !std::isnan(v)) continue;
    }
    KahanSumInc(v / count - mean / count, mean, c);
  }
  if (std::isinf(mean)) return mean;
  return mean + c;
}

// Welford's algorithm with compensated sums; returns the population variance.
double VarianceOverTime(absl::Span<const Point> p) {
  double count = 0, mean = 0, c_mean = 0, aux = 0, c_aux = 0;
  for (const Point& pt : p) {
    count++;
    const double delta = pt.value - (mean + c_mean);
    KahanSumInc(delta / count, mean, c_mean);
    KahanSumInc(delta * (pt.value - (mean + c_mean)), aux, c_aux);
  }
  return (aux + c_aux) / count;
}

bool IsAsciiNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
}

}  // namespace

const FunctionSignature* LookupFunction(absl::string_view name) {
  const auto& table = Functions();
  const auto it = table.find(name);
  return it == table.end() ? nullptr : &it->second;
}

std::optional<double> RangeFunction(FunctionId id, absl::Span<const Point> p,
                                    const RangeContext& ctx) {
  if (p.empty()) return std::nullopt;
  switch (id) {
    case FunctionId::kRate:
      return ExtrapolatedRate(p, ctx, true, true);
    case FunctionId::kIncrease:
      return ExtrapolatedRate(p, ctx, true, false);
    case FunctionId::kDelta:
      return ExtrapolatedRate(p, ctx, false, false);
    case FunctionId::kIrate:
      return InstantValue(p, true);
    case FunctionId::kIdelta:
      return InstantValue(p, false);
    case FunctionId::kResets: {
      int resets = 0;
      for (size_t i = 1; i < p.size(); ++i) {
        if (p[i].value < p[i - 1].value) ++resets;
      }
      return resets;
    }
    case FunctionId::kChanges: {
      int changes = 0;
      for (size_t i = 1; i < p.size(); ++i) {
        const double cur = p[i].value, prev = p[i - 1].value;
        if (cur != prev && !(std::isnan(cur) && std::isnan(prev))) ++changes;
      }
      return changes;
    }
    case FunctionId::kDeriv: {
      if (p.size() < 2) return std::nullopt;
      // Intercept at the first sample keeps x small (Prometheus issue 2674).
      double slope, intercept;
      LinearRegression(p, p[0].timestamp_ms, slope, intercept);
      return slope;
    }
    case FunctionId::kPredictLinear: {
      if (p.size() < 2) return std::nullopt;
      // Intercept at the evaluation instant, even under an offset, as 2.42.
      double slope, intercept;
      LinearRegression(p, ctx.eval_ms, slope, intercept);
      return slope * ctx.scalar_arg + intercept;
    }
    case FunctionId::kHoltWinters:
      if (p.size() < 2) return std::nullopt;
      return HoltWinters(p, ctx.scalar_arg, ctx.scalar_arg2);
    case FunctionId::kAvgOverTime:
      return AvgOverTime(p);
    case FunctionId::kMinOverTime: {
      double min = p[0].value;
      for (const Point& pt : p) {
        if (pt.value < min || std::isnan(min)) min = pt.value;
      }
      return min;
    }
    case FunctionId::kMaxOverTime: {
      double max = p[0].value;
      for (const Point& pt : p) {
        if (pt.value > max || std::isnan(max)) max = pt.value;
      }
      return max;
    }
    case FunctionId::kSumOverTime: {
      double sum = 0, c = 0;
      for (const Point& pt : p) KahanSumInc(pt.value, sum, c);
      if (std::isinf(sum)) return sum;
      return sum + c;
    }
    case FunctionId::kCountOverTime:
      return static_cast<double>(p.size());
    case FunctionId::kLastOverTime:
      return p.back().value;
    case FunctionId::kQuantileOverTime: {
      std::vector<double> values;
      values.reserve(p.size());
      for (const Point& pt : p) values.push_back(pt.value);
      return Quantile(ctx.scalar_arg, values);
    }
    case FunctionId::kStddevOverTime:
      return std::sqrt(VarianceOverTime(p));
    case FunctionId::kStdvarOverTime:
      return VarianceOverTime(p);
    case FunctionId::kPresentOverTime:
    case FunctionId::kAbsentOverTime:
      return 1.0;
    default:
      return std::nullopt;
  }
}

double MathFunction(FunctionId id, double v) {
  switch (id) {
    case FunctionId::kAbs:
      return std::fabs(v);
    case FunctionId::kCeil:
      return std::ceil(v);
    case FunctionId::kFloor:
      return std::floor(v);
    case FunctionId::kExp:
      return std::exp(v);
    case FunctionId::kSqrt:
      return std::sqrt(v);
    case FunctionId::kLn:
      return std::log(v);
    case FunctionId::kLog2: {
      // Go's math.Log2: exact for powers of two, else through the natural log.
      int exp = 0;
      const double frac = std::frexp(v, &exp);
      if (frac == 0.5) return static_cast<double>(exp - 1);
      return std::log(frac) * (1 / M_LN2) + static_cast<double>(exp);
    }
    case FunctionId::kLog10:
      return MathFunction(FunctionId::kLog2, v) * (M_LN2 / M_LN10);  // Go's math.Log10
    case FunctionId::kSgn:
      if (v < 0) return -1;
      if (v > 0) return 1;
      return v;  // keeps 0, -0 and NaN
    case FunctionId::kSin:
      return std::sin(v);
    case FunctionId::kCos:
      return std::cos(v);
    case FunctionId::kTan:
      return std::tan(v);
    case FunctionId::kAsin:
      return std::asin(v);
    case FunctionId::kAcos:
      return std::acos(v);
    case FunctionId::kAtan:
      return std::atan(v);
    case FunctionId::kSinh:
      return std::sinh(v);
    case FunctionId::kCosh:
      return std::cosh(v);
    case FunctionId::kTanh:
      return std::tanh(v);
    case FunctionId::kAsinh:
      return std::asinh(v);
    case FunctionId::kAcosh:
      return std::acosh(v);
    case FunctionId::kAtanh:
      return std::atanh(v);
    case FunctionId::kDeg:
      return v * 180 / M_PI;
    case FunctionId::kRad:
      return v * M_PI / 180;
    default:
      return kNaN;
  }
}

double DateFunction(FunctionId id, double unix_seconds) {
  // Go converts with int64(v), which truncates toward zero.
  if (!std::isfinite(unix_seconds) || std::fabs(unix_seconds) > 1e17) return kNaN;
  const int64_t secs = static_cast<int64_t>(unix_seconds);
  const absl::CivilSecond t = absl::ToCivilSecond(absl::FromUnixSeconds(secs), absl::UTCTimeZone());
  switch (id) {
    case FunctionId::kDayOfMonth:
      return t.day();
    case FunctionId::kDayOfWeek:
      return static_cast<int>(absl::GetWeekday(absl::CivilDay(t))) == 6
                 ? 0  // absl counts from Monday; Go's Sunday is 0
                 : static_cast<int>(absl::GetWeekday(absl::CivilDay(t))) + 1;
    case FunctionId::kDaysInMonth: {
      const absl::CivilMonth m(t);
      return static_cast<double>(absl::CivilDay(m + 1) - absl::CivilDay(m));
    }
    case FunctionId::kHour:
      return t.hour();
    case FunctionId::kMinute:
      return t.minute();
    case FunctionId::kMonth:
      return t.month();
    case FunctionId::kYear:
      return static_cast<double>(t.year());
    default:
      return kNaN;
  }
}

double GoMax(double x, double y) {
  if ((std::isinf(x) && x > 0) || (std::isinf(y) && y > 0)) return kInf;
  if (std::isnan(x) || std::isnan(y)) return kNaN;
  if (x == 0 && x == y) return std::signbit(x) ? y : x;
  return x > y ? x : y;
}

double GoMin(double x, double y) {
  if ((std::isinf(x) && x < 0) || (std::isinf(y) && y < 0)) return -kInf;
  if (std::isnan(x) || std::isnan(y)) return kNaN;
  if (x == 0 && x == y) return std::signbit(x) ? x : y;
  return x < y ? x : y;
}

double Quantile(double q, std::vector<double>& values) {
  if (values.empty() || std::isnan(q)) return kNaN;
  if (q < 0) return -kInf;
  if (q > 1) return kInf;
  // NaN sorts first, as in Prometheus's vectorByValueHeap.
  std::sort(values.begin(), values.end(), [](double a, double b) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
    return a < b;
  });
  const double n = static_cast<double>(values.size());
  const double rank = q * (n - 1);
  const double lower = std::max(0.0, std::floor(rank));
  const double upper = std::min(n - 1, lower + 1);
  const double weight = rank - std::floor(rank);
  return values[static_cast<size_t>(lower)] * (1 - weight) +
         values[static_cast<size_t>(upper)] * weight;
}

double BucketQuantile(double q, std::vector<Bucket> buckets) {
  if (std::isnan(q)) return kNaN;
  if (q < 0) return -kInf;
  if (q > 1) return kInf;
  if (buckets.empty()) return kNaN;
  std::stable_sort(buckets.begin(), buckets.end(),
                   [](const Bucket& a, const Bucket& b) { return a.upper_bound < b.upper_bound; });
  if (!(std::isinf(buckets.back().upper_bound) && buckets.back().upper_bound > 0)) return kNaN;
  // Buckets with the same bound (e.g. "1" and "1.0") count as one.
  std::vector<Bucket> merged;
  for (const Bucket& b : buckets) {
    if (!merged.empty() && merged.back().upper_bound == b.upper_bound) {
      merged.back().count += b.count;
    } else {
      merged.push_back(b);
    }
  }
  // Counts must not decrease with the bound (they may, briefly, while rules
  // evaluate or scrapes land between the buckets of one histogram).
  double max = -kInf;
  for (Bucket& b : merged) {
    if (b.count > max) {
      max = b.count;
    } else if (b.count < max) {
      b.count = max;
    }
  }
  if (merged.size() < 2) return kNaN;
  const double observations = merged.back().count;
  if (observations == 0) return kNaN;
  double rank = q * observations;
  // sort.Search over all buckets but the +Inf one.
  size_t b = 0;
  while (b < merged.size() - 1 && !(merged[b].count >= rank)) ++b;
  if (b == merged.size() - 1) return merged[merged.size() - 2].upper_bound;
  if (b == 0 && merged[0].upper_bound <= 0) return merged[0].upper_bound;
  double bucket_start = 0;
  const double bucket_end = merged[b].upper_bound;
  double count = merged[b].count;
  if (b > 0) {
    bucket_start = merged[b - 1].upper_bound;
    count -= merged[b - 1].count;
    rank -= merged[b - 1].count;
  }
  return bucket_start + (bucket_end - bucket_start) * (rank / count);
}

std::optional<double> ParseGoFloat(absl::string_view s) {
  if (s.empty()) return std::nullopt;
  // Go's special values: an optional sign with "inf" or "infinity", or "nan".
  absl::string_view rest = s;
  double sign = 1;
  if (rest[0] == '+' || rest[0] == '-') {
    sign = rest[0] == '-' ? -1 : 1;
    rest.remove_prefix(1);
  }
  const std::string lower = absl::AsciiStrToLower(rest);
  if (lower == "inf" || lower == "infinity") return sign * kInf;
  if (lower == "nan" && rest.size() == s.size()) return kNaN;
  // Decimal only (no hex floats, no digit separators): what `le` labels hold.
  for (char c : rest) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '.' && c != 'e' && c != 'E' &&
        c != '+' && c != '-') {
      return std::nullopt;
    }
  }
  double v = 0;
  const absl::from_chars_result r = absl::from_chars(rest.data(), rest.data() + rest.size(), v);
  if (r.ptr != rest.data() + rest.size() || r.ec == std::errc::invalid_argument)
    return std::nullopt;
  // Overflow is an error in Go; underflow quietly gives zero (or a denormal).
  if (r.ec == std::errc::result_out_of_range && (std::isinf(v) || std::fabs(v) > 1)) {
    return std::nullopt;
  }
  return sign * v;
}

std::string FormatFloatFixed(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[400];  // the longest fixed form of a double is ~330 characters
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

std::string ExpandTemplate(absl::string_view tmpl,
                           const std::vector<std::optional<absl::string_view>>& groups,
                           const std::vector<std::string>& names) {
  std::string out;
  while (!tmpl.empty()) {
    const size_t dollar = tmpl.find('$');
    if (dollar == absl::string_view::npos) break;
    out.append(tmpl.data(), dollar);
    tmpl.remove_prefix(dollar + 1);
    if (!tmpl.empty() && tmpl[0] == '$') {
      out += '$';
      tmpl.remove_prefix(1);
      continue;
    }
    // Go's extract: $name or ${name}, the name as long as possible.
    absl::string_view s = tmpl;
    const bool brace = !s.empty() && s[0] == '{';
    if (brace) s.remove_prefix(1);
    size_t i = 0;
    while (i < s.size() && IsAsciiNameChar(s[i])) ++i;
    if (i == 0 || (brace && (i >= s.size() || s[i] != '}'))) {
      out += '$';  // malformed: the '$' is literal text
      continue;
    }
    const absl::string_view name = s.substr(0, i);
    tmpl = s.substr(brace ? i + 1 : i);
    int num = 0;
    for (char c : name) {
      if (c < '0' || c > '9' || num >= 100000000) {
        num = -1;
        break;
      }
      num = num * 10 + (c - '0');
    }
    if (name.size() > 1 && name[0] == '0') num = -1;  // no leading zeros
    if (num >= 0) {
      if (static_cast<size_t>(num) < groups.size() && groups[num].has_value()) {
        out.append(groups[num]->data(), groups[num]->size());
      }
    } else {
      for (size_t g = 0; g < names.size(); ++g) {
        if (names[g] == name && g < groups.size()) {
          if (groups[g].has_value()) out.append(groups[g]->data(), groups[g]->size());
          break;
        }
      }
    }
  }
  out.append(tmpl.data(), tmpl.size());
  return out;
}

bool IsValidLabelName(absl::string_view name) {
  if (name.empty()) return false;
  if (absl::ascii_isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), IsAsciiNameChar);
}

}  // namespace klaxon::rules_internal
