// AlertingRule turns the results of one rule's expression into alert states:
// inactive -> pending -> firing -> inactive, as a Prometheus alerting rule, with
// `for` measured from the first evaluation that saw the condition. The engine
// owns each rule and calls it from its one thread (thread-compatible).
#ifndef KLAXON_RULES_ALERTING_RULE_H_
#define KLAXON_RULES_ALERTING_RULE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "detector/labels.h"
#include "detector/sample.h"
#include "detector/series_reader.h"
#include "rules/evaluator.h"
#include "rules/expr.h"

namespace klaxon {

struct AlertingRuleOptions {
  std::string name;  // becomes the `alertname` label
  std::string service;
  std::string severity;
  ExprPtr expr;
  absl::Duration for_duration = absl::ZeroDuration();  // Default: 0, fire at once.
  std::string summary_template;  // "{{ $labels.probe }} is down ({{ $value }})"
};

enum class AlertState { kInactive, kPending, kFiring };

struct Alert {
  Labels labels;  // the result's labels less __name__, plus alertname
  AlertState state = AlertState::kInactive;
  absl::Time active_at;  // first evaluation that saw the condition
  absl::Time fired_at;   // when it became firing; unset before
  double value = 0;      // the latest evaluated value
  std::optional<SeriesId> origin;  // see VectorSample::origin
  std::string summary;   // the template rendered with the latest labels and value
};

struct AlertTransition {
  enum class Kind { kPending, kFiring, kResolved };
  Kind kind;
  Alert alert;  // the alert as it is after the transition
  absl::Time at;
};

class AlertingRule {
 public:
  explicit AlertingRule(AlertingRuleOptions options);
  // Non-copyable: holds the live alert states of this rule.
  AlertingRule(const AlertingRule&) = delete;
  AlertingRule& operator=(const AlertingRule&) = delete;

  // Evaluates the expression at `now` and returns every change of state, in a
  // stable order (by labels). A scalar result is an error.
  absl::StatusOr<std::vector<AlertTransition>> Evaluate(const SeriesReader& reader, absl::Time now,
                                                        const EvalOptions& options = {});
  // Fires pending alerts whose `for` has run out by `now`, without evaluating:
  // the engine's timer calls this so that firing never waits for a sample.
  std::vector<AlertTransition> FireDue(absl::Time now);
  // The earliest instant a pending alert becomes due, if any is pending.
  std::optional<absl::Time> NextDeadline() const;

  const AlertingRuleOptions& options() const { return options_; }
  std::vector<Alert> Alerts() const;  // pending and firing, by labels

 private:
  AlertingRuleOptions options_;
  absl::flat_hash_map<Labels, Alert> alerts_;  // pending and firing only
};

// Renders `{{ $labels.name }}`, `{{ $value }}` and `{{ $labels }}`-free text.
// Unknown labels render as "". Whitespace inside the braces is optional.
std::string RenderTemplate(absl::string_view tmpl, const Labels& labels, double value);
// kInvalidArgument naming the 1-based column of the first bad `{{ ... }}`.
absl::Status CheckTemplate(absl::string_view tmpl);

}  // namespace klaxon

#endif  // KLAXON_RULES_ALERTING_RULE_H_
