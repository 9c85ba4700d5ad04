#include "rules/rule_test_runner.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "detector/labels.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/expr.h"
#include "rules/promtool_values.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Case = RuleTestFile::Test;

Labels L(absl::string_view series) { return ParseSeries(series).value(); }

RuleTestFile::Series Series(absl::string_view labels, absl::string_view values) {
  return {L(labels), ParsePromtoolValues(values).value()};
}

RuleTestFile::AlertCheck AlertAt(absl::Duration at, absl::string_view rule,
                                 std::vector<RuleTestFile::ExpectedAlert> firing = {}) {
  return {at, std::string(rule), std::move(firing)};
}

RuleTestFile::ExprCheck ExprAt(absl::Duration at, absl::string_view expr,
                               std::vector<RuleTestFile::ExpectedSample> samples = {}) {
  return {at, std::string(expr), ParseExpr(expr).value(), std::move(samples)};
}

AlertingRuleOptions Alerting(absl::string_view name, absl::string_view expr,
                             absl::Duration for_duration = absl::ZeroDuration()) {
  AlertingRuleOptions o;
  o.name = std::string(name);
  o.expr = ParseExpr(expr).value();
  o.for_duration = for_duration;
  return o;
}

RecordingRuleOptions Recording(absl::string_view record, absl::string_view expr) {
  RecordingRuleOptions o;
  o.record = std::string(record);
  o.expr = ParseExpr(expr).value();
  return o;
}

RuleTestFile File(std::vector<Case> tests) {
  RuleTestFile file;
  file.path = "tests.toml";
  file.tests = std::move(tests);
  return file;
}

// The classic: an instance down for 5m fires InstanceDown.
RulesUnderTest InstanceDownRules() {
  RulesUnderTest rules;
  AlertingRuleOptions down = Alerting("InstanceDown", "up == 0", absl::Minutes(5));
  down.labels = {{"severity", "page"}};
  down.summary_template = "{{ $labels.instance }} down";
  down.annotations = {
      {"description", "{{ $labels.instance }} of {{ $labels.job }} is {{ $value }}"}};
  rules.alerting.push_back(down);
  return rules;
}

Case InstanceDownTest() {
  Case t;
  t.name = "instance down";
  t.series = {Series(R"(up{job="prometheus", instance="localhost:9090"})", "0x12"),
              Series(R"(up{job="node", instance="localhost:9100"})", "1+0x6 0 0 0 0 0 0")};
  return t;
}

RuleTestFile::ExpectedAlert PrometheusDown() {
  return {
      L(R"({instance="localhost:9090", job="prometheus", severity="page"})"),
      {{"description", "localhost:9090 of prometheus is 0"}, {"summary", "localhost:9090 down"}}};
}

TEST(RuleTestRunnerTest, PassingTest) {
  Case t = InstanceDownTest();
  t.alerts = {AlertAt(absl::Minutes(4), "InstanceDown"),  // pending does not count
              AlertAt(absl::Minutes(5), "InstanceDown", {PrometheusDown()}),
              // Between steps: the evaluation at 10m is what 10m30s sees.
              AlertAt(absl::Minutes(10) + absl::Seconds(30), "InstanceDown", {PrometheusDown()})};
  t.exprs = {ExprAt(absl::Minutes(1), "up",
                    {{L(R"(up{job="prometheus", instance="localhost:9090"})"), 0},
                     {L(R"(up{job="node", instance="localhost:9100"})"), 1}}),
             ExprAt(absl::Minutes(7), "up == 1")};
  RuleTestResult result = RunRuleTests(File({t}), InstanceDownRules());
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
  EXPECT_EQ(result.tests, 1);
  EXPECT_EQ(result.failed_tests, 0);
  EXPECT_EQ(result.checks, 5);
  EXPECT_EQ(result.failed_checks, 0);
  EXPECT_EQ(FormatRuleTestReport("tests.toml", result), "Unit Testing: tests.toml\n  SUCCESS\n");
}

