#include "rules/evaluator.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace klaxon {
namespace {

double Arithmetic(BinaryOp op, double lhs, double rhs) {
  switch (op) {
    case BinaryOp::kAdd:
      return lhs + rhs;
    case BinaryOp::kSub:
      return lhs - rhs;
    case BinaryOp::kMul:
      return lhs * rhs;
    case BinaryOp::kDiv:
      return lhs / rhs;
    case BinaryOp::kMod:
      return std::fmod(lhs, rhs);  // Go's math.Mod
    case BinaryOp::kPow:
      return std::pow(lhs, rhs);  // Go's math.Pow
    default:
      return std::nan("");
  }
}

// IEEE comparisons, so anything compared with NaN is false (except !=), as in Go.
bool Compare(BinaryOp op, double lhs, double rhs) {
  switch (op) {
    case BinaryOp::kEq:
      return lhs == rhs;
    case BinaryOp::kNe:
      return lhs != rhs;
    case BinaryOp::kLt:
      return lhs < rhs;
    case BinaryOp::kLe:
      return lhs <= rhs;
    case BinaryOp::kGt:
      return lhs > rhs;
    case BinaryOp::kGe:
      return lhs >= rhs;
    default:
      return false;
  }
}

// Prometheus refuses a result in which dropping __name__ merged two series.
absl::Status CheckDistinctLabelsets(const InstantVector& v) {
  absl::flat_hash_set<Labels> seen;
  seen.reserve(v.size());
  for (const VectorSample& s : v) {
    if (!seen.insert(s.labels).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "vector cannot contain metrics with the same labelset: ", s.labels.ToString()));
    }
  }
  return absl::OkStatus();
}

class Evaluation {
 public:
  Evaluation(const SeriesReader& reader, int64_t at_ms, const EvalOptions& options)
      : reader_(reader), at_ms_(at_ms), lookback_ms_(absl::ToInt64Milliseconds(options.lookback)) {}

  absl::StatusOr<EvalResult> Eval(const Expr& expr) {
    if (const auto* n = std::get_if<NumberLiteral>(&expr.node)) return Scalar{n->value};
    if (const auto* s = std::get_if<VectorSelector>(&expr.node)) return Select(*s);
    return Binary(std::get<BinaryExpr>(expr.node));
  }

 private:
  InstantVector Select(const VectorSelector& selector) const {
    InstantVector out;
    reader_.SelectInstant(selector.matchers, at_ms_, lookback_ms_,
                          [&out](SeriesId id, const Labels& labels, int64_t, double value) {
                            out.push_back(VectorSample{labels, value, id});
                          });
    // By labels, as Prometheus returns selections: results and errors do not
    // depend on the reader's iteration order.
    std::sort(out.begin(), out.end(),
              [](const VectorSample& a, const VectorSample& b) { return a.labels < b.labels; });
    return out;
  }

  absl::StatusOr<EvalResult> Binary(const BinaryExpr& b) {
    if (b.lhs == nullptr || b.rhs == nullptr) {
      return absl::InvalidArgumentError("binary expression without an operand");
    }
    absl::StatusOr<EvalResult> lhs = Eval(*b.lhs);
    if (!lhs.ok()) return lhs;
    absl::StatusOr<EvalResult> rhs = Eval(*b.rhs);
    if (!rhs.ok()) return rhs;
    const auto* ls = std::get_if<Scalar>(&*lhs);
    const auto* rs = std::get_if<Scalar>(&*rhs);
    if (ls != nullptr && rs != nullptr) {
      if (!IsComparison(b.op)) return Scalar{Arithmetic(b.op, ls->value, rs->value)};
      // The parser refuses this too; a tree built by hand may not have been parsed.
      if (!b.return_bool) {
        return absl::InvalidArgumentError("comparisons between scalars must use BOOL modifier");
      }
      return Scalar{Compare(b.op, ls->value, rs->value) ? 1.0 : 0.0};
    }
    if (ls != nullptr) return VectorScalar(b, std::get<InstantVector>(*rhs), ls->value, true);
    if (rs != nullptr) return VectorScalar(b, std::get<InstantVector>(*lhs), rs->value, false);
    return VectorVector(b, std::get<InstantVector>(*lhs), std::get<InstantVector>(*rhs));
  }

  // `scalar_on_left` says the scalar was the left operand; a comparison still
  // keeps the vector's value, as in Prometheus (`1 < up` returns up's values).
  absl::StatusOr<EvalResult> VectorScalar(const BinaryExpr& b, const InstantVector& vector,
                                          double scalar, bool scalar_on_left) {
    InstantVector out;
    out.reserve(vector.size());
    bool dropped_names = false;
    for (const VectorSample& s : vector) {
      const double lhs = scalar_on_left ? scalar : s.value;
      const double rhs = scalar_on_left ? s.value : scalar;
      if (!IsComparison(b.op)) {
        out.push_back(
            VectorSample{s.labels.WithoutMetricName(), Arithmetic(b.op, lhs, rhs), std::nullopt});
        dropped_names = true;
      } else if (b.return_bool) {
        out.push_back(VectorSample{s.labels.WithoutMetricName(),
                                   Compare(b.op, lhs, rhs) ? 1.0 : 0.0, std::nullopt});
        dropped_names = true;
      } else if (Compare(b.op, lhs, rhs)) {
        out.push_back(s);  // a filter: the sample passes through unchanged
      }
    }
    if (dropped_names) {
      if (absl::Status st = CheckDistinctLabelsets(out); !st.ok()) return st;
    }
    return out;
  }

  // One-to-one matching on all labels but __name__, PromQL's default.
  absl::StatusOr<EvalResult> VectorVector(const BinaryExpr& b, const InstantVector& lhs,
                                          const InstantVector& rhs) {
    InstantVector out;
    if (lhs.empty() || rhs.empty()) return out;
    absl::flat_hash_map<Labels, const VectorSample*> right;
    right.reserve(rhs.size());
    for (const VectorSample& r : rhs) {
      Labels signature = r.labels.WithoutMetricName();
      auto [it, inserted] = right.try_emplace(signature, &r);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat(
            "found duplicate series for the match group ", signature.ToString(),
            " on the right hand-side of the operation: [", r.labels.ToString(), ", ",
            it->second->labels.ToString(),
            "]; many-to-many matching not allowed: matching labels must be unique on one side"));
      }
    }
    absl::flat_hash_set<Labels> matched;
    for (const VectorSample& l : lhs) {
      Labels signature = l.labels.WithoutMetricName();
      const auto it = right.find(signature);
      if (it == right.end()) continue;
      const VectorSample& r = *it->second;
      VectorSample result;
      if (!IsComparison(b.op)) {
        result = VectorSample{signature, Arithmetic(b.op, l.value, r.value), std::nullopt};
      } else if (b.return_bool) {
        result = VectorSample{signature, Compare(b.op, l.value, r.value) ? 1.0 : 0.0, std::nullopt};
      } else if (Compare(b.op, l.value, r.value)) {
        result = l;  // a filter: the left sample passes through unchanged
      } else {
        continue;
      }
      // Only samples that survive count, as in Prometheus: two left series that
      // match one right series are an error only if both are in the result.
      if (!matched.insert(std::move(signature)).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("multiple matches for labels ", l.labels.ToString(),
                         ": many-to-one matching must be explicit (group_left/group_right)"));
      }
      out.push_back(std::move(result));
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
  return Evaluation(reader, at_ms, options).Eval(expr);
}

}  // namespace klaxon
