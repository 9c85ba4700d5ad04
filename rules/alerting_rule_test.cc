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

TEST(RenderTemplateTest, FieldFormsAndTheLabelMap) {
  const Labels labels = L(R"(up{job="api", zone="eu"})");
  EXPECT_EQ(RenderTemplate("{{ .Value }} and {{ .Labels.job }}", labels, 1), "1 and api");
  // Go prints a map with its keys sorted; $labels holds __name__ as Prometheus's does.
  EXPECT_EQ(RenderTemplate("{{ $labels }}", labels, 1), "map[__name__:up job:api zone:eu]");
  EXPECT_EQ(RenderTemplate("{{ .Labels }}", Labels(), 1), "map[]");
}

TEST(RenderTemplateTest, ConstantsCommentsAndTrimMarkers) {
  const Labels none;
  EXPECT_EQ(RenderTemplate(R"({{ "a\tb" }}|{{ `raw\n` }}|{{ 3 }}|{{ -2.5 }}|{{ 1e3 }})", none, 0),
            "a\tb|raw\\n|3|-2.5|1000");
  EXPECT_EQ(RenderTemplate("a {{/* not printed */}}b", none, 0), "a b");
  EXPECT_EQ(RenderTemplate("a   {{- $value -}}   b", none, 7), "a7b");
  EXPECT_EQ(RenderTemplate("a\n  {{- /* gone */ -}}\n  b", none, 0), "ab");
  EXPECT_EQ(RenderTemplate(R"({{ "}}" }})", none, 0), "}}");
}

