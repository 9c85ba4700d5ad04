#include "rules/alerting_rule.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "detector/labels.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/expr.h"
#include "rules/internal/testing_series_reader.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Kind = AlertTransition::Kind;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

Labels L(absl::string_view series) { return ParseSeries(series).value(); }

// ---------------------------------------------------------------------------
// Templates

TEST(RenderTemplateTest, LabelsAndValue) {
  const Labels labels = L(R"(probe_success{probe="checkout-home", job="probes"})");
  EXPECT_EQ(RenderTemplate("{{ $labels.probe }} is down ({{ $value }})", labels, 0),
            "checkout-home is down (0)");
  EXPECT_EQ(RenderTemplate("{{$labels.job}}/{{  $labels.probe\t}}: {{$value}}", labels, 0.5),
            "probes/checkout-home: 0.5");
  EXPECT_EQ(RenderTemplate("no actions at all }}", labels, 1), "no actions at all }}");
  EXPECT_EQ(RenderTemplate("missing: [{{ $labels.zone }}]", labels, 1), "missing: []");
}

TEST(RenderTemplateTest, ValueIsPrintedLikeGoPercentV) {
  const Labels none;
  auto value = [&](double v) { return RenderTemplate("{{ $value }}", none, v); };
  EXPECT_EQ(value(0), "0");
  EXPECT_EQ(value(1), "1");
  EXPECT_EQ(value(-2.5), "-2.5");
  EXPECT_EQ(value(0.5), "0.5");
  EXPECT_EQ(value(123456), "123456");
  EXPECT_EQ(value(1e6), "1e+06");
  EXPECT_EQ(value(1234567), "1.234567e+06");
  EXPECT_EQ(value(0.0001), "0.0001");
  EXPECT_EQ(value(0.00001), "1e-05");
  EXPECT_EQ(value(1.5e-7), "1.5e-07");
  EXPECT_EQ(value(1e100), "1e+100");
  EXPECT_EQ(value(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(value(std::nan("")), "NaN");
  EXPECT_EQ(value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(value(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(RenderTemplateTest, UnknownActionsStayVerbatim) {
  const Labels labels = L(R"(up{job="api"})");
  EXPECT_EQ(RenderTemplate("{{ .Value }} and {{ $labels.job }}", labels, 1),
            "{{ .Value }} and api");
  EXPECT_EQ(RenderTemplate("{{ humanize $value }}", labels, 1), "{{ humanize $value }}");
  EXPECT_EQ(RenderTemplate("{{ $value }} then {{ $value", labels, 2), "2 then {{ $value");
}

TEST(CheckTemplateTest, AcceptsTheSupportedActions) {
  EXPECT_TRUE(CheckTemplate("").ok());
  EXPECT_TRUE(CheckTemplate("plain text").ok());
  EXPECT_TRUE(CheckTemplate("{{ $labels.probe }} down ({{$value}})").ok());
}

TEST(CheckTemplateTest, NamesTheColumnOfTheFirstBadAction) {
  absl::Status s = CheckTemplate("{{ $value }} on {{ $lables.probe }}");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "column 17: unknown template action \"{{ $lables.probe }}\", expected "
            "{{ $labels.NAME }} or {{ $value }}");
  EXPECT_THAT(CheckTemplate("é {{ .Value }}").message(), HasSubstr("column 3:"));
  EXPECT_EQ(CheckTemplate("down {{ $value").message(),
            "column 6: \"{{\" is never closed, expected \"}}\"");
  EXPECT_THAT(CheckTemplate("first line\n  {{ $labels }}").message(),
              HasSubstr("line 2, column 3: unknown template action \"{{ $labels }}\""));
}

// ---------------------------------------------------------------------------
// The state machine

class AlertingRuleTest : public ::testing::Test {
 protected:
  static AlertingRuleOptions Options(absl::string_view expr, absl::Duration for_duration) {
    AlertingRuleOptions o;
    o.name = "CheckoutDown";
    o.service = "checkout";
    o.severity = "critical";
    o.expr = ParseExpr(expr).value();
    o.for_duration = for_duration;
    o.summary_template = "{{ $labels.probe }} failing ({{ $value }})";
    return o;
  }

  void Set(absl::string_view series, absl::Time at, double value) {
    reader_.Add(L(series), absl::ToUnixMillis(at), value);
  }

  std::vector<AlertTransition> Eval(AlertingRule& rule, absl::Time now) {
    absl::StatusOr<std::vector<AlertTransition>> t = rule.Evaluate(reader_, now);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : std::vector<AlertTransition>{};
  }

  // "kind labels" per transition, for compact assertions.
  static std::vector<std::string> Kinds(const std::vector<AlertTransition>& ts) {
    std::vector<std::string> out;
    for (const AlertTransition& t : ts) {
      const char* kind = t.kind == Kind::kPending  ? "pending"
                         : t.kind == Kind::kFiring ? "firing"
                                                   : "resolved";
      out.push_back(absl::StrCat(kind, " ", t.alert.labels.Get("probe")));
    }
    return out;
  }

  rules_internal::TestingSeriesReader reader_;
};

constexpr absl::string_view kProbeDown = "probe_success == 0";

TEST_F(AlertingRuleTest, PendingThenFiringAfterFor) {
  AlertingRule rule(Options(kProbeDown, absl::Seconds(30)));
  Set(R"(probe_success{probe="checkout"})", kT0, 0);

  std::vector<AlertTransition> t = Eval(rule, kT0);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kPending);
  EXPECT_EQ(t[0].at, kT0);
  const Alert& pending = t[0].alert;
  EXPECT_EQ(pending.labels, L(R"({alertname="CheckoutDown", probe="checkout"})"));
  EXPECT_EQ(pending.state, AlertState::kPending);
  EXPECT_EQ(pending.active_at, kT0);
  EXPECT_EQ(pending.value, 0);
  EXPECT_EQ(pending.summary, "checkout failing (0)");
  EXPECT_EQ(rule.NextDeadline(), kT0 + absl::Seconds(30));

  // Still within `for`: nothing changes state.
  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(20), 0);
  EXPECT_THAT(Eval(rule, kT0 + absl::Seconds(20)), IsEmpty());
  ASSERT_EQ(rule.Alerts().size(), 1u);
  EXPECT_EQ(rule.Alerts()[0].state, AlertState::kPending);
  EXPECT_EQ(rule.Alerts()[0].active_at, kT0);

  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(30), 0);
  t = Eval(rule, kT0 + absl::Seconds(30));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kFiring);
  EXPECT_EQ(t[0].alert.state, AlertState::kFiring);
  EXPECT_EQ(t[0].alert.active_at, kT0);
  EXPECT_EQ(t[0].alert.fired_at, kT0 + absl::Seconds(30));
  EXPECT_EQ(rule.NextDeadline(), std::nullopt);

  // Firing stays firing without repeating the transition.
  EXPECT_THAT(Eval(rule, kT0 + absl::Seconds(40)), IsEmpty());
  ASSERT_EQ(rule.Alerts().size(), 1u);
  EXPECT_EQ(rule.Alerts()[0].state, AlertState::kFiring);
}

TEST_F(AlertingRuleTest, FireDuePromotesWithoutEvaluating) {
  AlertingRule rule(Options(kProbeDown, absl::Seconds(30)));
  Set(R"(probe_success{probe="checkout"})", kT0, 0);
  EXPECT_THAT(Kinds(Eval(rule, kT0)), ElementsAre("pending checkout"));

  EXPECT_THAT(rule.FireDue(kT0 + absl::Seconds(29)), IsEmpty());
  std::vector<AlertTransition> t = rule.FireDue(kT0 + absl::Seconds(30));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kFiring);
  EXPECT_EQ(t[0].at, kT0 + absl::Seconds(30));
  EXPECT_EQ(t[0].alert.fired_at, kT0 + absl::Seconds(30));
  EXPECT_EQ(t[0].alert.summary, "checkout failing (0)");
  EXPECT_EQ(rule.NextDeadline(), std::nullopt);
  // Already firing: neither the timer nor the next evaluation fires it again.
  EXPECT_THAT(rule.FireDue(kT0 + absl::Seconds(31)), IsEmpty());
  EXPECT_THAT(Eval(rule, kT0 + absl::Seconds(35)), IsEmpty());
}

