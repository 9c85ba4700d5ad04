#include "rules/rule_test_runner.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "detector/duration.h"
#include "detector/sample.h"
#include "rules/evaluator.h"
#include "rules/internal/format.h"
#include "rules/sample_store.h"

namespace klaxon {
namespace {

using rules_internal::FormatFloat;

constexpr absl::string_view kAlertsMetric = "ALERTS";
constexpr absl::string_view kAlertsForStateMetric = "ALERTS_FOR_STATE";
constexpr int64_t kMaxSteps = 1'000'000;

// `{a="x", b="y"}`, as promtool prints alert labels and annotations.
std::string Braces(const std::vector<Label>& labels) {
  std::vector<std::string> parts;
  parts.reserve(labels.size());
  for (const Label& l : labels) {
    std::string value;
    for (char c : l.value) {
      if (c == '\\' || c == '"') value += '\\';
      if (c == '\n') {
        value += "\\n";
        continue;
      }
      value += c;
    }
    parts.push_back(absl::StrCat(l.name, "=\"", value, "\""));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

// Prometheus notation, as the test file writes expected samples; `{}` for none.
std::string SeriesString(const Labels& labels) {
  std::string s = labels.ToString();
  return s.empty() ? "{}" : s;
}

std::string Indent(absl::string_view text, absl::string_view indent) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  return absl::StrJoin(lines, absl::StrCat("\n", indent));
}

struct AlertView {
  Labels labels;
  std::vector<Label> annotations;
  friend bool operator==(const AlertView&, const AlertView&) = default;
  friend auto operator<=>(const AlertView&, const AlertView&) = default;
};

// promtool's labelsAndAnnotations.String(), indented as it indents it.
std::string AlertsString(const std::vector<AlertView>& alerts) {
  if (alerts.empty()) return "[]";
  std::string s = "[";
  for (size_t i = 0; i < alerts.size(); ++i) {
    absl::StrAppend(&s, i == 0 ? "\n" : ",\n", i, ":",
                    Indent(absl::StrCat("\nLabels:", Braces(alerts[i].labels.ToVector()),
                                        "\nAnnotations:", Braces(alerts[i].annotations)),
                           "  "));
  }
  return s + "\n]";
}

struct SampleView {
  Labels labels;
  double value;
};

std::string SamplesString(const std::vector<SampleView>& samples) {
  if (samples.empty()) return "nil";
  std::vector<std::string> parts;
  for (const SampleView& s : samples) {
    parts.push_back(absl::StrCat(SeriesString(s.labels), " ", FormatFloat(s.value)));
  }
  return absl::StrJoin(parts, ", ");
}

bool SameValue(double want, double got) {
  if (std::isnan(want) || std::isnan(got)) return std::isnan(want) && std::isnan(got);
  if (want == got) return true;  // infinities and exact matches
  return std::fabs(want - got) <= 1e-9 * std::max(std::fabs(want), std::fabs(got));
}

bool SameSamples(std::vector<SampleView> want, std::vector<SampleView> got) {
  if (want.size() != got.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i].labels != got[i].labels || !SameValue(want[i].value, got[i].value)) return false;
  }
  return true;
}

void SortSamples(std::vector<SampleView>& samples) {
  std::stable_sort(samples.begin(), samples.end(),
                   [](const SampleView& a, const SampleView& b) { return a.labels < b.labels; });
}

// One test's run: its own store, rules and clock.
class TestRun {
 public:
  TestRun(const RuleTestFile& file, const RuleTestFile::Test& test, size_t index,
          const RulesUnderTest& rules, RuleTestResult& result)
      : file_(file), test_(test), rules_(rules), result_(result) {
    name_line_ = absl::StrCat(
        "    name: ", test.name.empty() ? absl::StrCat("test[", index, "]") : test.name, ",\n");
  }

