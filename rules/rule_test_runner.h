// The rule unit-test runner behind `klaxon test`: promtool's `test rules` for
// klaxon's [[rule]] and [[record]]. It loads input series on a simulated clock
// from Unix time 0, evaluates the rules step by step and compares firing alerts
// and expression results with what the test file expects. Pure computation:
// no files, no wall clock (the TOML test file is read by detector/config.h's
// LoadRuleTestFile). Thread-compatible.
//
// Semantics, as promtool's (cmd/promtool/unittest.go):
// - Input sample i of a series is at t = i * interval from 0.
// - Rules are evaluated at every evaluation_interval step from 0 up to the
//   largest `at` of the test: recording rules first, then alerting rules, each
//   in file order; a recording rule's output is stored at the step's timestamp
//   (before the next rule runs), with stale markers for series it stopped
//   producing, and so are the ALERTS and ALERTS_FOR_STATE series of alerting
//   rules.
// - Input samples are loaded lazily, as promtool's LazyLoader: before the
//   evaluation at step t, those at or before t. So no sample after the last
//   step is ever loaded: an expression check between two steps (or after the
//   last one) does not see the input samples after the last step; with
//   `interval` 15s and evaluation_interval 1m, a check at 8m40s sees input up
//   to 8m only.
// - ALERTS{alertname, alertstate, ...} = 1 and ALERTS_FOR_STATE{alertname,
//   ...} = the Unix second the alert became active, for every pending and
//   firing alert at each step. Their labels are the rule's labels as written
//   overlaid with the alert's: a label whose template expanded to "" (so the
//   alert lacks it) keeps its template text there, as in Prometheus.
// - An alert check at `at` sees the rules' state after the evaluation at the
//   latest step <= `at` (`at` need not be a multiple of the interval). Only
//   firing alerts count; pending ones do not. Expected labels get `alertname`
//   (the checked rule's name) added, as promtool adds it, so tests need not
//   write it; labels and annotations are compared as sets, exactly.
// - An expression check evaluates at exactly `at`, after all steps, so it sees
//   recording-rule output and input samples up to the last step. A scalar is
//   one sample with no labels, and so is an alerting or recording rule's
//   scalar result. Samples are compared as sets: equal label sets, values equal within
//   a relative 1e-9 (promtool 2.42 compares exactly; floats computed in a
//   different order differ in the last bits), NaN equal to NaN.
// - A rule that fails to evaluate fails its test, which stops there.
// Differences: an alert check naming no alerting rule fails (promtool silently
// compares with no alerts, so a typo passes).
#ifndef KLAXON_RULES_RULE_TEST_RUNNER_H_
#define KLAXON_RULES_RULE_TEST_RUNNER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "detector/labels.h"
#include "rules/alerting_rule.h"
#include "rules/expr.h"
#include "rules/recording_rule.h"

namespace klaxon {

// One parsed test file (see README "Rule unit tests" for the TOML form).
struct RuleTestFile {
  std::string path;  // for messages
  struct RuleFile {
    std::string path;      // as written in `rule_files`
    std::string resolved;  // relative paths resolved against the test file's folder
    int line = 0;          // where it is written, for messages
    int column = 0;
  };
  std::vector<RuleFile> rule_files;
  absl::Duration evaluation_interval = absl::Minutes(1);  // Default: 1m, as promtool.

  struct Series {
    Labels labels;
    std::vector<std::optional<double>> values;  // one per interval step; nullopt: no sample
  };
  struct ExpectedAlert {
    Labels labels;                   // as written: `alertname` is added when comparing
    std::vector<Label> annotations;  // by name
  };
  struct AlertCheck {
    absl::Duration at;
    std::string rule;
    std::vector<ExpectedAlert> firing;  // empty: no alert of the rule is firing
  };
  struct ExpectedSample {
    Labels labels;
    double value = 0;
  };
  struct ExprCheck {
    absl::Duration at;
    std::string expr;  // as written, for messages
    ExprPtr parsed_expr;
    std::vector<ExpectedSample> samples;  // empty: the result must be empty
  };
  struct Test {
    std::string name;
    std::optional<absl::Duration> interval;  // Default: evaluation_interval.
    std::vector<Series> series;
    std::vector<AlertCheck> alerts;
    std::vector<ExprCheck> exprs;
  };
  std::vector<Test> tests;
};

// The rules under test, from the rule files.
struct RulesUnderTest {
  std::vector<AlertingRuleOptions> alerting;
  std::vector<RecordingRuleOptions> recording;
};

struct RuleTestResult {
  int tests = 0;
  int failed_tests = 0;
  int checks = 0;  // alert and expression checks run
  int failed_checks = 0;
  // One block of text per failure, promtool-style (indented, with "exp:" and
  // "got:"), in the order found.
  std::vector<std::string> failures;
  bool ok() const { return failed_tests == 0; }
};

RuleTestResult RunRuleTests(const RuleTestFile& file, const RulesUnderTest& rules);

// promtool's report for one file: "Unit Testing: FILE", then "  SUCCESS" or
// "  FAILED:" and the failures, separated by blank lines.
std::string FormatRuleTestReport(const std::string& path, const RuleTestResult& result);

}  // namespace klaxon

#endif  // KLAXON_RULES_RULE_TEST_RUNNER_H_