TEST_F(AlertingRuleTest, NextDeadlineIsTheEarliestPendingAlert) {
  AlertingRule rule(Options(kProbeDown, absl::Minutes(1)));
  EXPECT_EQ(rule.NextDeadline(), std::nullopt);
  Set(R"(probe_success{probe="a"})", kT0, 0);
  Eval(rule, kT0);
  Set(R"(probe_success{probe="b"})", kT0 + absl::Seconds(10), 0);
  EXPECT_THAT(Kinds(Eval(rule, kT0 + absl::Seconds(10))), ElementsAre("pending b"));
  EXPECT_EQ(rule.NextDeadline(), kT0 + absl::Minutes(1));

  EXPECT_THAT(Kinds(rule.FireDue(kT0 + absl::Minutes(1))), ElementsAre("firing a"));
  EXPECT_EQ(rule.NextDeadline(), kT0 + absl::Seconds(70));
}

TEST_F(AlertingRuleTest, ResolvesWhenAFiringAlertLeavesTheResult) {
  AlertingRule rule(Options(kProbeDown, absl::ZeroDuration()));
  Set(R"(probe_success{probe="checkout"})", kT0, 0);
  EXPECT_THAT(Kinds(Eval(rule, kT0)), ElementsAre("firing checkout"));

  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(15), 1);
  std::vector<AlertTransition> t = Eval(rule, kT0 + absl::Seconds(15));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kResolved);
  EXPECT_EQ(t[0].at, kT0 + absl::Seconds(15));
  EXPECT_EQ(t[0].alert.state, AlertState::kInactive);
  EXPECT_EQ(t[0].alert.labels, L(R"({alertname="CheckoutDown", probe="checkout"})"));
  EXPECT_EQ(t[0].alert.fired_at, kT0);
  EXPECT_THAT(rule.Alerts(), IsEmpty());
  EXPECT_THAT(Eval(rule, kT0 + absl::Seconds(20)), IsEmpty());

  // A new outage is a new alert with its own active_at.
  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(30), 0);
  t = Eval(rule, kT0 + absl::Seconds(30));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kFiring);
  EXPECT_EQ(t[0].alert.active_at, kT0 + absl::Seconds(30));
}

