// Random cases for the differential test against promtool (see
// promtool_diff_test.cc): input series in promtool's expanding notation, a
// PromQL expression from the subset klaxon supports, rules built on it, and the
// times to check them at; rendered as promtool's YAML and klaxon's TOML.
// Deterministic: the same seed gives the same case. Thread-compatible.
#ifndef KLAXON_TESTS_DIFFTEST_GENERATOR_H_
#define KLAXON_TESTS_DIFFTEST_GENERATOR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace klaxon::difftest {

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

struct SeriesSpec {
  std::string series;  // `name{a="x", ...}`
  std::string values;  // promtool notation: "0+10x5 _ stale 3"
};

struct RecordSpec {
  std::string record;
  std::string expr;
  LabelPairs labels;
};

struct AlertSpec {
  std::string name;
  std::string expr;
  int64_t for_ms = 0;
  int64_t keep_firing_for_ms = 0;
  LabelPairs labels;       // values may be templates
  LabelPairs annotations;  // templates
};

struct ExprCheck {
  std::string expr;
  int64_t at_ms = 0;
};

struct AlertCheck {
  std::string rule;
  int64_t at_ms = 0;
};

// One test file of a case (and the rule file it names, possibly empty).
struct TestFileSpec {
  std::string name;  // test group name, also the file stem
  int64_t evaluation_interval_ms = 60000;
  int64_t interval_ms = 60000;
  std::vector<SeriesSpec> series;
  std::vector<RecordSpec> records;  // evaluated before the alerts, in this order
  std::vector<AlertSpec> alerts;
  std::vector<ExprCheck> exprs;   // (expr, at) pairs are unique
  std::vector<AlertCheck> alert_checks;  // (rule, at) pairs are unique
};

struct Case {
  uint64_t seed = 0;
  std::string expr;         // the generated expression under test
  bool meant_invalid = false;  // the generator broke it on purpose
  TestFileSpec exprs;       // the expression checked at several times, no rules
  TestFileSpec rules;       // a recording rule and alerting rule(s) built on it
  // The inputs of every topk/bottomk in `expr`; also checked in `exprs`, at the
  // same times, so the harness can tell whether a tie decided the result.
  std::vector<std::string> topk_inputs;
};

// The case for `seed`; `name` prefixes its files ("c0042" gives c0042_exprs, c0042_rules).
Case GenerateCase(uint64_t seed, const std::string& name);

// The generator's own list of what it leaves out (for the report).
const std::vector<std::string>& NotCovered();

// "1h5m30s", "0s": Prometheus/Go duration notation of whole seconds (or ms).
std::string FormatDuration(int64_t ms);

// ---- Rendering --------------------------------------------------------------

// promtool's rule file (YAML), one group.
std::string PromtoolRulesYaml(const TestFileSpec& spec);
// promtool's test file with every expectation empty, so that promtool's failure
// report says what Prometheus computed.
std::string PromtoolTestYaml(const TestFileSpec& spec, const std::string& rule_file);

// klaxon's rule file (TOML): [[record]] and [[rule]] tables only.
std::string KlaxonRulesToml(const TestFileSpec& spec);

// What to expect in klaxon's test file, per check (absent: expect nothing).
struct ExpectedSample {
  std::string labels;  // series notation as promtool prints it: `{__name__="x", a="b"}`, `{}`
  double value = 0;
};
struct ExpectedAlert {
  LabelPairs labels;  // without alertname
  LabelPairs annotations;
};
struct Expectations {
  std::vector<std::vector<ExpectedSample>> exprs;   // parallel to spec.exprs
  std::vector<std::vector<ExpectedAlert>> alerts;   // parallel to spec.alert_checks
};
std::string KlaxonTestToml(const TestFileSpec& spec, const std::string& rule_file,
                           const Expectations& expected);

// A TOML basic string literal for `s`.
std::string TomlString(const std::string& s);
// A TOML float that reads back as exactly `v` (nan, inf, -inf included).
std::string TomlFloat(double v);

}  // namespace klaxon::difftest

#endif  // KLAXON_TESTS_DIFFTEST_GENERATOR_H_