TEST(RuleTestRunnerTest, FailingAlertCheckPrintsPromtoolsDiff) {
  Case t = InstanceDownTest();
  // At 12m the node instance has been down for 5m too.
  t.alerts = {AlertAt(absl::Minutes(12), "InstanceDown", {PrometheusDown()})};
  RuleTestResult result = RunRuleTests(File({t}), InstanceDownRules());
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.failed_tests, 1);
  EXPECT_EQ(result.failed_checks, 1);
  ASSERT_EQ(result.failures.size(), 1u);
  EXPECT_EQ(result.failures[0],
            R"(    name: instance down,
    alertname: InstanceDown, time: 12m,
        exp:[
            0:
              Labels:{alertname="InstanceDown", instance="localhost:9090", job="prometheus", severity="page"}
              Annotations:{description="localhost:9090 of prometheus is 0", summary="localhost:9090 down"}
            ],
        got:[
            0:
              Labels:{alertname="InstanceDown", instance="localhost:9090", job="prometheus", severity="page"}
              Annotations:{description="localhost:9090 of prometheus is 0", summary="localhost:9090 down"},
            1:
              Labels:{alertname="InstanceDown", instance="localhost:9100", job="node", severity="page"}
              Annotations:{description="localhost:9100 of node is 0", summary="localhost:9100 down"}
            ])");
  EXPECT_EQ(FormatRuleTestReport("tests.toml", result),
            absl::StrCat("Unit Testing: tests.toml\n  FAILED:\n", result.failures[0], "\n"));
}

TEST(RuleTestRunnerTest, FailingExprCheckPrintsExpectedAndGot) {
  Case t;
  t.series = {Series(R"(requests{path="/"})", "0+10x10")};
  t.exprs = {ExprAt(absl::Minutes(3), "requests * 2", {{L(R"({path="/"})"), 61}}),
             ExprAt(absl::Minutes(3), "requests > 1000", {{L(R"(requests{path="/"})"), 30}}),
             ExprAt(absl::Minutes(3), "requests", {})};
  RuleTestResult result = RunRuleTests(File({t}), {});
  EXPECT_EQ(result.failed_checks, 3);
  EXPECT_THAT(result.failures, ElementsAre(R"(    name: test[0],
    expr: "requests * 2", time: 3m,
        exp: {path="/"} 61
        got: {path="/"} 60)",
                                           R"(    name: test[0],
    expr: "requests > 1000", time: 3m,
        exp: requests{path="/"} 30
        got: nil)",
                                           R"(    name: test[0],
    expr: "requests", time: 3m,
        exp: nil
        got: requests{path="/"} 30)"));
}

TEST(RuleTestRunnerTest, ExprValuesMatchWithinRelativeToleranceAndNaNMatchesNaN) {
  Case t;
  t.series = {Series("x", "0.1+0.1x5"), Series("n", "NaN"), Series("i", "-Inf")};
  t.exprs = {ExprAt(absl::Minutes(2), "x", {{L("x"), 0.3}}),  // 0.1+0.1+0.1
             ExprAt(absl::Minutes(2), "x", {{L("x"), 0.3 * (1 + 1e-10)}}),
             ExprAt(absl::Minutes(0), "n", {{L("n"), std::nan("")}}),
             ExprAt(absl::Minutes(0), "i", {{L("i"), -std::numeric_limits<double>::infinity()}}),
             ExprAt(absl::Minutes(2), "x", {{L("x"), 0.3001}})};
  RuleTestResult result = RunRuleTests(File({t}), {});
  EXPECT_EQ(result.checks, 5);
  EXPECT_EQ(result.failed_checks, 1) << absl::StrJoin(result.failures, "\n");
  ASSERT_EQ(result.failures.size(), 1u);
  EXPECT_THAT(result.failures[0], HasSubstr("exp: x 0.3001\n        got: x 0.30000000000000004"));
}