TEST(RenderTemplateTest, Humanize) {
  const Labels none;
  auto h = [&](double v) { return RenderTemplate("{{ $value | humanize }}", none, v); };
  EXPECT_EQ(h(0), "0");
  EXPECT_EQ(h(1), "1");
  EXPECT_EQ(h(999), "999");
  EXPECT_EQ(h(1234), "1.234k");
  EXPECT_EQ(h(1234567), "1.235M");
  EXPECT_EQ(h(-2500), "-2.5k");
  EXPECT_EQ(h(1e28), "1e+04Y");  // past the last prefix: %.4g of 10000
  EXPECT_EQ(h(0.5), "500m");
  EXPECT_EQ(h(0.000012), "12u");
  EXPECT_EQ(h(1.5e-9), "1.5n");
  EXPECT_EQ(h(std::nan("")), "NaN");
  EXPECT_EQ(h(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(h(-std::numeric_limits<double>::infinity()), "-Inf");
  // A function call reads the same as a pipe.
  EXPECT_EQ(RenderTemplate("{{ humanize $value }}", none, 2048), "2.048k");
}

TEST(RenderTemplateTest, Humanize1024) {
  const Labels none;
  auto h = [&](double v) { return RenderTemplate("{{ $value | humanize1024 }}", none, v); };
  EXPECT_EQ(h(0), "0");
  EXPECT_EQ(h(1), "1");
  EXPECT_EQ(h(0.5), "0.5");
  EXPECT_EQ(h(1023), "1023");
  EXPECT_EQ(h(1024), "1ki");
  EXPECT_EQ(h(1536), "1.5ki");
  EXPECT_EQ(h(5 * 1024.0 * 1024 * 1024), "5Gi");
  EXPECT_EQ(h(-2048), "-2ki");
}

TEST(RenderTemplateTest, HumanizeDuration) {
  const Labels none;
  auto h = [&](double v) { return RenderTemplate("{{ $value | humanizeDuration }}", none, v); };
  EXPECT_EQ(h(0), "0s");
  EXPECT_EQ(h(1), "1s");
  EXPECT_EQ(h(1.5), "1.5s");
  EXPECT_EQ(h(59.99), "59.99s");
  EXPECT_EQ(h(60), "1m 0s");
  EXPECT_EQ(h(3661), "1h 1m 1s");
  EXPECT_EQ(h(90061.7), "1d 1h 1m 1s");
  EXPECT_EQ(h(-90), "-1m 30s");
  // Past int64, Go on amd64 converts to math.MinInt64.
  EXPECT_EQ(h(1e19), "-106751991167300d -15h -30m -8s");
  EXPECT_EQ(h(-1e19), "--106751991167300d -15h -30m -8s");
  EXPECT_EQ(h(0.25), "250ms");
  EXPECT_EQ(h(0.0005), "500us");
  EXPECT_EQ(h(std::nan("")), "NaN");
}

TEST(RenderTemplateTest, HumanizePercentageAndTimestamp) {
  const Labels none;
  EXPECT_EQ(RenderTemplate("{{ $value | humanizePercentage }}", none, 0.1234567), "12.35%");
  EXPECT_EQ(RenderTemplate("{{ $value | humanizePercentage }}", none, 1), "100%");
  EXPECT_EQ(RenderTemplate("{{ $value | humanizePercentage }}", none, 0), "0%");
  EXPECT_EQ(RenderTemplate("{{ $value | humanizeTimestamp }}", none, 1435065584.128),
            "2015-06-23 13:19:44.128 +0000 UTC");
  EXPECT_EQ(RenderTemplate("{{ $value | humanizeTimestamp }}", none, 0),
            "1970-01-01 00:00:00 +0000 UTC");
}

TEST(RenderTemplateTest, HumanizeAcceptsNumericLabelValues) {
  const Labels labels = L(R"(x{bytes="2048", bad="many"})");
  EXPECT_EQ(RenderTemplate("{{ $labels.bytes | humanize1024 }}B", labels, 0), "2kiB");
  EXPECT_EQ(RenderTemplate("{{ humanize 1500 }}", labels, 0), "1.5k");
  // As Prometheus, a value that is not a number spoils the whole text.
  EXPECT_EQ(RenderTemplate("x {{ $labels.bad | humanize }} y", labels, 0),
            "<error expanding template: column 20: error calling humanize: "
            "strconv.ParseFloat: parsing \"many\": invalid syntax>");
  EXPECT_EQ(RenderTemplate("{{ $labels.missing | humanize }}", labels, 0),
            "<error expanding template: column 22: error calling humanize: "
            "strconv.ParseFloat: parsing \"\": invalid syntax>");
}

TEST(RenderTemplateTest, Printf) {
  const Labels labels = L(R"(x{job="api"})");
  auto p = [&](absl::string_view t, double v) { return RenderTemplate(t, labels, v); };
  EXPECT_EQ(p(R"({{ printf "%.1f" $value }})", 3.14159), "3.1");
  EXPECT_EQ(p(R"({{ $value | printf "%.2f" }})", 2), "2.00");
  EXPECT_EQ(p(R"({{ printf "%s=%v" $labels.job $value }})", 0.5), "api=0.5");
  EXPECT_EQ(p(R"({{ printf "%5.1f|%-6s|%06.2f|%+.0f" $value $labels.job $value $value }})", 2.5),
            "  2.5|api   |002.50|+2");
  EXPECT_EQ(p(R"({{ printf "%e %g %G" $value $value $value }})", 1234567),
            "1.234567e+06 1.234567e+06 1.234567E+06");
  EXPECT_EQ(p(R"({{ printf "%.3g" $value }})", 1234.5), "1.23e+03");
  EXPECT_EQ(p(R"({{ printf "%d%%" 42 }})", 0), "42%");
  EXPECT_EQ(p(R"({{ printf "%q" $labels.job }})", 0), "\"api\"");
  EXPECT_EQ(p(R"({{ printf "%x" "hi" }})", 0), "6869");
  EXPECT_EQ(p(R"({{ printf "%.2s" "hello" }})", 0), "he");
  EXPECT_EQ(p(R"({{ printf "%f" $value }})", std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(p(R"({{ printf "%5.1f" $value }})", std::nan("")), "  NaN");
  // Go's in-band errors.
  EXPECT_EQ(p(R"({{ printf "%d" $value }})", 1.5), "%!d(float64=1.5)");
  EXPECT_EQ(p(R"({{ printf "%f" $labels.job }})", 0), "%!f(string=api)");
  EXPECT_EQ(p(R"({{ printf "%f %f" $value }})", 1), "1.000000 %!f(MISSING)");
  EXPECT_EQ(p(R"({{ printf "%f" $value 2 }})", 1), "1.000000%!(EXTRA int=2)");
  EXPECT_EQ(p(R"({{ printf "100%" }})", 0), "100%!(NOVERB)");
  // The result of printf feeds a pipe like any string.
  EXPECT_EQ(p(R"({{ printf "%.0f" $value | humanize }})", 1500.4), "1.5k");
  EXPECT_EQ(p(R"({{ printf "%s/%s" (humanize $value) $labels.job }})", 2000), "2k/api");
}

TEST(RenderTemplateTest, StringFunctions) {
  const Labels labels = L(R"(x{job="api-server_main v2", ZONE="Eu-West"})");
  EXPECT_EQ(RenderTemplate("{{ $labels.job | toUpper }}", labels, 0), "API-SERVER_MAIN V2");
  EXPECT_EQ(RenderTemplate("{{ $labels.ZONE | toLower }}", labels, 0), "eu-west");
  // strings.Title: a letter after anything but a letter, digit or '_' is upper-cased.
  EXPECT_EQ(RenderTemplate("{{ $labels.job | title }}", labels, 0), "Api-Server_main V2");
  EXPECT_EQ(RenderTemplate("{{ title \"hello wORLD\" }}", labels, 0), "Hello WORLD");
  EXPECT_EQ(RenderTemplate("{{ $value | humanize | toUpper }}", labels, 1500), "1.5K");
}

TEST(RenderTemplateTest, TemplatesCheckTemplateRejectsRenderAsAnError) {
  EXPECT_EQ(RenderTemplate("{{ humanise $value }}", Labels(), 1),
            "<error expanding template: column 4: function \"humanise\" not defined (known: "
            "humanize, humanize1024, humanizeDuration, humanizePercentage, humanizeTimestamp, "
            "printf, title, toLower, toUpper)>");
  EXPECT_EQ(RenderTemplate("{{ $value }} then {{ $value", Labels(), 2),
            "<error expanding template: column 19: \"{{\" is never closed, expected \"}}\">");
}

TEST(CheckTemplateTest, AcceptsTheSupportedActions) {
  EXPECT_TRUE(CheckTemplate("").ok());
  EXPECT_TRUE(CheckTemplate("plain text }}").ok());
  EXPECT_TRUE(CheckTemplate("{{ $labels.probe }} down ({{$value}})").ok());
  EXPECT_TRUE(CheckTemplate("{{ $value | humanize }} {{ humanize1024 $value }} "
                            "{{ $value | humanizePercentage }} {{ $value | humanizeDuration }} "
                            "{{ printf \"%.1f\" $value }} {{ $labels.x | toUpper | toLower }} "
                            "{{ title $labels.x }} {{ .Labels.x }} {{ .Value }} {{ $labels }} "
                            "{{- /* comment */ -}} {{ printf \"%s\" (humanize $labels.x) }}")
                  .ok());
}

TEST(CheckTemplateTest, NamesTheColumnOfTheFirstProblem) {
  auto message = [](absl::string_view t) { return std::string(CheckTemplate(t).message()); };
  absl::Status s = CheckTemplate("{{ $value }} on {{ $lables.probe }}");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "column 20: undefined variable \"$lables\" (klaxon defines $labels and $value)");
  EXPECT_EQ(message("é {{ .Value }} {{ .Vale }}"),
            "column 19: unsupported field \".Vale\" (klaxon has .Labels and .Value)");
  EXPECT_EQ(message("down {{ $value"), "column 6: \"{{\" is never closed, expected \"}}\"");
  EXPECT_EQ(message("first line\n  {{ $value | humanise }}"),
            "line 2, column 15: function \"humanise\" not defined (known: humanize, humanize1024, "
            "humanizeDuration, humanizePercentage, humanizeTimestamp, printf, title, toLower, "
            "toUpper)");
  EXPECT_EQ(message("{{ }}"), "column 4: missing value for command");
  EXPECT_EQ(message("{{ $value | }}"), "column 13: missing value for command");
  EXPECT_EQ(message("{{ $value $value }}"),
            "column 11: can't give argument to non-function; only functions take arguments");
  EXPECT_EQ(message("{{ $value | $labels.x }}"),
            "column 13: can't give argument to non-function; only functions can follow \"|\"");
  EXPECT_EQ(message("{{ if $value }}x{{ end }}"),
            "column 4: \"if\" is not supported in klaxon templates; use $labels, $value and the "
            "functions humanize, humanize1024, humanizeDuration, humanizePercentage, "
            "humanizeTimestamp, printf, title, toLower, toUpper");
  EXPECT_EQ(message("{{ humanize $value 2 }}"),
            "column 4: wrong number of args for humanize: want 1 got 2");
  EXPECT_EQ(message("{{ $value | humanize 2 }}"),
            "column 13: wrong number of args for humanize: want 1 got 2");
  EXPECT_EQ(message("{{ $value | toUpper }}"),
            "column 13: wrong type for value; expected string; got float64 (toUpper takes a "
            "string)");
  EXPECT_EQ(message("{{ $labels | humanize }}"),
            "column 14: error calling humanize: can't convert map[string]string to float");
  EXPECT_EQ(message("{{ printf $value }}"),
            "column 4: wrong type for value; expected string; got float64 (printf's format)");
  EXPECT_EQ(message("{{ printf }}"),
            "column 4: wrong number of args for printf: want at least 1 got 0");
  EXPECT_EQ(message("{{ printf \"%d\" humanize }}"),
            "column 16: function \"humanize\" is used as an argument; wrap it in parentheses: "
            "(humanize ...)");
  EXPECT_EQ(message("{{ $labels.a.b }}"), "column 13: a label value has no fields (a is a string)");
  EXPECT_EQ(message("{{ \"abc }}"), "column 4: unterminated quoted string");
  EXPECT_EQ(message("{{ (humanize $value }}"), "column 21: unclosed left paren");
  EXPECT_EQ(message("{{ $value) }}"), "column 10: unexpected right paren");
  EXPECT_EQ(message("{{ 1.2.3 }}"), "column 4: bad number syntax: \"1.2.3\"");
  EXPECT_EQ(message("{{ $value := 1 }}"), "column 11: unexpected \":\" in command");
  EXPECT_EQ(message("{{/* open"), "column 1: unclosed comment");
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

TEST_F(AlertingRuleTest, RestoredActiveAtShortensTheWait) {
  AlertingRule rule(Options(kProbeDown, absl::Seconds(30)));
  Labels alert = L(R"({alertname="CheckoutDown", probe="checkout"})");
  EXPECT_FALSE(rule.RestoreActiveAt(alert, kT0 - absl::Seconds(25))) << "no such pending alert";
  Set(R"(probe_success{probe="checkout"})", kT0, 0);
  Eval(rule, kT0);
  // The wait began 25s before this process saw it; a later start is ignored.
  EXPECT_TRUE(rule.RestoreActiveAt(alert, kT0 - absl::Seconds(25)));
  EXPECT_TRUE(rule.RestoreActiveAt(alert, kT0 + absl::Seconds(5)));
  EXPECT_EQ(rule.Alerts()[0].active_at, kT0 - absl::Seconds(25));
  EXPECT_EQ(rule.NextDeadline(), kT0 + absl::Seconds(5));
  EXPECT_THAT(Kinds(rule.FireDue(kT0 + absl::Seconds(5))), ElementsAre("firing checkout"));
}

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

TEST_F(AlertingRuleTest, ScalarResultIsOneAlertWithOnlyTheRuleLabels) {
  // As Prometheus's rule query function: a scalar is one sample with no labels.
  AlertingRuleOptions options = Options("time() > bool 0", absl::Minutes(1));
  options.labels = {{"team", "ops"}, {"probe", "{{ $labels.probe }}"}};
  options.summary_template = "value {{ $value }}, labels {{ $labels }}";
  AlertingRule rule(options);
  std::vector<AlertTransition> t = Eval(rule, kT0);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kPending);
  EXPECT_EQ(t[0].alert.labels, L(R"({alertname="CheckoutDown", team="ops"})"));
  EXPECT_EQ(t[0].alert.summary, "value 1, labels map[]");
  EXPECT_FALSE(t[0].alert.origin.has_value());
  t = Eval(rule, kT0 + absl::Minutes(1));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kFiring);
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

// ---------------------------------------------------------------------------
// keep_firing_for (Prometheus 2.42)

TEST_F(AlertingRuleTest, KeepFiringForHoldsAClearedAlertThenResolves) {
  AlertingRuleOptions options = Options(kProbeDown, absl::ZeroDuration());
  options.keep_firing_for = absl::Minutes(2);
  AlertingRule rule(std::move(options));
  Set(R"(probe_success{probe="checkout"})", kT0, 0);
  EXPECT_THAT(Kinds(Eval(rule, kT0)), ElementsAre("firing checkout"));

  // Cleared: still firing, counting from the first evaluation that missed it.
  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(30), 1);
  EXPECT_THAT(Eval(rule, kT0 + absl::Seconds(30)), IsEmpty());
  ASSERT_EQ(rule.Alerts().size(), 1u);
  EXPECT_EQ(rule.Alerts()[0].state, AlertState::kFiring);
  EXPECT_EQ(rule.Alerts()[0].keep_firing_since, kT0 + absl::Seconds(30));
  EXPECT_EQ(rule.NextDeadline(), kT0 + absl::Seconds(150));
  // A later evaluation does not restart the count.
  EXPECT_THAT(Eval(rule, kT0 + absl::Seconds(60)), IsEmpty());
  EXPECT_EQ(rule.NextDeadline(), kT0 + absl::Seconds(150));

  EXPECT_THAT(Eval(rule, kT0 + absl::Seconds(149)), IsEmpty());
  std::vector<AlertTransition> t = Eval(rule, kT0 + absl::Seconds(150));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Kind::kResolved);
  EXPECT_EQ(t[0].alert.fired_at, kT0);
  EXPECT_THAT(rule.Alerts(), IsEmpty());
  EXPECT_EQ(rule.NextDeadline(), std::nullopt);
}

TEST_F(AlertingRuleTest, KeepFiringForEndsWhenTheConditionReturns) {
  AlertingRuleOptions options = Options(kProbeDown, absl::ZeroDuration());
  options.keep_firing_for = absl::Minutes(2);
  AlertingRule rule(std::move(options));
  Set(R"(probe_success{probe="checkout"})", kT0, 0);
  Eval(rule, kT0);
  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(30), 1);
  Eval(rule, kT0 + absl::Seconds(30));
  // Back within keep_firing_for: stays firing, no new transition, same alert.
  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(90), 0);
  EXPECT_THAT(Eval(rule, kT0 + absl::Seconds(90)), IsEmpty());
  ASSERT_EQ(rule.Alerts().size(), 1u);
  EXPECT_EQ(rule.Alerts()[0].keep_firing_since, std::nullopt);
  EXPECT_EQ(rule.Alerts()[0].active_at, kT0);
  EXPECT_EQ(rule.NextDeadline(), std::nullopt);
  // Clearing again starts a fresh keep_firing_for.
  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(100), 1);
  Eval(rule, kT0 + absl::Seconds(100));
  EXPECT_EQ(rule.NextDeadline(), kT0 + absl::Seconds(220));
}

