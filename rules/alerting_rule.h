// AlertingRule turns the results of one rule's expression into alert states:
// inactive -> pending -> firing -> (keep firing) -> inactive, as a Prometheus
// 2.42 alerting rule, with `for` measured from the first evaluation that saw the
// condition. The engine owns each rule and calls it from its one thread
// (thread-compatible).
#ifndef KLAXON_RULES_ALERTING_RULE_H_
#define KLAXON_RULES_ALERTING_RULE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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
  // Default: 0. How long a firing alert whose condition cleared keeps firing;
  // if the condition returns meanwhile it simply stays firing (Prometheus 2.42).
  absl::Duration keep_firing_for = absl::ZeroDuration();
  // The "summary" annotation: "{{ $labels.probe }} is down ({{ $value }})".
  // Empty: no summary annotation.
  std::string summary_template;
  // Extra alert labels, each value a template. They override the expression's
  // labels (an empty result removes the label); `alertname` is always the rule
  // name. Part of the alert's identity, as in Prometheus.
  std::vector<Label> labels;
  // Annotations other than "summary", each value a template.
  std::vector<Label> annotations;
};

enum class AlertState { kInactive, kPending, kFiring };

struct Alert {
  Labels labels;  // the result's labels less __name__, plus the rule's labels and alertname
  AlertState state = AlertState::kInactive;
  absl::Time active_at;  // first evaluation that saw the condition
  absl::Time fired_at;   // when it became firing; unset before
  // Set while a firing alert is kept firing after its condition cleared: the
  // first evaluation that no longer saw the condition.
  std::optional<absl::Time> keep_firing_since;
  double value = 0;                // the latest evaluated value
  std::optional<SeriesId> origin;  // see VectorSample::origin
  std::string summary;             // the summary template rendered with the latest labels and value
  // Every annotation ("summary" included when the rule has one), by name,
  // rendered at the latest evaluation that saw the condition.
  std::vector<Label> annotations;
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
  // stable order (by labels). A scalar result is one sample with no labels (see
  // RuleQueryVector): its alert has just alertname and the rule's labels.
  absl::StatusOr<std::vector<AlertTransition>> Evaluate(const SeriesReader& reader, absl::Time now,
                                                        const EvalOptions& options = {});
  // Fires pending alerts whose `for` has run out by `now`, and resolves alerts
  // whose `keep_firing_for` has run out, without evaluating: the engine's timer
  // calls this so that neither waits for a sample.
  std::vector<AlertTransition> FireDue(absl::Time now);
  // The earliest instant a pending alert becomes due or a kept-firing alert
  // resolves, if any.
  std::optional<absl::Time> NextDeadline() const;

  const AlertingRuleOptions& options() const { return options_; }
  std::vector<Alert> Alerts() const;  // pending and firing, by labels
  // After a restart: a pending alert whose wait began before it (as recorded
  // by the caller) keeps that start, as Prometheus restores ALERTS_FOR_STATE.
  // Only moves active_at earlier; false when no such pending alert exists.
  bool RestoreActiveAt(const Labels& alert_labels, absl::Time active_at);

 private:
  AlertingRuleOptions options_;
  absl::flat_hash_map<Labels, Alert> alerts_;  // pending and firing only
};

// A rule expression's result as Prometheus's rule query function
// (rules.EngineQueryFunc) gives it to alerting and recording rules: an instant
// vector as it is, a scalar as one sample with no labels.
InstantVector RuleQueryVector(EvalResult result);

// Alert templates (labels and annotations), Prometheus's Go-template subset:
//   {{ $labels.NAME }} {{ $value }} {{ $labels }} (also .Labels.NAME, .Value)
//   functions humanize, humanize1024, humanizePercentage, humanizeDuration,
//   humanizeTimestamp, printf, toUpper, toLower, title; pipes `|`;
//   "strings", numbers, ( pipelines ); {{- -}} trimming; {{/* comments */}}.
// Each function behaves as in Prometheus's template package (toUpper, toLower
// and title change ASCII letters only). `labels` are the expression result's
// labels (with __name__ if it has one), as Prometheus's $labels.
// Unknown labels render as "". A template CheckTemplate rejects, or a label
// value that does not parse where a number is needed, renders as
// "<error expanding template: ...>", as in Prometheus.
std::string RenderTemplate(absl::string_view tmpl, const Labels& labels, double value);
// kInvalidArgument naming where the first problem is, "column C: ..." or, past
// the first line, "line L, column C: ..." (1-based; columns count characters):
// syntax, unknown variables and functions, wrong argument counts or types.
absl::Status CheckTemplate(absl::string_view tmpl);

}  // namespace klaxon

#endif  // KLAXON_RULES_ALERTING_RULE_H_
