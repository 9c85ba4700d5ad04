// Evaluates a parsed expression at one instant, with Prometheus 2.42's
// semantics: its instant-query evaluation (engine.go) reduced to one step.
#include "rules/evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "re2/re2.h"
#include "rules/internal/format.h"
#include "rules/internal/functions.h"

namespace klaxon {
namespace {

using rules_internal::FunctionId;
using Point = SeriesReader::Point;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// What a subexpression evaluates to. Strings appear only as arguments; range
// vectors are read by the functions that take them and never materialized.
using Value = std::variant<Scalar, InstantVector, std::string>;

// ---------------------------------------------------------------------------
// Labels

// Prometheus's labels.String(): every label in braces, __name__ included.
std::string PromString(const Labels& labels) {
  std::string out = "{";
  bool first = true;
  for (LabelRef l : labels.items()) {
    if (!first) out += ", ";
    first = false;
    absl::StrAppend(&out, l.name, "=", rules_internal::QuoteString(l.value));
  }
  out += '}';
  return out;
}

bool Contains(const std::vector<std::string>& names, absl::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The labels named in `names` only (labels.Builder.Keep).
Labels KeepOnly(const Labels& labels, const std::vector<std::string>& names) {
  return labels.Filter([&names](LabelRef l) { return Contains(names, l.name); });
}

// Every label but those in `names` and, if `drop_name`, __name__.
Labels Without(const Labels& labels, const std::vector<std::string>& names, bool drop_name) {
  return labels.Filter([&names, drop_name](LabelRef l) {
    return !Contains(names, l.name) && !(drop_name && l.name == kMetricNameLabel);
  });
}

// The labels two samples must share to match: signatureFunc in Prometheus.
Labels MatchSignature(const Labels& labels, const VectorMatching& m) {
  return m.on ? KeepOnly(labels, m.labels) : Without(labels, m.labels, /*drop_name=*/true);
}

// Prometheus refuses a result in which changing labels merged two series.
absl::Status CheckDistinctLabelsets(const InstantVector& v) {
  if (v.size() < 2) return absl::OkStatus();
  // By fingerprint, comparing label sets only when two fingerprints agree: this
  // runs on every evaluation, and copying every label set into a set did not
  // pay.
  absl::flat_hash_map<uint64_t, const Labels*> seen;
  seen.reserve(v.size());
  std::vector<const Labels*> collided;
  for (const VectorSample& s : v) {
    auto [it, inserted] = seen.try_emplace(s.labels.Fingerprint(), &s.labels);
    if (inserted) continue;
    bool duplicate = *it->second == s.labels;
    for (const Labels* other : collided) duplicate |= *other == s.labels;
    if (duplicate) {
      return absl::InvalidArgumentError(absl::StrCat(
          "vector cannot contain metrics with the same labelset: ", s.labels.ToString()));
    }
    collided.push_back(&s.labels);
  }
  return absl::OkStatus();
}


// absent()'s labels, as Prometheus 2.42's createLabelsForAbsentFunction: the
// matchers in order, each label's first `=` matcher setting it and any other
// matcher of that label removing it, so `{a!="x", a="y"}` gives a="y" and
// `{a="y", a!="x"}` and `{a="x", a="y"}` give no `a`.
Labels AbsentLabels(const VectorSelector& selector) {
  Labels out;
  absl::flat_hash_set<std::string> has;
  for (const LabelMatcher& m : selector.matchers) {
    if (m.name() == kMetricNameLabel) continue;
    if (m.op() == LabelMatcher::Op::kEqual && has.insert(m.name()).second) {
      out.Set(m.name(), m.value());
    } else {
      out.Set(m.name(), "");
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Arithmetic

bool DropsMetricName(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
    case BinaryOp::kSub:
    case BinaryOp::kMul:
    case BinaryOp::kDiv:
    case BinaryOp::kPow:
    case BinaryOp::kMod:
      return true;
    default:
      return false;  // comparisons filter; atan2 keeps the name in 2.42
  }
}

// vectorElemBinop: the value and whether the sample is kept. A comparison
// keeps the left value when true.
std::pair<double, bool> ElemBinop(BinaryOp op, double lhs, double rhs) {
  switch (op) {
    case BinaryOp::kAdd:
      return {lhs + rhs, true};
    case BinaryOp::kSub:
      return {lhs - rhs, true};
    case BinaryOp::kMul:
      return {lhs * rhs, true};
    case BinaryOp::kDiv:
      return {lhs / rhs, true};
    case BinaryOp::kPow:
      return {std::pow(lhs, rhs), true};  // Go's math.Pow
    case BinaryOp::kMod:
      return {std::fmod(lhs, rhs), true};  // Go's math.Mod
    case BinaryOp::kAtan2:
      return {std::atan2(lhs, rhs), true};
    // IEEE comparisons: anything compared with NaN is false (except !=), as in Go.
    case BinaryOp::kEq:
      return {lhs, lhs == rhs};
    case BinaryOp::kNe:
      return {lhs, lhs != rhs};
    case BinaryOp::kLt:
      return {lhs, lhs < rhs};
    case BinaryOp::kLe:
      return {lhs, lhs <= rhs};
    case BinaryOp::kGt:
      return {lhs, lhs > rhs};
    case BinaryOp::kGe:
      return {lhs, lhs >= rhs};
    default:
      return {kNaN, false};
  }
}

// Orders for sort(), sort_desc() and the output of topk/bottomk: NaN last.
bool AscendingNaNLast(double a, double b) {
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return a < b;
}
bool DescendingNaNLast(double a, double b) {
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return a > b;
}

// Go's container/heap over Prometheus's vectorByValueHeap (reverse = false:
// the smallest on top, NaN smallest) or vectorByReverseValueHeap (the largest
// on top, NaN largest). topk/bottomk keep exactly the samples 2.42 keeps,
// ties included, only by doing the same pushes, pops and swaps.
class GoHeap {
 public:
  explicit GoHeap(bool reverse) : reverse_(reverse) {}
  std::vector<VectorSample>& items() { return h_; }
  const VectorSample& top() const { return h_[0]; }
  size_t size() const { return h_.size(); }

  bool Less(size_t i, size_t j) const {
    if (std::isnan(h_[i].value)) return true;
    return reverse_ ? h_[i].value > h_[j].value : h_[i].value < h_[j].value;
  }
  void Push(VectorSample s) {
    h_.push_back(std::move(s));
    Up(h_.size() - 1);
  }
  void Pop() {
    const size_t n = h_.size() - 1;
    std::swap(h_[0], h_[n]);
    Down(0, n);
    h_.pop_back();
  }

 private:
  void Up(size_t j) {
    while (j > 0) {
      const size_t i = (j - 1) / 2;
      if (!Less(j, i)) break;
      std::swap(h_[i], h_[j]);
      j = i;
    }
  }
  void Down(size_t i, size_t n) {
    while (true) {
      const size_t j1 = 2 * i + 1;
      if (j1 >= n) break;
      size_t j = j1;
      if (const size_t j2 = j1 + 1; j2 < n && Less(j2, j1)) j = j2;
      if (!Less(j, i)) break;
      std::swap(h_[i], h_[j]);
      i = j;
    }
  }

  bool reverse_;
  std::vector<VectorSample> h_;
};

// label_replace compiles each regex once per process, not per evaluation:
// rules evaluate on every sample, and their regexes are few and fixed.
ABSL_CONST_INIT absl::Mutex regex_cache_mu(absl::kConstInit);
absl::flat_hash_map<std::string, std::shared_ptr<const re2::RE2>>* regex_cache
    ABSL_GUARDED_BY(regex_cache_mu) = nullptr;

std::shared_ptr<const re2::RE2> CompiledAnchored(const std::string& regex) {
  absl::MutexLock lock(&regex_cache_mu);
  if (regex_cache == nullptr) {
    regex_cache = new absl::flat_hash_map<std::string, std::shared_ptr<const re2::RE2>>();
  }
  auto it = regex_cache->find(regex);
  if (it != regex_cache->end()) return it->second;
  if (regex_cache->size() >= 1024) regex_cache->clear();  // bounded; only odd configs get here
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(absl::StrCat("^(?:", regex, ")$"), options);
  regex_cache->emplace(regex, re);
  return re;
}

// ---------------------------------------------------------------------------
// Evaluation

// Whether every series the selector matches has the same metric name.
bool PinsMetricName(const VectorSelector& selector) {
  return std::any_of(selector.matchers.begin(), selector.matchers.end(), [](const LabelMatcher& m) {
    return m.name() == kMetricNameLabel && m.op() == LabelMatcher::Op::kEqual && !m.value().empty();
  });
}

class Evaluation {
 public:
  Evaluation(const SeriesReader& reader, int64_t at_ms, const EvalOptions& options)
      : reader_(reader), at_ms_(at_ms), lookback_ms_(absl::ToInt64Milliseconds(options.lookback)) {}

  absl::StatusOr<Value> Eval(const Expr& expr) {
    if (const auto* n = std::get_if<NumberLiteral>(&expr.node)) return Scalar{n->value};
    if (const auto* s = std::get_if<StringLiteral>(&expr.node)) return s->value;
    if (const auto* s = std::get_if<VectorSelector>(&expr.node)) return Select(*s, nullptr);
    if (std::holds_alternative<MatrixSelector>(expr.node)) {
      return absl::InvalidArgumentError(
          "a range vector cannot be a result: wrap it in a function such as rate()");
    }
    if (const auto* c = std::get_if<Call>(&expr.node)) return EvalCall(*c);
    if (const auto* a = std::get_if<AggregateExpr>(&expr.node)) return Aggregate(*a);
    return Binary(std::get<BinaryExpr>(expr.node));
  }

 private:
  absl::StatusOr<InstantVector> EvalVector(const ExprPtr& e) {
    if (e == nullptr) return absl::InvalidArgumentError("missing operand");
    absl::StatusOr<Value> v = Eval(*e);
    if (!v.ok()) return v.status();
    if (auto* vec = std::get_if<InstantVector>(&*v)) return std::move(*vec);
    return absl::InvalidArgumentError(
        absl::StrCat("expected an instant vector, got ", ValueTypeName(TypeOf(*e))));
  }

  absl::StatusOr<double> EvalScalar(const ExprPtr& e) {
    if (e == nullptr) return absl::InvalidArgumentError("missing operand");
    absl::StatusOr<Value> v = Eval(*e);
    if (!v.ok()) return v.status();
    if (const auto* s = std::get_if<Scalar>(&*v)) return s->value;
    return absl::InvalidArgumentError(
        absl::StrCat("expected a scalar, got ", ValueTypeName(TypeOf(*e))));
  }

  absl::StatusOr<std::string> EvalString(const ExprPtr& e) {
    if (e == nullptr) return absl::InvalidArgumentError("missing operand");
    absl::StatusOr<Value> v = Eval(*e);
    if (!v.ok()) return v.status();
    if (auto* s = std::get_if<std::string>(&*v)) return std::move(*s);
    return absl::InvalidArgumentError(
        absl::StrCat("expected a string, got ", ValueTypeName(TypeOf(*e))));
  }

  // The newest sample of each matching series in [t - offset - lookback,
  // t - offset], sorted by labels as Prometheus returns selections, so that
  // results and errors do not depend on the reader's order. `timestamps`, if
  // given, receives each sample's time.
  // With `keep`, only the samples whose value it accepts.
  InstantVector Select(const VectorSelector& selector, std::vector<int64_t>* timestamps,
                       std::optional<absl::FunctionRef<bool(double)>> keep = std::nullopt) const {
    struct Row {
      VectorSample sample;
      int64_t t;
    };
    std::vector<Row> rows;
    const int64_t ref_ms = at_ms_ - absl::ToInt64Milliseconds(selector.offset);
    reader_.SelectInstant(selector.matchers, ref_ms, lookback_ms_,
                          [&rows, &keep](SeriesId id, const Labels& labels, int64_t t, double value) {
                            if (keep && !(*keep)(value)) return;
                            rows.push_back(Row{VectorSample{labels, value, id}, t});
                          });
    std::sort(rows.begin(), rows.end(),
              [](const Row& a, const Row& b) { return a.sample.labels < b.sample.labels; });
    InstantVector out;
    out.reserve(rows.size());
    for (Row& r : rows) {
      out.push_back(std::move(r.sample));
      if (timestamps != nullptr) timestamps->push_back(r.t);
    }
    return out;
  }

  // With `keep`, only the samples whose value it accepts (for a comparison
  // with a number; see FilteredByNumber).
  absl::StatusOr<Value> EvalCall(const Call& call,
                                 std::optional<absl::FunctionRef<bool(double)>> keep = std::nullopt) {
    const rules_internal::FunctionSignature* sig = rules_internal::LookupFunction(call.function);
    if (sig == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown function with name \"", call.function, "\""));
    }
    if (absl::Status st = CheckArguments(*sig, call); !st.ok()) return st;
    const size_t got = call.args.size();
    for (size_t i = 0; i < sig->arg_types.size() && i < call.args.size(); ++i) {
      if (sig->arg_types[i] == ValueType::kRangeVector) return RangeCall(*sig, call, i, keep);
    }
    if (keep) {  // callers pass `keep` only for range functions
      return absl::InternalError("a filter passed to a function without a range argument");
    }
    const FunctionId id = sig->id;
    switch (id) {
      case FunctionId::kTime:
        return Scalar{static_cast<double>(at_ms_) / 1000};
      case FunctionId::kPi:
        return Scalar{M_PI};
      case FunctionId::kVector: {
        absl::StatusOr<double> v = EvalScalar(call.args.at(0));
        if (!v.ok()) return v.status();
        return InstantVector{VectorSample{Labels(), *v, std::nullopt}};
      }
      case FunctionId::kScalar: {
        absl::StatusOr<InstantVector> v = EvalVector(call.args.at(0));
        if (!v.ok()) return v.status();
        return Scalar{v->size() == 1 ? (*v)[0].value : kNaN};
      }
      case FunctionId::kTimestamp:
        return Timestamp(*call.args.at(0));
      case FunctionId::kAbsent: {
        absl::StatusOr<InstantVector> v = EvalVector(call.args.at(0));
        if (!v.ok()) return v.status();
        if (!v->empty()) return InstantVector{};
        const auto* selector = std::get_if<VectorSelector>(&call.args[0]->node);
        return InstantVector{VectorSample{selector != nullptr ? AbsentLabels(*selector) : Labels(),
                                          1.0, std::nullopt}};
      }
      case FunctionId::kHistogramQuantile:
        return HistogramQuantile(call);
      case FunctionId::kLabelReplace:
        return LabelReplace(call);
      case FunctionId::kLabelJoin:
        return LabelJoin(call);
      case FunctionId::kSort:
      case FunctionId::kSortDesc: {
        absl::StatusOr<InstantVector> v = EvalVector(call.args.at(0));
        if (!v.ok()) return v.status();
        const bool desc = id == FunctionId::kSortDesc;
        std::stable_sort(v->begin(), v->end(),
                         [desc](const VectorSample& a, const VectorSample& b) {
                           return desc ? DescendingNaNLast(a.value, b.value)
                                       : AscendingNaNLast(a.value, b.value);
                         });
        return *std::move(v);  // samples pass through unchanged, origins kept
      }
      case FunctionId::kDayOfMonth:
      case FunctionId::kDayOfWeek:
      case FunctionId::kDaysInMonth:
      case FunctionId::kHour:
      case FunctionId::kMinute:
      case FunctionId::kMonth:
      case FunctionId::kYear:
        if (call.args.empty()) {
          // vector(time()), at whole seconds as Go's time.Unix(ts/1000, 0).
          return InstantVector{VectorSample{
              Labels(), rules_internal::DateFunction(id, static_cast<double>(at_ms_ / 1000)),
              std::nullopt}};
        }
        return MapValues(call.args[0],
                         [id](double v) { return rules_internal::DateFunction(id, v); });
      case FunctionId::kRound: {
        double to_nearest = 1;
        if (got == 2) {
          absl::StatusOr<double> n = EvalScalar(call.args[1]);
          if (!n.ok()) return n.status();
          to_nearest = *n;
        }
        // The inverse, as Prometheus: it rounds better for fractions like 0.1.
        const double inverse = 1.0 / to_nearest;
        return MapValues(call.args.at(0),
                         [inverse](double v) { return std::floor(v * inverse + 0.5) / inverse; });
      }
      case FunctionId::kClamp: {
        absl::StatusOr<double> min = EvalScalar(call.args.at(1));
        if (!min.ok()) return min.status();
        absl::StatusOr<double> max = EvalScalar(call.args.at(2));
        if (!max.ok()) return max.status();
        if (*max < *min) {
          // Still evaluated, so that its errors are not hidden.
          absl::StatusOr<InstantVector> v = EvalVector(call.args[0]);
          if (!v.ok()) return v.status();
          return InstantVector{};
        }
        const double lo = *min, hi = *max;
        return MapValues(call.args[0], [lo, hi](double v) {
          return rules_internal::GoMax(lo, rules_internal::GoMin(hi, v));
        });
      }
      case FunctionId::kClampMin:
      case FunctionId::kClampMax: {
        absl::StatusOr<double> bound = EvalScalar(call.args.at(1));
        if (!bound.ok()) return bound.status();
        const double b = *bound;
        if (id == FunctionId::kClampMin) {
          return MapValues(call.args[0], [b](double v) { return rules_internal::GoMax(b, v); });
        }
        return MapValues(call.args[0], [b](double v) { return rules_internal::GoMin(b, v); });
      }
      default:
        return MapValues(call.args.at(0),
                         [id](double v) { return rules_internal::MathFunction(id, v); });
    }
  }

  // Applies `f` to every value, dropping the metric name, as simpleFunc.
  template <typename F>
  absl::StatusOr<Value> MapValues(const ExprPtr& arg, const F& f) {
    absl::StatusOr<InstantVector> v = EvalVector(arg);
    if (!v.ok()) return v.status();
    for (VectorSample& s : *v) {
      s.labels = s.labels.WithoutMetricName();
      s.value = f(s.value);
      s.origin.reset();
    }
    if (absl::Status st = CheckDistinctLabelsets(*v); !st.ok()) return st;
    return *std::move(v);
  }

  // timestamp() of a bare selector gives each sample's own time; of anything
  // else, the evaluation time, as in 2.42 (other nodes carry step times).
  absl::StatusOr<Value> Timestamp(const Expr& arg) {
    InstantVector v;
    std::vector<int64_t> times;
    if (const auto* selector = std::get_if<VectorSelector>(&arg.node)) {
      v = Select(*selector, &times);
    } else {
      absl::StatusOr<Value> value = Eval(arg);
      if (!value.ok()) return value.status();
      auto* vec = std::get_if<InstantVector>(&*value);
      if (vec == nullptr) return absl::InvalidArgumentError("timestamp() needs an instant vector");
      v = std::move(*vec);
      times.assign(v.size(), at_ms_);
    }
    for (size_t i = 0; i < v.size(); ++i) {
      v[i].labels = v[i].labels.WithoutMetricName();
      v[i].value = static_cast<double>(times[i]) / 1000;
      v[i].origin.reset();
    }
    if (absl::Status st = CheckDistinctLabelsets(v); !st.ok()) return st;
    return v;
  }

  // The parser guarantees these; a tree built by hand may not have been parsed.
  static absl::Status CheckArguments(const rules_internal::FunctionSignature& sig,
                                     const Call& call) {
    const size_t nargs = sig.arg_types.size();
    const size_t got = call.args.size();
    const bool count_ok = sig.variadic == 0  ? got == nargs
                          : sig.variadic < 0 ? got + 1 >= nargs
                                             : got + 1 >= nargs && got < nargs + sig.variadic;
    if (!count_ok || std::any_of(call.args.begin(), call.args.end(),
                                 [](const ExprPtr& a) { return a == nullptr; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("wrong arguments in call to function \"", call.function, "\""));
    }
    return absl::OkStatus();
  }

  // A function of a range vector: one value per series with samples in the range.
  absl::StatusOr<Value> RangeCall(const rules_internal::FunctionSignature& sig, const Call& call,
                                  size_t matrix_arg,
                                  std::optional<absl::FunctionRef<bool(double)>> keep) {
    const auto* ms = std::get_if<MatrixSelector>(&call.args[matrix_arg]->node);
    const FunctionId id = sig.id;
    const bool keeps_name = id == FunctionId::kLastOverTime;  // it acts like a selector
    // Series of one metric name are distinct without it too: no duplicate
    // check, and a filter can drop a sample before its labels are copied.
    const bool distinct = ms != nullptr && (keeps_name || PinsMetricName(ms->selector));
    InstantVector out;
    bool any_series = false;
    absl::Status status = ForEachRangeValue(
        sig, call, matrix_arg, any_series, [&](SeriesId series, const Labels& labels, double v) {
          if (keep && distinct && !(*keep)(v)) return;
          out.push_back(VectorSample{keeps_name ? labels : labels.WithoutMetricName(), v,
                                     keeps_name ? std::optional<SeriesId>(series) : std::nullopt});
        });
    if (!status.ok()) return status;
    if (id == FunctionId::kAbsentOverTime) {
      if (any_series) return InstantVector{};
      out = InstantVector{VectorSample{AbsentLabels(ms->selector), 1.0, std::nullopt}};
    } else if (!distinct) {
      if (absl::Status st = CheckDistinctLabelsets(out); !st.ok()) return st;
    }
    if (keep) std::erase_if(out, [&keep](const VectorSample& s) { return !(*keep)(s.value); });
    return out;
  }

  // Calls `visit` with each series the range function reads (its labels as
  // stored, metric name included) and the function's value over it; sets
  // `any_series` if a series had samples in the range.
  absl::Status ForEachRangeValue(const rules_internal::FunctionSignature& sig, const Call& call,
                                 size_t matrix_arg, bool& any_series,
                                 absl::FunctionRef<void(SeriesId, const Labels&, double)> visit) {
    const auto* ms = std::get_if<MatrixSelector>(&call.args[matrix_arg]->node);
    if (ms == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected a range vector selector in call to function \"", call.function, "\""));
    }
    std::vector<double> scalars;
    for (size_t i = 0; i < call.args.size(); ++i) {
      if (i == matrix_arg) continue;
      absl::StatusOr<double> v = EvalScalar(call.args[i]);
      if (!v.ok()) return v.status();
      scalars.push_back(*v);
    }
    rules_internal::RangeContext ctx;
    ctx.eval_ms = at_ms_;
    ctx.range_end_ms = at_ms_ - absl::ToInt64Milliseconds(ms->selector.offset);
    const int64_t range_ms = absl::ToInt64Milliseconds(ms->range);
    ctx.range_start_ms = ctx.range_end_ms - range_ms;
    ctx.range_seconds = absl::ToDoubleSeconds(ms->range);
    if (!scalars.empty()) ctx.scalar_arg = scalars[0];
    if (scalars.size() > 1) ctx.scalar_arg2 = scalars[1];

    const FunctionId id = sig.id;
    absl::Status error;
    reader_.SelectRange(
        ms->selector.matchers, ctx.range_end_ms, range_ms,
        [&](SeriesId series, const Labels& labels, absl::Span<const Point> points) {
          if (points.empty() || !error.ok()) return;
          any_series = true;
          if (id == FunctionId::kAbsentOverTime) return;
          if (id == FunctionId::kHoltWinters) {
            // Checked where 2.42 checks: only when there is a series to smooth.
            if (!(ctx.scalar_arg > 0 && ctx.scalar_arg < 1)) {
              error = absl::InvalidArgumentError(absl::StrFormat(
                  "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", ctx.scalar_arg));
              return;
            }
            if (!(ctx.scalar_arg2 > 0 && ctx.scalar_arg2 < 1)) {
              error = absl::InvalidArgumentError(absl::StrFormat(
                  "invalid trend factor. Expected: 0 < tf < 1, got: %f", ctx.scalar_arg2));
              return;
            }
          }
          const std::optional<double> v = rules_internal::RangeFunction(id, points, ctx);
          if (v.has_value()) visit(series, labels, *v);
        });
    return error;
  }

  absl::StatusOr<Value> HistogramQuantile(const Call& call) {
    absl::StatusOr<double> q = EvalScalar(call.args.at(0));
    if (!q.ok()) return q.status();
    absl::StatusOr<InstantVector> in = EvalVector(call.args.at(1));
    if (!in.ok()) return in.status();
    struct Histogram {
      Labels labels;  // the output's: no __name__, no le
      std::vector<rules_internal::Bucket> buckets;
    };
    // One histogram per label set without `le` (the metric name included, so
    // that two histograms that differ only by name are not mixed).
    std::vector<Histogram> histograms;
    absl::flat_hash_map<Labels, size_t> index;
    static const std::vector<std::string> kLe = {"le"};
    for (const VectorSample& s : *in) {
      const std::optional<double> upper = rules_internal::ParseGoFloat(s.labels.Get("le"));
      if (!upper.has_value()) continue;  // no or malformed bucket label: skipped, as 2.42
      Labels key = Without(s.labels, kLe, /*drop_name=*/false);
      auto [it, inserted] = index.try_emplace(std::move(key), histograms.size());
      if (inserted) histograms.push_back(Histogram{Without(s.labels, kLe, true), {}});
      histograms[it->second].buckets.push_back({*upper, s.value});
    }
    InstantVector out;
    for (Histogram& h : histograms) {
      out.push_back(VectorSample{std::move(h.labels),
                                 rules_internal::BucketQuantile(*q, std::move(h.buckets)),
                                 std::nullopt});
    }
    if (absl::Status st = CheckDistinctLabelsets(out); !st.ok()) return st;
    return out;
  }

  absl::StatusOr<Value> LabelReplace(const Call& call) {
    absl::StatusOr<InstantVector> v = EvalVector(call.args.at(0));
    if (!v.ok()) return v.status();
    std::string args[4];
    for (int i = 0; i < 4; ++i) {
      absl::StatusOr<std::string> s = EvalString(call.args.at(i + 1));
      if (!s.ok()) return s.status();
      args[i] = *std::move(s);
    }
    const std::string& dst = args[0];
    const std::string& replacement = args[1];
    const std::string& src = args[2];
    const std::shared_ptr<const re2::RE2> re = CompiledAnchored(args[3]);
    if (!re->ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid regular expression in label_replace(): ", args[3]));
    }
    if (!rules_internal::IsValidLabelName(dst)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid destination label name in label_replace(): ", dst));
    }
    const int ngroups = re->NumberOfCapturingGroups() + 1;
    std::vector<std::string> names(ngroups);
    for (const auto& [index, name] : re->CapturingGroupNames()) {
      if (index < ngroups) names[index] = name;
    }
    std::vector<re2::StringPiece> pieces(ngroups);
    std::vector<std::optional<absl::string_view>> groups(ngroups);
    for (VectorSample& s : *v) {
      const absl::string_view value = s.labels.Get(src);
      if (!re->Match(re2::StringPiece(value.data(), value.size()), 0, value.size(),
                     re2::RE2::UNANCHORED, pieces.data(), ngroups)) {
        continue;  // no match: the sample keeps its labels
      }
      for (int g = 0; g < ngroups; ++g) {
        groups[g] = pieces[g].data() == nullptr
                        ? std::nullopt
                        : std::optional<absl::string_view>(
                              absl::string_view(pieces[g].data(), pieces[g].size()));
      }
      // An empty result removes the label, as setting any label to "" does.
      s.labels.Set(dst, rules_internal::ExpandTemplate(replacement, groups, names));
    }
    if (absl::Status st = CheckDistinctLabelsets(*v); !st.ok()) return st;
    return *std::move(v);  // values unchanged: origins kept
  }

  absl::StatusOr<Value> LabelJoin(const Call& call) {
    absl::StatusOr<InstantVector> v = EvalVector(call.args.at(0));
    if (!v.ok()) return v.status();
    std::vector<std::string> strings;
    for (size_t i = 1; i < call.args.size(); ++i) {
      absl::StatusOr<std::string> s = EvalString(call.args[i]);
      if (!s.ok()) return s.status();
      strings.push_back(*std::move(s));
    }
    if (strings.size() < 2)
      return absl::InvalidArgumentError("label_join needs at least 3 arguments");
    const std::string& dst = strings[0];
    const std::string& separator = strings[1];
    for (size_t i = 2; i < strings.size(); ++i) {
      if (!rules_internal::IsValidLabelName(strings[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid source label name in label_join(): ", strings[i]));
      }
    }
    if (!rules_internal::IsValidLabelName(dst)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid destination label name in label_join(): ", dst));
    }
    for (VectorSample& s : *v) {
      std::vector<absl::string_view> values;
      for (size_t i = 2; i < strings.size(); ++i) values.push_back(s.labels.Get(strings[i]));
      s.labels.Set(dst, absl::StrJoin(values, separator));
    }
    if (absl::Status st = CheckDistinctLabelsets(*v); !st.ok()) return st;
    return *std::move(v);
  }

  // A range function over a selector that pins the metric name, for an
  // aggregation that keeps no sample whole: its values can be aggregated as
  // they are computed, grouped by the source series' labels, without a
  // vector of relabelled samples in between (`sum by (instance)
  // (rate(x[5m]))` over a million series spent most of its time copying and
  // freeing their labels).
  struct FusedRange {
    const rules_internal::FunctionSignature* sig;
    const Call* call;
    size_t matrix_arg;
  };
  static std::optional<FusedRange> FusableRange(const AggregateExpr& a) {
    switch (a.op) {
      case AggregateOp::kSum:
      case AggregateOp::kAvg:
      case AggregateOp::kMax:
      case AggregateOp::kMin:
      case AggregateOp::kCount:
      case AggregateOp::kGroup:
      case AggregateOp::kStddev:
      case AggregateOp::kStdvar:
        break;
      default:  // these keep samples, take a parameter or relabel
        return std::nullopt;
    }
    // Grouping by __name__ sees the function's output, which has none.
    if (!a.without && Contains(a.grouping, kMetricNameLabel)) return std::nullopt;
    const auto* call = a.expr == nullptr ? nullptr : std::get_if<Call>(&a.expr->node);
    if (call == nullptr) return std::nullopt;
    const rules_internal::FunctionSignature* sig = rules_internal::LookupFunction(call->function);
    if (sig == nullptr || !CheckArguments(*sig, *call).ok()) return std::nullopt;
    // Those that keep the name (last_over_time) may merge nothing either, but
    // the ones that drop it are the common case.
    if (sig->id == FunctionId::kAbsentOverTime || sig->id == FunctionId::kLastOverTime) {
      return std::nullopt;
    }
    for (size_t i = 0; i < sig->arg_types.size(); ++i) {
      if (sig->arg_types[i] != ValueType::kRangeVector) continue;
      const auto* ms = std::get_if<MatrixSelector>(&call->args[i]->node);
      if (ms == nullptr || !PinsMetricName(ms->selector)) return std::nullopt;
      return FusedRange{sig, call, i};
    }
    return std::nullopt;
  }

  absl::StatusOr<Value> Aggregate(const AggregateExpr& a) {
    const std::optional<FusedRange> fused = FusableRange(a);
    absl::StatusOr<InstantVector> in = InstantVector{};
    if (!fused) in = EvalVector(a.expr);
    if (!in.ok()) return in.status();
    double param = 0;
    std::string value_label;
    if (a.op == AggregateOp::kCountValues) {
      absl::StatusOr<std::string> s = EvalString(a.param);
      if (!s.ok()) return s.status();
      value_label = *std::move(s);
    } else if (a.param != nullptr) {
      absl::StatusOr<double> p = EvalScalar(a.param);
      if (!p.ok()) return p.status();
      param = *p;
    }

    int64_t k = 0;
    if (a.op == AggregateOp::kTopK || a.op == AggregateOp::kBottomK) {
      // The largest double below 2^63, Prometheus's convertibleToInt64 bound.
      constexpr double kMaxInt64 = 9223372036854774784.0;
      if (!(param <= kMaxInt64 && param >= -kMaxInt64 - 1024)) {
        return absl::InvalidArgumentError(
            absl::StrCat("Scalar value ", rules_internal::FormatFloat(param), " overflows int64"));
      }
      k = static_cast<int64_t>(param);
      if (k < 1) return InstantVector{};
    }
    std::vector<std::string> grouping = a.grouping;
    if (a.op == AggregateOp::kCountValues) {
      if (!rules_internal::IsValidLabelName(value_label)) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid label name ", rules_internal::QuoteString(value_label)));
      }
      if (!a.without) grouping.push_back(value_label);
    }

    struct Group {
      Labels labels;
      double value = 0;
      double mean = 0;
      int64_t count = 0;
      std::optional<GoHeap> heap;
      std::vector<double> values;  // quantile
    };
    std::vector<Group> groups;
    absl::flat_hash_map<Labels, size_t> index;
    // `sample` is null on the fused path, which takes no op that keeps one.
    auto accumulate = [&](const Labels& labels, const double value, VectorSample* sample) {
      // The group's key is also its output labels.
      Labels key = a.without ? Without(labels, grouping, /*drop_name=*/true)
                             : KeepOnly(labels, grouping);
      auto [it, inserted] = index.try_emplace(std::move(key), groups.size());
      if (inserted) {
        Group g;
        g.labels = it->first;
        g.value = value;
        g.mean = value;
        g.count = 1;
        switch (a.op) {
          case AggregateOp::kStddev:
          case AggregateOp::kStdvar:
            g.value = 0;
            break;
          case AggregateOp::kTopK:
          case AggregateOp::kBottomK:
            g.heap.emplace(a.op == AggregateOp::kBottomK);
            g.heap->items().push_back(*sample);
            break;
          case AggregateOp::kQuantile:
            g.values.push_back(value);
            break;
          case AggregateOp::kGroup:
            g.value = 1;
            break;
          default:
            break;
        }
        groups.push_back(std::move(g));
        return;
      }
      Group& g = groups[it->second];
      switch (a.op) {
        case AggregateOp::kSum:
          g.value += value;
          break;
        case AggregateOp::kAvg:
          g.count++;
          if (std::isinf(g.mean)) {
            // Inf - Inf would make the mean NaN; an infinite mean stays as it is
            // unless an opposite infinity or a NaN arrives.
            if (std::isinf(value) && (g.mean > 0) == (value > 0)) break;
            if (!std::isinf(value) && !std::isnan(value)) break;
          }
          // Each side divided first, so that large values do not overflow.
          g.mean += value / static_cast<double>(g.count) - g.mean / static_cast<double>(g.count);
          break;
        case AggregateOp::kMax:
          if (g.value < value || std::isnan(g.value)) g.value = value;
          break;
        case AggregateOp::kMin:
          if (g.value > value || std::isnan(g.value)) g.value = value;
          break;
        case AggregateOp::kCount:
        case AggregateOp::kCountValues:
          g.count++;
          break;
        case AggregateOp::kStddev:
        case AggregateOp::kStdvar: {
          g.count++;
          const double delta = value - g.mean;
          g.mean += delta / static_cast<double>(g.count);
          g.value += delta * (value - g.mean);
          break;
        }
        case AggregateOp::kTopK:
        case AggregateOp::kBottomK: {
          GoHeap& h = *g.heap;
          const bool top = a.op == AggregateOp::kTopK;
          const bool better = top ? h.top().value < value : h.top().value > value;
          if (static_cast<int64_t>(h.size()) < k || better || std::isnan(h.top().value)) {
            if (static_cast<int64_t>(h.size()) == k) {
              if (k == 1) {
                h.items()[0] = *sample;  // replaced in place, as 2.42
                break;
              }
              h.Pop();
            }
            h.Push(*sample);
          }
          break;
        }
        case AggregateOp::kQuantile:
          g.values.push_back(value);
          break;
        case AggregateOp::kGroup:
          break;
      }
    };
    if (fused) {
      bool any_series = false;
      absl::Status st = ForEachRangeValue(
          *fused->sig, *fused->call, fused->matrix_arg, any_series,
          [&](SeriesId, const Labels& labels, double value) { accumulate(labels, value, nullptr); });
      if (!st.ok()) return st;
    }
    for (VectorSample& s : *in) {
      if (a.op == AggregateOp::kCountValues) {
        s.labels.Set(value_label, rules_internal::FormatFloatFixed(s.value));
      }
      accumulate(s.labels, s.value, &s);
    }

    InstantVector out;
    for (Group& g : groups) {
      switch (a.op) {
        case AggregateOp::kAvg:
          g.value = g.mean;
          break;
        case AggregateOp::kCount:
        case AggregateOp::kCountValues:
          g.value = static_cast<double>(g.count);
          break;
        case AggregateOp::kStdvar:
          g.value = g.value / static_cast<double>(g.count);
          break;
        case AggregateOp::kStddev:
          g.value = std::sqrt(g.value / static_cast<double>(g.count));
          break;
        case AggregateOp::kQuantile:
          g.value = rules_internal::Quantile(param, g.values);
          break;
        case AggregateOp::kTopK:
        case AggregateOp::kBottomK: {
          // The chosen samples pass through unchanged, names and origins kept.
          std::vector<VectorSample>& items = g.heap->items();
          const bool top = a.op == AggregateOp::kTopK;
          std::stable_sort(items.begin(), items.end(),
                           [top](const VectorSample& x, const VectorSample& y) {
                             return top ? DescendingNaNLast(x.value, y.value)
                                        : AscendingNaNLast(x.value, y.value);
                           });
          for (VectorSample& s : items) out.push_back(std::move(s));
          continue;
        }
        default:
          break;
      }
      out.push_back(VectorSample{std::move(g.labels), g.value, std::nullopt});
    }
    return out;
  }

  absl::StatusOr<Value> Binary(const BinaryExpr& b) {
    if (b.lhs == nullptr || b.rhs == nullptr) {
      return absl::InvalidArgumentError("binary expression without an operand");
    }
    if (std::optional<absl::StatusOr<Value>> filtered = FilteredByNumber(b)) {
      return *std::move(filtered);
    }
    absl::StatusOr<Value> lhs = Eval(*b.lhs);
    if (!lhs.ok()) return lhs;
    absl::StatusOr<Value> rhs = Eval(*b.rhs);
    if (!rhs.ok()) return rhs;
    if (std::holds_alternative<std::string>(*lhs) || std::holds_alternative<std::string>(*rhs)) {
      return absl::InvalidArgumentError(
          "binary expression must contain only scalar and instant vector types");
    }
    const auto* ls = std::get_if<Scalar>(&*lhs);
    const auto* rs = std::get_if<Scalar>(&*rhs);
    if ((ls != nullptr || rs != nullptr) && IsSetOperator(b.op)) {
      // The parser refuses this; a tree built by hand may not have been parsed.
      return absl::InvalidArgumentError(
          "set operators are not allowed in binary scalar expressions");
    }
    if (ls != nullptr && rs != nullptr) {
      if (!IsComparison(b.op)) return Scalar{ElemBinop(b.op, ls->value, rs->value).first};
      // The parser refuses this too; a tree built by hand may not have been parsed.
      if (!b.return_bool) {
        return absl::InvalidArgumentError("comparisons between scalars must use BOOL modifier");
      }
      return Scalar{ElemBinop(b.op, ls->value, rs->value).second ? 1.0 : 0.0};
    }
    if (ls != nullptr || rs != nullptr) {
      if (ls != nullptr) return VectorScalar(b, std::get<InstantVector>(*rhs), ls->value, true);
      return VectorScalar(b, std::get<InstantVector>(*lhs), rs->value, false);
    }
    InstantVector& l = std::get<InstantVector>(*lhs);
    InstantVector& r = std::get<InstantVector>(*rhs);
    switch (b.op) {
      case BinaryOp::kAnd:
        return And(b.matching, std::move(l), r);
      case BinaryOp::kOr:
        return Or(b.matching, std::move(l), std::move(r));
      case BinaryOp::kUnless:
        return Unless(b.matching, std::move(l), r);
      default:
        return VectorVector(b, l, r);
    }
  }

  // A selector or a range function compared with a number without `bool`
  // (`probe_success == 0`, `rate(errors_total[5m]) > 10`), the usual shape of
  // an alert, is a filter: only the series that pass are copied (and, for a
  // selector, sorted), not every series read. The result is VectorScalar's
  // over the whole operand.
  std::optional<absl::StatusOr<Value>> FilteredByNumber(const BinaryExpr& b) {
    if (!IsComparison(b.op) || b.return_bool) return std::nullopt;
    const Expr* operand = b.lhs.get();
    const auto* number = std::get_if<NumberLiteral>(&b.rhs->node);
    const bool number_on_left = number == nullptr;
    if (number_on_left) {
      operand = b.rhs.get();
      number = std::get_if<NumberLiteral>(&b.lhs->node);
    }
    if (number == nullptr) return std::nullopt;
    const double scalar = number->value;
    auto keep = [&b, scalar, number_on_left](double value) {
      return number_on_left ? ElemBinop(b.op, scalar, value).second
                            : ElemBinop(b.op, value, scalar).second;
    };
    if (const auto* selector = std::get_if<VectorSelector>(&operand->node)) {
      return absl::StatusOr<Value>(Select(*selector, nullptr, keep));
    }
    if (const auto* call = std::get_if<Call>(&operand->node)) {
      const rules_internal::FunctionSignature* sig = rules_internal::LookupFunction(call->function);
      if (sig != nullptr && sig->variadic == 0 && call->args.size() == sig->arg_types.size() &&
          std::find(sig->arg_types.begin(), sig->arg_types.end(), ValueType::kRangeVector) !=
              sig->arg_types.end()) {
        return EvalCall(*call, keep);
      }
    }
    return std::nullopt;
  }

  // `scalar_on_left` says the scalar was the left operand; a comparison still
  // keeps the vector's value, as in Prometheus (`1 < up` returns up's values).
  absl::StatusOr<Value> VectorScalar(const BinaryExpr& b, InstantVector& vector, double scalar,
                                     bool scalar_on_left) {
    InstantVector out;
    out.reserve(vector.size());
    for (VectorSample& s : vector) {
      const double lhs = scalar_on_left ? scalar : s.value;
      const double rhs = scalar_on_left ? s.value : scalar;
      auto [value, keep] = ElemBinop(b.op, lhs, rhs);
      if (IsComparison(b.op) && scalar_on_left) value = rhs;
      if (b.return_bool) {
        value = keep ? 1.0 : 0.0;
        keep = true;
      }
      if (!keep) continue;
      const bool filter = IsComparison(b.op) && !b.return_bool;
      if (DropsMetricName(b.op) || b.return_bool) s.labels = s.labels.WithoutMetricName();
      if (!filter) s.origin.reset();  // a filter passes the sample through unchanged
      s.value = value;
      out.push_back(std::move(s));
    }
    if (absl::Status st = CheckDistinctLabelsets(out); !st.ok()) return st;
    return out;
  }

  // Arithmetic and comparisons between two instant vectors (VectorBinop).
  absl::StatusOr<Value> VectorVector(const BinaryExpr& b, const InstantVector& left,
                                     const InstantVector& right) {
    InstantVector out;
    if (left.empty() || right.empty()) return out;
    const VectorMatching& m = b.matching;
    const bool one_to_many = m.card == MatchCardinality::kOneToMany;
    // The "one" side goes right; for group_right the sides swap.
    const InstantVector& many = one_to_many ? right : left;
    const InstantVector& one = one_to_many ? left : right;
    absl::flat_hash_map<Labels, const VectorSample*> one_by_sig;
    one_by_sig.reserve(one.size());
    for (const VectorSample& r : one) {
      auto [it, inserted] = one_by_sig.try_emplace(MatchSignature(r.labels, m), &r);
      if (!inserted) {
        const Labels matched =
            m.on ? KeepOnly(r.labels, m.labels) : Without(r.labels, m.labels, true);
        return absl::InvalidArgumentError(absl::StrCat(
            "found duplicate series for the match group ", PromString(matched), " on the ",
            one_to_many ? "left" : "right", " hand-side of the operation: [", PromString(r.labels),
            ", ", PromString(it->second->labels),
            "];many-to-many matching not allowed: matching labels must be unique on one side"));
      }
    }
    absl::flat_hash_set<Labels> matched_one_to_one;
    absl::flat_hash_map<Labels, absl::flat_hash_set<Labels>> matched_many;
    for (const VectorSample& l : many) {
      Labels sig = MatchSignature(l.labels, m);
      const auto it = one_by_sig.find(sig);
      if (it == one_by_sig.end()) continue;
      const VectorSample& r = *it->second;
      const VectorSample& original_left = one_to_many ? r : l;
      const VectorSample& original_right = one_to_many ? l : r;
      auto [value, keep] = ElemBinop(b.op, original_left.value, original_right.value);
      if (b.return_bool) {
        value = keep ? 1.0 : 0.0;
      } else if (!keep) {
        continue;
      }
      Labels labels = ResultLabels(l.labels, r.labels, b.op, m);
      if (b.return_bool) labels = labels.WithoutMetricName();
      if (m.card == MatchCardinality::kOneToOne) {
        if (!matched_one_to_one.insert(std::move(sig)).second) {
          return absl::InvalidArgumentError(
              "multiple matches for labels: many-to-one matching must be explicit "
              "(group_left/group_right)");
        }
      } else if (!matched_many[std::move(sig)].insert(labels).second) {
        return absl::InvalidArgumentError(
            "multiple matches for labels: grouping labels must ensure unique matches");
      }
      // A filter returns the left sample's value: its origin is the left's.
      const bool filter = IsComparison(b.op) && !b.return_bool;
      out.push_back(
          VectorSample{std::move(labels), value, filter ? original_left.origin : std::nullopt});
    }
    if (absl::Status st = CheckDistinctLabelsets(out); !st.ok()) return st;
    return out;
  }

  // resultMetric: the "many" side's labels, trimmed by the matching, with the
  // group_x labels copied from the "one" side.
  static Labels ResultLabels(const Labels& many, const Labels& one, BinaryOp op,
                             const VectorMatching& m) {
    Labels out = DropsMetricName(op) ? many.WithoutMetricName() : many;
    if (m.card == MatchCardinality::kOneToOne) {
      out = m.on ? KeepOnly(out, m.labels) : Without(out, m.labels, /*drop_name=*/false);
    }
    for (const std::string& name : m.include) out.Set(name, one.Get(name));
    return out;
  }

  static absl::flat_hash_set<Labels> Signatures(const InstantVector& v, const VectorMatching& m) {
    absl::flat_hash_set<Labels> out;
    out.reserve(v.size());
    for (const VectorSample& s : v) out.insert(MatchSignature(s.labels, m));
    return out;
  }

  // The set operators pass samples through unchanged, origins included.
  static InstantVector And(const VectorMatching& m, InstantVector lhs, const InstantVector& rhs) {
    if (lhs.empty() || rhs.empty()) return {};
    const absl::flat_hash_set<Labels> right = Signatures(rhs, m);
    InstantVector out;
    for (VectorSample& s : lhs) {
      if (right.contains(MatchSignature(s.labels, m))) out.push_back(std::move(s));
    }
    return out;
  }

  static InstantVector Or(const VectorMatching& m, InstantVector lhs, InstantVector rhs) {
    if (lhs.empty()) return rhs;
    if (rhs.empty()) return lhs;
    const absl::flat_hash_set<Labels> left = Signatures(lhs, m);
    for (VectorSample& s : rhs) {
      if (!left.contains(MatchSignature(s.labels, m))) lhs.push_back(std::move(s));
    }
    return lhs;
  }

  static InstantVector Unless(const VectorMatching& m, InstantVector lhs,
                              const InstantVector& rhs) {
    if (lhs.empty() || rhs.empty()) return lhs;
    const absl::flat_hash_set<Labels> right = Signatures(rhs, m);
    InstantVector out;
    for (VectorSample& s : lhs) {
      if (!right.contains(MatchSignature(s.labels, m))) out.push_back(std::move(s));
    }
    return out;
  }

  const SeriesReader& reader_;
  const int64_t at_ms_;
  const int64_t lookback_ms_;
};

}  // namespace

absl::StatusOr<EvalResult> Evaluate(const Expr& expr, const SeriesReader& reader, int64_t at_ms,
                                    const EvalOptions& options) {
  absl::StatusOr<Value> v = Evaluation(reader, at_ms, options).Eval(expr);
  if (!v.ok()) return v.status();
  if (auto* s = std::get_if<Scalar>(&*v)) return *s;
  if (auto* vec = std::get_if<InstantVector>(&*v)) return std::move(*vec);
  return absl::InvalidArgumentError(
      "expression evaluates to a string; a rule needs an instant vector or a scalar");
}

}  // namespace klaxon