TEST_F(AlertingRuleTest, FireDueResolvesWhenKeepFiringForRunsOut) {
  AlertingRuleOptions options = Options(kProbeDown, absl::ZeroDuration());
  options.keep_firing_for = absl::Minutes(1);
  AlertingRule rule(std::move(options));
  Set(R"(probe_success{probe="checkout"})", kT0, 0);
  Eval(rule, kT0);
  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(10), 1);
  Eval(rule, kT0 + absl::Seconds(10));
  EXPECT_THAT(rule.FireDue(kT0 + absl::Seconds(69)), IsEmpty());
  EXPECT_THAT(Kinds(rule.FireDue(kT0 + absl::Seconds(70))), ElementsAre("resolved checkout"));
  EXPECT_THAT(rule.Alerts(), IsEmpty());
}

TEST_F(AlertingRuleTest, KeepFiringForDoesNotHoldPendingAlerts) {
  AlertingRuleOptions options = Options(kProbeDown, absl::Minutes(1));
  options.keep_firing_for = absl::Minutes(5);
  AlertingRule rule(std::move(options));
  Set(R"(probe_success{probe="checkout"})", kT0, 0);
  EXPECT_THAT(Kinds(Eval(rule, kT0)), ElementsAre("pending checkout"));
  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(10), 1);
  EXPECT_THAT(Eval(rule, kT0 + absl::Seconds(10)), IsEmpty());
  EXPECT_THAT(rule.Alerts(), IsEmpty());
}

