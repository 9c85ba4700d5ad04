#include "rules/alerting_rule.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace klaxon {
namespace {

constexpr absl::string_view kAlertNameLabel = "alertname";

void SortByLabels(std::vector<AlertTransition>& transitions) {
  std::sort(transitions.begin(), transitions.end(),
            [](const AlertTransition& a, const AlertTransition& b) {
              return a.alert.labels < b.alert.labels;
            });
}

}  // namespace

AlertingRule::AlertingRule(AlertingRuleOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::vector<AlertTransition>> AlertingRule::Evaluate(const SeriesReader& reader,
                                                                    absl::Time now,
                                                                    const EvalOptions& options) {
  if (options_.expr == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("alerting rule \"", options_.name, "\" has no expression"));
  }
  absl::StatusOr<EvalResult> result =
      klaxon::Evaluate(*options_.expr, reader, absl::ToUnixMillis(now), options);
  if (!result.ok()) return result.status();
  const auto* vector = std::get_if<InstantVector>(&*result);
  if (vector == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("alerting rule \"", options_.name,
                     "\": expression must return an instant vector, got a scalar"));
  }

  // Build the alert label sets first, so that a bad result changes no state.
  std::vector<std::pair<Labels, const VectorSample*>> active;
  active.reserve(vector->size());
  absl::flat_hash_set<Labels> seen;
  for (const VectorSample& sample : *vector) {
    Labels labels = sample.labels.WithoutMetricName();
    labels.Set(kAlertNameLabel, options_.name);
    if (!seen.insert(labels).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "alerting rule \"", options_.name,
          "\": vector contains metrics with the same labelset after applying alert labels: ",
          labels.ToString()));
    }
    active.emplace_back(std::move(labels), &sample);
  }

  std::vector<AlertTransition> transitions;
  for (auto& [labels, sample] : active) {
    auto [it, inserted] = alerts_.try_emplace(labels);
    Alert& alert = it->second;
    if (inserted) {
      alert.labels = labels;
      alert.state = AlertState::kPending;
      alert.active_at = now;
    }
    alert.value = sample->value;
    alert.origin = sample->origin;
    alert.summary = RenderTemplate(options_.summary_template, alert.labels, alert.value);
    if (alert.state == AlertState::kPending && now - alert.active_at >= options_.for_duration) {
      // With `for` = 0 a new alert fires in the evaluation that saw it, and
      // only the firing is reported.
      alert.state = AlertState::kFiring;
      alert.fired_at = now;
      transitions.push_back({AlertTransition::Kind::kFiring, alert, now});
    } else if (inserted) {
      transitions.push_back({AlertTransition::Kind::kPending, alert, now});
    }
  }

  // Alerts the result no longer holds: a firing one resolves; a pending one is
  // forgotten without a transition, as Prometheus deletes it (nothing was ever
  // announced for it beyond kPending, and nothing fired).
  for (auto it = alerts_.begin(); it != alerts_.end();) {
    if (seen.contains(it->first)) {
      ++it;
      continue;
    }
    if (it->second.state == AlertState::kFiring) {
      Alert resolved = std::move(it->second);
      resolved.state = AlertState::kInactive;
      transitions.push_back({AlertTransition::Kind::kResolved, std::move(resolved), now});
    }
    alerts_.erase(it++);
  }
  SortByLabels(transitions);
  return transitions;
}

std::vector<AlertTransition> AlertingRule::FireDue(absl::Time now) {
  std::vector<AlertTransition> transitions;
  for (auto& [labels, alert] : alerts_) {
    if (alert.state == AlertState::kPending && now - alert.active_at >= options_.for_duration) {
      alert.state = AlertState::kFiring;
      alert.fired_at = now;
      transitions.push_back({AlertTransition::Kind::kFiring, alert, now});
    }
  }
  SortByLabels(transitions);
  return transitions;
}

std::optional<absl::Time> AlertingRule::NextDeadline() const {
  std::optional<absl::Time> next;
  for (const auto& [labels, alert] : alerts_) {
    if (alert.state != AlertState::kPending) continue;
    const absl::Time due = alert.active_at + options_.for_duration;
    if (!next.has_value() || due < *next) next = due;
  }
  return next;
}

std::vector<Alert> AlertingRule::Alerts() const {
  std::vector<Alert> out;
  out.reserve(alerts_.size());
  for (const auto& [labels, alert] : alerts_) out.push_back(alert);
  std::sort(out.begin(), out.end(),
            [](const Alert& a, const Alert& b) { return a.labels < b.labels; });
  return out;
}

}  // namespace klaxon
