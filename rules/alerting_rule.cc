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

InstantVector RuleQueryVector(EvalResult result) {
  if (const auto* scalar = std::get_if<Scalar>(&result)) {
    return InstantVector{{Labels(), scalar->value, std::nullopt}};
  }
  return std::get<InstantVector>(std::move(result));
}

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
  const InstantVector vector = RuleQueryVector(*std::move(result));

  // Build the alert label sets first, so that a bad result changes no state.
  struct Active {
    Labels labels;
    const VectorSample* sample;
    std::string summary;
    std::vector<Label> annotations;
  };
  std::vector<Active> active;
  active.reserve(vector.size());
  absl::flat_hash_set<Labels> seen;
  for (const VectorSample& sample : vector) {
    // Templates see the result's own labels, as Prometheus's $labels.
    auto render = [&](absl::string_view tmpl) {
      return RenderTemplate(tmpl, sample.labels, sample.value);
    };
    Labels labels = sample.labels.WithoutMetricName();
    for (const Label& label : options_.labels) labels.Set(label.name, render(label.value));
    labels.Set(kAlertNameLabel, options_.name);
    if (!seen.insert(labels).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "alerting rule \"", options_.name,
          "\": vector contains metrics with the same labelset after applying alert labels: ",
          labels.ToString()));
    }
    Active a{std::move(labels), &sample, render(options_.summary_template), {}};
    if (!options_.summary_template.empty()) a.annotations.push_back({"summary", a.summary});
    for (const Label& annotation : options_.annotations) {
      a.annotations.push_back({annotation.name, render(annotation.value)});
    }
    std::sort(a.annotations.begin(), a.annotations.end());
    active.push_back(std::move(a));
  }

  std::vector<AlertTransition> transitions;
  for (Active& a : active) {
    auto [it, inserted] = alerts_.try_emplace(a.labels);
    Alert& alert = it->second;
    if (inserted) {
      alert.labels = a.labels;
      alert.state = AlertState::kPending;
      alert.active_at = now;
    }
    alert.value = a.sample->value;
    alert.origin = a.sample->origin;
    alert.summary = std::move(a.summary);
    alert.annotations = std::move(a.annotations);
    alert.keep_firing_since.reset();  // the condition is back (or never left)
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

  // Alerts the result no longer holds: a firing one keeps firing for
  // `keep_firing_for` from the first evaluation that missed it, then resolves;
  // a pending one is forgotten without a transition, as Prometheus deletes it
  // (nothing was ever announced for it beyond kPending, and nothing fired).
  for (auto it = alerts_.begin(); it != alerts_.end();) {
    Alert& alert = it->second;
    if (seen.contains(it->first)) {
      ++it;
      continue;
    }
    if (alert.state == AlertState::kFiring) {
      if (!alert.keep_firing_since.has_value()) alert.keep_firing_since = now;
      if (now - *alert.keep_firing_since < options_.keep_firing_for) {
        ++it;
        continue;
      }
      Alert resolved = std::move(alert);
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
  for (auto it = alerts_.begin(); it != alerts_.end();) {
    Alert& alert = it->second;
    if (alert.state == AlertState::kPending && now - alert.active_at >= options_.for_duration) {
      alert.state = AlertState::kFiring;
      alert.fired_at = now;
      transitions.push_back({AlertTransition::Kind::kFiring, alert, now});
    } else if (alert.keep_firing_since.has_value() &&
               now - *alert.keep_firing_since >= options_.keep_firing_for) {
      Alert resolved = std::move(alert);
      resolved.state = AlertState::kInactive;
      transitions.push_back({AlertTransition::Kind::kResolved, std::move(resolved), now});
      alerts_.erase(it++);
      continue;
    }
    ++it;
  }
  SortByLabels(transitions);
  return transitions;
}

std::optional<absl::Time> AlertingRule::NextDeadline() const {
  std::optional<absl::Time> next;
  for (const auto& [labels, alert] : alerts_) {
    absl::Time due;
    if (alert.state == AlertState::kPending) {
      due = alert.active_at + options_.for_duration;
    } else if (alert.keep_firing_since.has_value()) {
      due = *alert.keep_firing_since + options_.keep_firing_for;
    } else {
      continue;
    }
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

bool AlertingRule::RestoreActiveAt(const Labels& alert_labels, absl::Time active_at) {
  auto it = alerts_.find(alert_labels);
  if (it == alerts_.end() || it->second.state != AlertState::kPending) return false;
  if (active_at < it->second.active_at) it->second.active_at = active_at;
  return true;
}

}  // namespace klaxon