TEST_F(AlertingRuleTest, SeriesGoingStaleResolvesToo) {
  AlertingRule rule(Options(kProbeDown, absl::ZeroDuration()));
  Set(R"(probe_success{probe="checkout"})", kT0, 0);
  EXPECT_THAT(Kinds(Eval(rule, kT0)), ElementsAre("firing checkout"));
  EXPECT_THAT(Kinds(Eval(rule, kT0 + absl::Minutes(5) + absl::Seconds(1))),
              ElementsAre("resolved checkout"));
}

TEST_F(AlertingRuleTest, ForZeroFiresAtOnceReportingOnlyFiring) {
  AlertingRule rule(Options(kProbeDown, absl::ZeroDuration()));
  Set(R"(probe_success{probe="checkout"})", kT0, 0);
  std::vector<AlertTransition> t = Eval(rule, kT0);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kFiring);
  EXPECT_EQ(t[0].alert.state, AlertState::kFiring);
  EXPECT_EQ(t[0].alert.active_at, kT0);
  EXPECT_EQ(t[0].alert.fired_at, kT0);
  EXPECT_EQ(rule.NextDeadline(), std::nullopt);
}

TEST_F(AlertingRuleTest, PendingAlertIsDroppedSilentlyWhenConditionClears) {
  AlertingRule rule(Options(kProbeDown, absl::Seconds(30)));
  Set(R"(probe_success{probe="checkout"})", kT0, 0);
  EXPECT_THAT(Kinds(Eval(rule, kT0)), ElementsAre("pending checkout"));

  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(10), 1);
  EXPECT_THAT(Eval(rule, kT0 + absl::Seconds(10)), IsEmpty());  // no kResolved
  EXPECT_THAT(rule.Alerts(), IsEmpty());
  EXPECT_EQ(rule.NextDeadline(), std::nullopt);
  EXPECT_THAT(rule.FireDue(kT0 + absl::Seconds(30)), IsEmpty());

  // When it comes back, `for` starts again.
  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(20), 0);
  std::vector<AlertTransition> t = Eval(rule, kT0 + absl::Seconds(20));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kPending);
  EXPECT_EQ(t[0].alert.active_at, kT0 + absl::Seconds(20));
  EXPECT_THAT(rule.FireDue(kT0 + absl::Seconds(49)), IsEmpty());
  EXPECT_THAT(Kinds(rule.FireDue(kT0 + absl::Seconds(50))), ElementsAre("firing checkout"));
}