  // False when the test failed.
  bool Run() {
    for (const AlertingRuleOptions& options : rules_.alerting) {
      alerting_.push_back(std::make_unique<AlertingRule>(options));
    }
    recording_previous_.resize(rules_.recording.size());
    alerts_previous_.resize(rules_.alerting.size());

    absl::Duration max_at = absl::ZeroDuration();
    for (const auto& check : test_.alerts) max_at = std::max(max_at, check.at);
    for (const auto& check : test_.exprs) max_at = std::max(max_at, check.at);

    std::vector<const RuleTestFile::AlertCheck*> alert_checks;
    for (const auto& check : test_.alerts) alert_checks.push_back(&check);
    std::stable_sort(alert_checks.begin(), alert_checks.end(),
                     [](const auto* a, const auto* b) { return a->at < b->at; });

    const absl::Duration step = file_.evaluation_interval;
    // A 1ms interval up to "30d" would run for hours; say so instead.
    if (max_at / step > kMaxSteps) {
      ++result_.failed_checks;
      Failure(absl::StrCat("    err: ", absl::StrCat(max_at / step + 1), " evaluation steps of ",
                           DurationToString(step), " up to ", DurationToString(max_at),
                           " are more than ", kMaxSteps, "; raise evaluation_interval"));
      return false;
    }
    size_t next_check = 0;
    for (absl::Duration ts = absl::ZeroDuration(); ts <= max_at; ts += step) {
      // As promtool's lazy loader: the input samples up to this step, no later.
      LoadSamplesTill(absl::ToInt64Milliseconds(ts));
      if (!EvaluateRules(ts)) return false;
      // A check at `at` sees the evaluation at the latest step <= at.
      while (next_check < alert_checks.size() && alert_checks[next_check]->at < ts + step) {
        CheckAlerts(*alert_checks[next_check++]);
      }
    }
    for (const auto& check : test_.exprs) CheckExpr(check);
    return !failed_;
  }

 private:
  void Failure(std::string text) {
    failed_ = true;
    result_.failures.push_back(absl::StrCat(name_line_, text));
  }

  // Adds the input samples at or before `till_ms` not added yet (promtool's
  // LazyLoader.WithSamplesTill: a sample at exactly `till_ms` is loaded).
  void LoadSamplesTill(int64_t till_ms) {
    const int64_t interval =
        absl::ToInt64Milliseconds(test_.interval.value_or(file_.evaluation_interval));
    loaded_.resize(test_.series.size(), 0);
    for (size_t s = 0; s < test_.series.size(); ++s) {
      const RuleTestFile::Series& series = test_.series[s];
      size_t& i = loaded_[s];
      for (; i < series.values.size() && static_cast<int64_t>(i) * interval <= till_ms; ++i) {
        if (series.values[i].has_value()) {
          store_.Add(series.labels, static_cast<int64_t>(i) * interval, *series.values[i]);
        }
      }
    }
  }

  // Stores one rule's output at `at`, and stale markers for the series it
  // produced at the previous step but not at this one, as Prometheus does.
  void Store(const std::vector<std::pair<Labels, double>>& output, int64_t at,
             absl::flat_hash_set<Labels>& previous) {
    absl::flat_hash_set<Labels> current;
    for (const auto& [labels, value] : output) {
      store_.Add(labels, at, value);
      current.insert(labels);
    }
    for (const Labels& labels : previous) {
      if (!current.contains(labels)) store_.Add(labels, at, StaleNaN());
    }
    previous = std::move(current);
  }

  bool EvaluateRules(absl::Duration ts) {
    const absl::Time now = absl::UnixEpoch() + ts;
    const int64_t at = absl::ToInt64Milliseconds(ts);
    auto fail = [&](absl::string_view rule, const absl::Status& status) {
      ++result_.failed_checks;
      Failure(absl::StrCat("    rule: ", rule, ", time: ", DurationToString(ts),
                           ", err: ", status.message()));
      return false;
    };
    for (size_t i = 0; i < rules_.recording.size(); ++i) {
      RecordingRule rule(rules_.recording[i]);
      absl::StatusOr<InstantVector> output = rule.Evaluate(store_, now);
      if (!output.ok()) return fail(rules_.recording[i].record, output.status());
      std::vector<std::pair<Labels, double>> samples;
      for (const VectorSample& s : *output) samples.emplace_back(s.labels, s.value);
      Store(samples, at, recording_previous_[i]);
    }
    for (size_t i = 0; i < alerting_.size(); ++i) {
      absl::StatusOr<std::vector<AlertTransition>> transitions =
          alerting_[i]->Evaluate(store_, now);
      if (!transitions.ok()) return fail(rules_.alerting[i].name, transitions.status());
      // For every pending or firing alert, as Prometheus's AlertingRule.Eval:
      // ALERTS{alertname, alertstate, ...} = 1 and ALERTS_FOR_STATE{alertname,
      // ...} = the Unix second it became active. Their labels are the rule's
      // raw labels overlaid with the alert's (alerting.go sample() and
      // forStateSample()), so a templated label that expanded to "" (and is
      // not on the alert) appears with its template text.
      std::vector<std::pair<Labels, double>> samples;
      for (const Alert& alert : alerting_[i]->Alerts()) {
        Labels labels;
        for (const Label& l : rules_.alerting[i].labels) labels.Set(l.name, l.value);
        for (LabelRef l : alert.labels.items()) labels.Set(l.name, l.value);
        labels.Set("alertname", rules_.alerting[i].name);
        Labels for_state = labels;
        labels.Set(kMetricNameLabel, kAlertsMetric);
        labels.Set("alertstate", alert.state == AlertState::kFiring ? "firing" : "pending");
        samples.emplace_back(std::move(labels), 1);
        for_state.Set(kMetricNameLabel, kAlertsForStateMetric);
        samples.emplace_back(std::move(for_state),
                             static_cast<double>(absl::ToUnixSeconds(alert.active_at)));
      }
      Store(samples, at, alerts_previous_[i]);
    }
    return true;
  }