TEST_F(AlertingRuleTest, ZeroKeepFiringForResolvesAtOnce) {
  AlertingRule rule(Options(kProbeDown, absl::ZeroDuration()));
  Set(R"(probe_success{probe="checkout"})", kT0, 0);
  Eval(rule, kT0);
  Set(R"(probe_success{probe="checkout"})", kT0 + absl::Seconds(10), 1);
  EXPECT_THAT(Kinds(Eval(rule, kT0 + absl::Seconds(10))), ElementsAre("resolved checkout"));
}

// ---------------------------------------------------------------------------
// Labels and annotations

TEST_F(AlertingRuleTest, RuleLabelsAreTemplatesThatOverrideTheResultsLabels) {
  AlertingRuleOptions options = Options(kProbeDown, absl::ZeroDuration());
  options.labels = {{"team", "shop"},
                    {"probe", "{{ $labels.probe | toUpper }}"},
                    {"job", ""},  // removes the result's label
                    {"alertname", "Ignored"}};
  AlertingRule rule(std::move(options));
  Set(R"(probe_success{probe="checkout", job="blackbox"})", kT0, 0);
  std::vector<AlertTransition> t = Eval(rule, kT0);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.labels, L(R"({alertname="CheckoutDown", probe="CHECKOUT", team="shop"})"));
  // Templates see the result's own labels, not the rewritten ones.
  EXPECT_EQ(t[0].alert.summary, "checkout failing (0)");
}