TEST_F(AlertingRuleTest, TransitionsAreOrderedByLabels) {
  AlertingRule rule(Options(kProbeDown, absl::ZeroDuration()));
  for (absl::string_view probe : {"c", "a", "b"}) {
    Set(absl::StrCat(R"(probe_success{probe=")", probe, "\"}"), kT0, 0);
  }
  EXPECT_THAT(Kinds(Eval(rule, kT0)), ElementsAre("firing a", "firing b", "firing c"));
  for (absl::string_view probe : {"c", "a", "b"}) {
    Set(absl::StrCat(R"(probe_success{probe=")", probe, "\"}"), kT0 + absl::Seconds(10), 1);
  }
  EXPECT_THAT(Kinds(Eval(rule, kT0 + absl::Seconds(10))),
              ElementsAre("resolved a", "resolved b", "resolved c"));
}

TEST_F(AlertingRuleTest, ValueSummaryAndOriginFollowEveryEvaluation) {
  AlertingRuleOptions options = Options("latency_seconds > 1", absl::ZeroDuration());
  options.summary_template = "{{ $labels.probe }} slow: {{ $value }}s";
  AlertingRule rule(std::move(options));
  const SeriesId id = reader_.Add(L(R"(latency_seconds{probe="api"})"), absl::ToUnixMillis(kT0), 2);

  std::vector<AlertTransition> t = Eval(rule, kT0);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.summary, "api slow: 2s");
  EXPECT_EQ(t[0].alert.origin, id);

  Set(R"(latency_seconds{probe="api"})", kT0 + absl::Seconds(10), 3.5);
  EXPECT_THAT(Eval(rule, kT0 + absl::Seconds(10)), IsEmpty());
  ASSERT_EQ(rule.Alerts().size(), 1u);
  EXPECT_EQ(rule.Alerts()[0].value, 3.5);
  EXPECT_EQ(rule.Alerts()[0].summary, "api slow: 3.5s");
}

TEST_F(AlertingRuleTest, ArithmeticResultsHaveNoOrigin) {
  AlertingRule rule(Options("probe_success * 0 + 1 > 0", absl::ZeroDuration()));
  Set(R"(probe_success{probe="api"})", kT0, 1);
  std::vector<AlertTransition> t = Eval(rule, kT0);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.labels, L(R"({alertname="CheckoutDown", probe="api"})"));
  EXPECT_FALSE(t[0].alert.origin.has_value());
}

TEST_F(AlertingRuleTest, ScalarResultIsAnError) {
  AlertingRule rule(Options("1 > bool 0", absl::ZeroDuration()));
  absl::StatusOr<std::vector<AlertTransition>> t = rule.Evaluate(reader_, kT0);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("must return an instant vector"));
  EXPECT_THAT(rule.Alerts(), IsEmpty());
}

TEST_F(AlertingRuleTest, SameAlertLabelsTwiceIsAnErrorAndChangesNothing) {
  AlertingRule rule(
      Options(R"({__name__=~"up|probe_success", probe="api"} == 0)", absl::ZeroDuration()));
  Set(R"(up{probe="api"})", kT0, 0);
  EXPECT_THAT(Kinds(Eval(rule, kT0)), ElementsAre("firing api"));

  // Two series that differ only in __name__ become the same alert.
  Set(R"(probe_success{probe="api"})", kT0 + absl::Seconds(10), 0);
  absl::StatusOr<std::vector<AlertTransition>> t = rule.Evaluate(reader_, kT0 + absl::Seconds(10));
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("same labelset after applying alert labels"));
  ASSERT_EQ(rule.Alerts().size(), 1u);
  EXPECT_EQ(rule.Alerts()[0].state, AlertState::kFiring);
}

}  // namespace
}  // namespace klaxon
