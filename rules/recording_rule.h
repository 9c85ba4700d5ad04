// RecordingRule evaluates one [[record]]: its expression's result renamed to
// `record`, with the rule's labels applied, as a Prometheus recording rule.
// Holds no state between evaluations; thread-compatible with its reader.
#ifndef KLAXON_RULES_RECORDING_RULE_H_
#define KLAXON_RULES_RECORDING_RULE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "detector/labels.h"
#include "detector/series_reader.h"
#include "rules/evaluator.h"
#include "rules/expr.h"

namespace klaxon {

struct RecordingRuleOptions {
  std::string record;  // the output metric name (a valid metric name)
  ExprPtr expr;
  // Set on every output sample, overriding the expression's labels; an empty
  // value removes the label. Static text: no templates, as in Prometheus.
  std::vector<Label> labels;
};

class RecordingRule {
 public:
  explicit RecordingRule(RecordingRuleOptions options);

  // The expression's result at `now` with __name__ set to `record` and the
  // labels applied. A scalar result becomes one sample with no labels but
  // those (as Prometheus's rule query function does). Two outputs with the same
  // label set are an error, and nothing is returned.
  absl::StatusOr<InstantVector> Evaluate(const SeriesReader& reader, absl::Time now,
                                         const EvalOptions& options = {}) const;

  const RecordingRuleOptions& options() const { return options_; }

 private:
  RecordingRuleOptions options_;
};

}  // namespace klaxon

#endif  // KLAXON_RULES_RECORDING_RULE_H_