TEST_F(AlertingRuleTest, RuleLabelsThatMergeTwoResultsAreAnError) {
  AlertingRuleOptions options = Options(kProbeDown, absl::ZeroDuration());
  options.labels = {{"probe", "all"}};
  AlertingRule rule(std::move(options));
  Set(R"(probe_success{probe="a"})", kT0, 0);
  Set(R"(probe_success{probe="b"})", kT0, 0);
  absl::StatusOr<std::vector<AlertTransition>> t = rule.Evaluate(reader_, kT0);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("same labelset after applying alert labels"));
}

TEST_F(AlertingRuleTest, AnnotationsAreRenderedAtEveryEvaluationAndSorted) {
  AlertingRuleOptions options = Options("latency_seconds > 1", absl::ZeroDuration());
  options.summary_template = "{{ $labels.probe }} slow";
  options.annotations = {
      {"runbook", "https://wiki/{{ $labels.probe }}"},
      {"description", "p99 {{ $value | humanizeDuration }} on {{ $labels.__name__ }}"}};
  AlertingRule rule(std::move(options));
  Set(R"(latency_seconds{probe="api"})", kT0, 2);
  std::vector<AlertTransition> t = Eval(rule, kT0);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_THAT(t[0].alert.annotations,
              ElementsAre(Label{"description", "p99 2s on latency_seconds"},
                          Label{"runbook", "https://wiki/api"}, Label{"summary", "api slow"}));
  Set(R"(latency_seconds{probe="api"})", kT0 + absl::Seconds(10), 90);
  Eval(rule, kT0 + absl::Seconds(10));
  ASSERT_EQ(rule.Alerts().size(), 1u);
  EXPECT_EQ(rule.Alerts()[0].annotations[0],
            (Label{"description", "p99 1m 30s on latency_seconds"}));
}

TEST_F(AlertingRuleTest, NoSummaryTemplateMeansNoSummaryAnnotation) {
  AlertingRuleOptions options = Options(kProbeDown, absl::ZeroDuration());
  options.summary_template = "";
  AlertingRule rule(std::move(options));
  Set(R"(probe_success{probe="checkout"})", kT0, 0);
  std::vector<AlertTransition> t = Eval(rule, kT0);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_THAT(t[0].alert.annotations, IsEmpty());
  EXPECT_EQ(t[0].alert.summary, "");
}

}  // namespace
}  // namespace klaxon
