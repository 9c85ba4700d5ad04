// Evaluates an expression tree at one instant over a SeriesReader, with
// Prometheus's semantics. Stateless; thread-compatible with its reader.
#ifndef KLAXON_RULES_EVALUATOR_H_
#define KLAXON_RULES_EVALUATOR_H_

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "detector/labels.h"
#include "detector/sample.h"
#include "detector/series_reader.h"
#include "rules/expr.h"

namespace klaxon {

struct EvalOptions {
  absl::Duration lookback = absl::Minutes(5);  // Default: 5m, Prometheus's lookback delta.
};

struct VectorSample {
  Labels labels;
  double value;
  // The stored series this sample came from unchanged (a selector passed through
  // filters), so its source notes can be found; unset for computed samples.
  std::optional<SeriesId> origin;
};

using InstantVector = std::vector<VectorSample>;
struct Scalar {
  double value;
};
using EvalResult = std::variant<Scalar, InstantVector>;

absl::StatusOr<EvalResult> Evaluate(const Expr& expr, const SeriesReader& reader, int64_t at_ms,
                                    const EvalOptions& options = {});

}  // namespace klaxon

#endif  // KLAXON_RULES_EVALUATOR_H_