  void CheckAlerts(const RuleTestFile::AlertCheck& check) {
    ++result_.checks;
    const std::string head =
        absl::StrCat("    alertname: ", check.rule, ", time: ", DurationToString(check.at), ",");
    bool known = false;
    std::vector<AlertView> got;
    for (size_t i = 0; i < alerting_.size(); ++i) {
      if (rules_.alerting[i].name != check.rule) continue;
      known = true;
      for (const Alert& alert : alerting_[i]->Alerts()) {
        if (alert.state == AlertState::kFiring) got.push_back({alert.labels, alert.annotations});
      }
    }
    if (!known) {
      ++result_.failed_checks;
      Failure(absl::StrCat("    alertname: ", check.rule, ", time: ", DurationToString(check.at),
                           ", err: no alerting rule named \"", check.rule, "\" in the rule files"));
      return;
    }
    std::vector<AlertView> want;
    for (const RuleTestFile::ExpectedAlert& expected : check.firing) {
      // promtool adds alertname: tests give only the labels the rule adds.
      Labels labels = expected.labels;
      labels.Set("alertname", check.rule);
      want.push_back({std::move(labels), expected.annotations});
    }
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    if (got == want) return;
    ++result_.failed_checks;
    constexpr absl::string_view kIndent = "            ";
    Failure(absl::StrCat(head, "\n        exp:", Indent(AlertsString(want), kIndent),
                         ",\n        got:", Indent(AlertsString(got), kIndent)));
  }

  void CheckExpr(const RuleTestFile::ExprCheck& check) {
    ++result_.checks;
    const std::string head = absl::StrCat("    expr: ", rules_internal::QuoteString(check.expr),
                                          ", time: ", DurationToString(check.at), ",");
    absl::StatusOr<EvalResult> result =
        Evaluate(*check.parsed_expr, store_, absl::ToInt64Milliseconds(check.at));
    if (!result.ok()) {
      ++result_.failed_checks;
      Failure(absl::StrCat(head, " err: ", result.status().message()));
      return;
    }
    std::vector<SampleView> got;
    for (const VectorSample& s : RuleQueryVector(*std::move(result))) {
      got.push_back({s.labels, s.value});
    }
    std::vector<SampleView> want;
    for (const RuleTestFile::ExpectedSample& s : check.samples) want.push_back({s.labels, s.value});
    SortSamples(got);
    SortSamples(want);
    if (SameSamples(want, got)) return;
    ++result_.failed_checks;
    Failure(absl::StrCat(head, "\n        exp: ", SamplesString(want),
                         "\n        got: ", SamplesString(got)));
  }

  const RuleTestFile& file_;
  const RuleTestFile::Test& test_;
  const RulesUnderTest& rules_;
  RuleTestResult& result_;
  std::string name_line_;
  bool failed_ = false;
  SampleStore store_;
  std::vector<size_t> loaded_;  // per input series, how many of its values are loaded
  std::vector<std::unique_ptr<AlertingRule>> alerting_;
  // The series each rule wrote at the previous step, to mark the ones it stops writing stale.
  std::vector<absl::flat_hash_set<Labels>> recording_previous_;
  std::vector<absl::flat_hash_set<Labels>> alerts_previous_;
};

}  // namespace

RuleTestResult RunRuleTests(const RuleTestFile& file, const RulesUnderTest& rules) {
  RuleTestResult result;
  for (size_t i = 0; i < file.tests.size(); ++i) {
    ++result.tests;
    if (!TestRun(file, file.tests[i], i, rules, result).Run()) ++result.failed_tests;
  }
  return result;
}

std::string FormatRuleTestReport(const std::string& path, const RuleTestResult& result) {
  std::string out = absl::StrCat("Unit Testing: ", path, "\n");
  if (result.ok()) return absl::StrCat(out, "  SUCCESS\n");
  return absl::StrCat(out, "  FAILED:\n", absl::StrJoin(result.failures, "\n\n"), "\n");
}

}  // namespace klaxon