TEST(RuleTestRunnerTest, ScalarResultIsOneLabelLessSample) {
  Case t;
  t.exprs = {ExprAt(absl::Minutes(0), "1 + 2", {{Labels(), 3}})};
  RuleTestResult result = RunRuleTests(File({t}), {});
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, SeriesUseTheTestIntervalAndBlanksAndStaleMarkers) {
  RuleTestFile file = File({});
  // Steps every 10s up to the last check, so every sample up to 150s is loaded.
  file.evaluation_interval = absl::Seconds(10);
  Case t;
  t.interval = absl::Seconds(30);
  t.series = {Series("a", "1 2 _ 4 stale 6")};  // at 0s, 30s, (60s), 90s, 120s stale, 150s
  t.exprs = {ExprAt(absl::Seconds(30), "a", {{L("a"), 2}}),
             ExprAt(absl::Seconds(60), "a", {{L("a"), 2}}),  // looks back to 30s
             ExprAt(absl::Seconds(90), "a", {{L("a"), 4}}),
             ExprAt(absl::Seconds(120), "a", {}),  // stale
             ExprAt(absl::Seconds(149), "a", {}),
             ExprAt(absl::Seconds(150), "a", {{L("a"), 6}})};
  file.tests = {t};
  RuleTestResult result = RunRuleTests(file, {});
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, RecordingRulesRunFirstAndTheirOutputIsStored) {
  RulesUnderTest rules;
  rules.recording.push_back(Recording("job:errors:doubled", "errors * 2"));
  // Reads the recording rule's output of the same step.
  rules.alerting.push_back(Alerting("TooManyErrors", "job:errors:doubled > 10"));
  Case t;
  t.series = {Series(R"(errors{job="api"})", "1 3 6 2")};
  t.alerts = {AlertAt(absl::Minutes(1), "TooManyErrors"),
              AlertAt(absl::Minutes(2), "TooManyErrors", {{L(R"({job="api"})"), {}}})};
  t.exprs = {
      ExprAt(absl::Minutes(1), "job:errors:doubled", {{L(R"(job:errors:doubled{job="api"})"), 6}}),
      // The series is recorded at every step up to the last check.
      ExprAt(absl::Minutes(2), "job:errors:doubled", {{L(R"(job:errors:doubled{job="api"})"), 12}}),
      ExprAt(absl::Minutes(2), R"(ALERTS{alertname="TooManyErrors"})",
             {{L(R"(ALERTS{alertname="TooManyErrors", alertstate="firing", job="api"})"), 1}})};
  RuleTestResult result = RunRuleTests(File({t}), rules);
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, RecordedSeriesThatStopsGetsAStaleMarker) {
  RulesUnderTest rules;
  rules.recording.push_back(Recording("high", "v > 5"));
  Case t;
  t.series = {Series("v", "10 10 1 1 1")};
  // Without the marker written at 2m, the 1m sample would be seen for 5 more minutes.
  t.exprs = {ExprAt(absl::Minutes(1), "high", {{L("high"), 10}}), ExprAt(absl::Minutes(3), "high")};
  // The last check is at 3m, so the rules ran at 2m and 3m.
  RuleTestResult result = RunRuleTests(File({t}), rules);
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, KeepFiringForHoldsAResolvedAlert) {
  RulesUnderTest rules;
  AlertingRuleOptions o = Alerting("Flapping", "v > 0");
  o.keep_firing_for = absl::Minutes(3);
  rules.alerting.push_back(o);
  Case t;
  t.series = {Series("v", "1 1 0 0 0 0 0 1 0")};
  RuleTestFile::ExpectedAlert firing{Labels(), {}};
  t.alerts = {AlertAt(absl::Minutes(1), "Flapping", {firing}),
              AlertAt(absl::Minutes(2), "Flapping", {firing}),  // cleared at 2m, kept
              AlertAt(absl::Minutes(4), "Flapping", {firing}),
              AlertAt(absl::Minutes(5), "Flapping"),  // 3m after 2m: resolved
              AlertAt(absl::Minutes(7), "Flapping", {firing})};
  RuleTestResult result = RunRuleTests(File({t}), rules);
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, AlertsOfEveryRuleWithTheNameAreCompared) {
  RulesUnderTest rules;
  rules.alerting.push_back(Alerting("Down", "a == 0"));
  rules.alerting.push_back(Alerting("Down", "b == 0"));
  Case t;
  t.series = {Series("a", "0"), Series("b", "0")};
  t.alerts = {AlertAt(absl::ZeroDuration(), "Down", {{Labels(), {}}, {Labels(), {}}})};
  RuleTestResult result = RunRuleTests(File({t}), rules);
  // Both alerts have the label set {alertname="Down"}: two entries each side.
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, UnknownAlertRuleFails) {
  Case t;
  t.alerts = {AlertAt(absl::Minutes(1), "Typo")};
  RuleTestResult result = RunRuleTests(File({t}), InstanceDownRules());
  EXPECT_THAT(
      result.failures,
      ElementsAre("    name: test[0],\n    alertname: Typo, time: 1m, err: no alerting rule "
                  "named \"Typo\" in the rule files"));
}

TEST(RuleTestRunnerTest, RuleEvaluationErrorStopsTheTest) {
  RulesUnderTest rules;
  // Two series that differ only in their name make the same alert.
  rules.alerting.push_back(Alerting("Twice", R"({__name__=~"a|b"})"));
  Case t;
  t.series = {Series("a", "1"), Series("b", "1")};
  t.alerts = {AlertAt(absl::Minutes(1), "Twice")};
  t.exprs = {ExprAt(absl::Minutes(1), "1", {{Labels(), 5}})};  // would fail, never runs
  RuleTestResult result = RunRuleTests(File({t, t}), rules);
  EXPECT_EQ(result.tests, 2);  // the next test still runs (and fails the same way)
  EXPECT_EQ(result.failed_tests, 2);
  EXPECT_EQ(result.checks, 0);
  EXPECT_THAT(result.failures,
              ElementsAre("    name: test[0],\n    rule: Twice, time: 0s, err: alerting rule "
                          "\"Twice\": vector contains metrics with the same labelset after "
                          "applying alert labels: {alertname=\"Twice\"}",
                          HasSubstr("name: test[1]")));
}

TEST(RuleTestRunnerTest, EachTestStartsFromScratch) {
  RulesUnderTest rules;
  rules.alerting.push_back(Alerting("Up", "up == 1", absl::Minutes(2)));
  Case first;
  first.series = {Series("up", "1x5")};
  first.alerts = {AlertAt(absl::Minutes(3), "Up", {{Labels(), {}}})};
  Case second;
  second.series = {Series("up", "1x5")};
  second.alerts = {AlertAt(absl::Minutes(1), "Up")};  // pending again, not firing
  RuleTestResult result = RunRuleTests(File({first, second}), rules);
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, EvaluationIntervalSpacesTheSteps) {
  RulesUnderTest rules;
  rules.alerting.push_back(Alerting("High", "v > 5", absl::Seconds(30)));
  RuleTestFile file = File({});
  file.evaluation_interval = absl::Seconds(20);
  Case t;
  t.series = {Series("v", "10x10")};  // interval defaults to the evaluation interval
  // Steps at 0, 20s, 40s: `for` 30s runs out at the 40s step.
  t.alerts = {AlertAt(absl::Seconds(39), "High"),
              AlertAt(absl::Seconds(40), "High", {{Labels(), {}}})};
  file.tests = {t};
  RuleTestResult result = RunRuleTests(file, rules);
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, InputSamplesAreLoadedOnlyUpToTheLastStep) {
  // promtool's lazy loader loads input samples up to each evaluation step, so
  // a check after the last step sees none of the samples past that step.
  RulesUnderTest rules;
  rules.recording.push_back(Recording("x_now", "x"));
  Case t;
  t.interval = absl::Seconds(15);
  t.series = {Series("x", "0+1x40")};  // x = 4 at 1m, 6 at 1m30s
  // The last step is 1m: nothing after it is loaded.
  t.exprs = {ExprAt(absl::Seconds(90), "x", {{L("x"), 4}}),
             // 30s, 45s and 1m (the range includes its start, as in Prometheus 2.42).
             ExprAt(absl::Seconds(90), "count_over_time(x[1m])", {{Labels(), 3}}),
             // The sample at exactly 1m is loaded before the rules run at 1m.
             ExprAt(absl::Seconds(60), "x_now", {{L("x_now"), 4}})};
  RuleTestResult result = RunRuleTests(File({t}), rules);
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");

  // A check at 2m runs a step at 2m: then everything up to 2m is loaded.
  t.exprs.push_back(ExprAt(absl::Minutes(2), "x", {{L("x"), 8}}));
  t.exprs[0].samples = {{L("x"), 6}};
  t.exprs[1].samples = {{Labels(), 5}};  // 30s to 1m30s
  result = RunRuleTests(File({t}), rules);
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, AlertsSeriesKeepsTheRawTemplateOfALabelThatExpandedToEmpty) {
  RulesUnderTest rules;
  AlertingRuleOptions down = Alerting("Down", "up == 0");
  down.labels = {{"team", "{{ $labels.job }}"}, {"severity", "page"}, {"empty", ""}};
  rules.alerting.push_back(down);
  Case t;
  t.series = {Series(R"(up{instance="a"})", "0"), Series(R"(up{instance="b", job="api"})", "0")};
  // The alert itself has no `team` when the template gives "" ...
  t.alerts = {AlertAt(absl::ZeroDuration(), "Down",
                      {{L(R"({instance="a", severity="page"})"), {}},
                       {L(R"({instance="b", job="api", severity="page", team="api"})"), {}}})};
  // ... but its ALERTS series has the label's template text, as Prometheus's.
  t.exprs = {ExprAt(absl::ZeroDuration(), "ALERTS",
                    {{L(R"(ALERTS{alertname="Down", alertstate="firing", instance="a", )"
                        R"(severity="page", team="{{ $labels.job }}"})"),
                      1},
                     {L(R"(ALERTS{alertname="Down", alertstate="firing", instance="b", job="api", )"
                        R"(severity="page", team="api"})"),
                      1}})};
  RuleTestResult result = RunRuleTests(File({t}), rules);
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, AlertsForStateHoldsWhenEachAlertBecameActive) {
  RulesUnderTest rules;
  rules.alerting.push_back(Alerting("Down", "up == 0", absl::Minutes(2)));
  Case t;
  t.series = {Series(R"(up{instance="a"})", "1 0 0 0 0 1 1"),
              Series(R"(up{instance="b"})", "1 1 1 0 0 0 0")};
  const Labels a = L(R"(ALERTS_FOR_STATE{alertname="Down", instance="a"})");
  const Labels b = L(R"(ALERTS_FOR_STATE{alertname="Down", instance="b"})");
  t.exprs = {
      ExprAt(absl::Minutes(0), "ALERTS_FOR_STATE"),
      // Pending and firing alerts alike, valued in Unix seconds.
      ExprAt(absl::Minutes(3), "ALERTS_FOR_STATE", {{a, 60}, {b, 180}}),
      // Selectors without a metric name see it (and ALERTS).
      ExprAt(absl::Minutes(4), R"({instance="b", __name__=~"ALERTS.*"})",
             {{b, 180}, {L(R"(ALERTS{alertname="Down", alertstate="pending", instance="b"})"), 1}}),
      ExprAt(absl::Minutes(4), R"(count({alertname="Down"}))", {{Labels(), 4}}),
      // Resolved at 5m: a stale marker ends the series at once.
      ExprAt(absl::Minutes(5), "ALERTS_FOR_STATE", {{b, 180}}),
      ExprAt(absl::Minutes(6), "ALERTS_FOR_STATE", {{b, 180}})};
  RuleTestResult result = RunRuleTests(File({t}), rules);
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, AlertsForStateIsInWholeSeconds) {
  RulesUnderTest rules;
  rules.alerting.push_back(Alerting("High", "v > 0"));
  RuleTestFile file = File({});
  file.evaluation_interval = absl::Milliseconds(1500);
  Case t;
  t.series = {Series("v", "0 1 1")};  // 1 from 1.5s
  t.exprs = {ExprAt(absl::Seconds(3), "ALERTS_FOR_STATE",
                    {{L(R"(ALERTS_FOR_STATE{alertname="High"})"), 1}})};
  file.tests = {t};
  RuleTestResult result = RunRuleTests(file, rules);
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, ScalarAlertingRuleFiresWithOnlyItsLabels) {
  RulesUnderTest rules;
  AlertingRuleOptions o = Alerting("Always", "time()");
  o.labels = {{"team", "ops"}};
  o.annotations = {{"at", "{{ $value }}"}};
  rules.alerting.push_back(o);
  Case t;
  t.alerts = {AlertAt(absl::Minutes(1), "Always", {{L(R"({team="ops"})"), {{"at", "60"}}}})};
  RuleTestResult result = RunRuleTests(File({t}), rules);
  EXPECT_TRUE(result.ok()) << absl::StrJoin(result.failures, "\n");
}

TEST(RuleTestRunnerTest, RefusesAbsurdNumbersOfSteps) {
  RuleTestFile file = File({});
  file.evaluation_interval = absl::Milliseconds(1);
  Case t;
  t.exprs = {ExprAt(absl::Hours(24), "1", {{Labels(), 1}})};
  file.tests = {t};
  RuleTestResult result = RunRuleTests(file, {});
  EXPECT_THAT(result.failures,
              ElementsAre("    name: test[0],\n    err: 86400001 evaluation steps of 1ms up to 1d "
                          "are more than 1000000; raise evaluation_interval"));
}

}  // namespace
}  // namespace klaxon
