#include "detector/config.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "detector/sample.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// Configs are written as raw strings that open with a newline for readability;
// dropping it makes line 1 the first line a reader sees.
absl::StatusOr<Config> Load(absl::string_view toml) {
  if (!toml.empty() && toml.front() == '\n') toml.remove_prefix(1);
  return LoadConfigString(toml, "klaxon.toml");
}

// The error lines of a config that must fail to load.
std::vector<std::string> Errors(absl::string_view toml) {
  absl::StatusOr<Config> config = Load(toml);
  EXPECT_FALSE(config.ok());
  if (config.ok()) return {};
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  return absl::StrSplit(config.status().message(), '\n');
}

// The single error of a config with one mistake; a second line would mean one
// mistake was reported twice.
std::string OneError(absl::string_view toml) {
  std::vector<std::string> errors = Errors(toml);
  EXPECT_THAT(errors, SizeIs(1));
  return errors.empty() ? "" : errors[0];
}

constexpr absl::string_view kFullConfig = R"(
[server]
listen = "0.0.0.0:9477"
data_dir = "/var/lib/klaxon"

[[service]]
name = "checkout"
tickets = ["tickets"]
[service.sla]
time_to_ticket = "5m"

[[service]]
name = "search"

[[probe.http]]
name = "checkout-home"
service = "checkout"
url = "https://shop.example.com/health"
interval = "10s"
timeout = "2s"
expect_status = [200, 204]
expect_body = "ok|healthy"

[[probe.http]]
name = "search-home"
url = "http://search.example.com/"
interval = "3s"

[[rule]]
name = "CheckoutDown"
service = "checkout"
severity = "critical"
expr = 'probe_success{probe="checkout-home"} == 0'
for = "1m30s"
summary = "checkout health probe failing: {{ $labels.probe }}"

[[rule]]
name = "AnythingDown"
expr = "probe_success == 0"

[[sink]]
name = "tickets"
type = "webhook"
url = "https://hooks.example.com/klaxon"
timeout = "3s"
headers = { X-Team = "ops", Authorization = "Bearer x" }

[[sink]]
name = "audit"
type = "webhook"
url = "http://audit.internal:8080/in"
)";

TEST(LoadConfigTest, FullConfigLoadsEveryField) {
  absl::StatusOr<Config> config = Load(kFullConfig);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->path, "klaxon.toml");
  EXPECT_EQ(config->server.listen, "0.0.0.0:9477");
  EXPECT_EQ(config->server.data_dir, "/var/lib/klaxon");

  ASSERT_THAT(config->services, SizeIs(2));
  EXPECT_EQ(config->services[0].name, "checkout");
  EXPECT_THAT(config->services[0].tickets, ElementsAre("tickets"));
  EXPECT_EQ(config->services[0].sla.time_to_ticket, absl::Minutes(5));
  EXPECT_EQ(config->services[1].name, "search");
  EXPECT_THAT(config->services[1].tickets, IsEmpty());
  EXPECT_EQ(config->services[1].sla.time_to_ticket, std::nullopt);

  ASSERT_THAT(config->http_probes, SizeIs(2));
  const HttpProbeOptions& home = config->http_probes[0];
  EXPECT_EQ(home.name, "checkout-home");
  EXPECT_EQ(home.service, "checkout");
  EXPECT_EQ(home.url, "https://shop.example.com/health");
  EXPECT_EQ(home.interval, absl::Seconds(10));
  EXPECT_EQ(home.timeout, absl::Seconds(2));
  EXPECT_THAT(home.expect_status, ElementsAre(StatusRange{200, 200}, StatusRange{204, 204}));
  EXPECT_EQ(home.expect_body, "ok|healthy");
  const HttpProbeOptions& search = config->http_probes[1];
  EXPECT_EQ(search.name, "search-home");
  EXPECT_EQ(search.service, "");
  EXPECT_EQ(search.url, "http://search.example.com/");
  EXPECT_EQ(search.interval, absl::Seconds(3));
  // The 5s default timeout would outlast a 3s interval; it is clamped.
  EXPECT_EQ(search.timeout, absl::Seconds(3));
  EXPECT_THAT(search.expect_status, IsEmpty());
  EXPECT_EQ(search.expect_body, std::nullopt);

  ASSERT_THAT(config->rules, SizeIs(2));
  const RuleConfig& down = config->rules[0];
  EXPECT_EQ(down.name, "CheckoutDown");
  EXPECT_EQ(down.service, "checkout");
  EXPECT_EQ(down.severity, "critical");
  EXPECT_EQ(down.expr, "probe_success{probe=\"checkout-home\"} == 0");
  EXPECT_EQ(down.for_duration, absl::Seconds(90));
  EXPECT_EQ(down.summary, "checkout health probe failing: {{ $labels.probe }}");
  const RuleConfig& any = config->rules[1];
  EXPECT_EQ(any.name, "AnythingDown");
  EXPECT_EQ(any.service, "");
  EXPECT_EQ(any.severity, "warning");
  EXPECT_EQ(any.expr, "probe_success == 0");
  EXPECT_EQ(any.for_duration, absl::ZeroDuration());
  EXPECT_EQ(any.summary, "");

  ASSERT_THAT(config->sinks, SizeIs(2));
  const SinkOptions& tickets = config->sinks[0];
  EXPECT_EQ(tickets.name, "tickets");
  EXPECT_EQ(tickets.type, "webhook");
  EXPECT_EQ(tickets.url, "https://hooks.example.com/klaxon");
  EXPECT_EQ(tickets.timeout, absl::Seconds(3));
  // TOML tables are unordered; headers come back sorted by name.
  EXPECT_THAT(tickets.headers,
              ElementsAre(Pair("Authorization", "Bearer x"), Pair("X-Team", "ops")));
  EXPECT_EQ(config->sinks[1].timeout, absl::Seconds(10));
  EXPECT_THAT(config->sinks[1].headers, IsEmpty());

  ASSERT_NE(config->FindService("search"), nullptr);
  EXPECT_EQ(config->FindService("search")->name, "search");
  EXPECT_EQ(config->FindService("payments"), nullptr);
  EXPECT_EQ(config->DataDir(), "/var/lib/klaxon");  // absolute: left alone
}

TEST(LoadConfigTest, EmptyConfigHasDefaults) {
  absl::StatusOr<Config> config = LoadConfigString("", "/etc/klaxon/klaxon.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.listen, "127.0.0.1:9477");
  EXPECT_EQ(config->server.data_dir, "data");
  EXPECT_EQ(config->DataDir(), "/etc/klaxon/data");
  EXPECT_THAT(config->services, IsEmpty());
  EXPECT_THAT(config->http_probes, IsEmpty());
  EXPECT_THAT(config->rules, IsEmpty());
  EXPECT_THAT(config->sinks, IsEmpty());
  EXPECT_EQ(config->rules_settings.tick, absl::Seconds(1));
  EXPECT_EQ(config->rules_settings.lookback, absl::Minutes(5));
}

TEST(LoadConfigTest, ProbeDefaults) {
  absl::StatusOr<Config> config = Load(R"(
[[probe.http]]
name = "home"
url = "https://example.com"
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->http_probes[0].interval, absl::Seconds(15));
  EXPECT_EQ(config->http_probes[0].timeout, absl::Seconds(5));
}

TEST(LoadConfigTest, DataDirIsResolvedAgainstTheConfigFolder) {
  Config config;
  config.path = "/etc/klaxon/klaxon.toml";
  config.server.data_dir = "state/../db";
  EXPECT_EQ(config.DataDir(), "/etc/klaxon/db");
  config.path = "klaxon.toml";
  config.server.data_dir = "data";
  EXPECT_EQ(config.DataDir(), "data");
  config.path = "conf/klaxon.toml";
  EXPECT_EQ(config.DataDir(), "conf/data");
  config.server.data_dir = "/srv/klaxon";
  EXPECT_EQ(config.DataDir(), "/srv/klaxon");
}

TEST(LoadConfigTest, AcceptsInlineTablesAndIpv6Listen) {
  absl::StatusOr<Config> config = Load(R"(
server = { listen = "[::1]:0" }
service = [{ name = "api.v2", sla = { time_to_ticket = "90s" } }]
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.listen, "[::1]:0");
  EXPECT_EQ(config->services[0].sla.time_to_ticket, absl::Seconds(90));
}

// Each malformed config below names the exact file:line:column and key.

TEST(LoadConfigErrorsTest, TomlSyntaxErrorUsesTomlsPosition) {
  std::string error = OneError(R"(
[server]
listen = = "127.0.0.1:9477"
)");
  EXPECT_THAT(error, StartsWith("klaxon.toml:2:10: "));
  EXPECT_THAT(error, HasSubstr("could not determine value type"));
}

TEST(LoadConfigErrorsTest, UnknownTopLevelKey) {
  EXPECT_EQ(OneError(R"(
[server]
listen = "127.0.0.1:9477"

[[dashboard]]
name = "nginx"
)"),
            "klaxon.toml:4:3: dashboard: unknown key");
  EXPECT_EQ(OneError(R"(
sinks = []
)"),
            "klaxon.toml:1:1: sinks: unknown key (did you mean \"sink\"?)");
}

TEST(LoadConfigErrorsTest, TypoInsideRuleSuggestsTheKey) {
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
fro = "30s"
)"),
            "klaxon.toml:4:1: rule[0].fro: unknown key (did you mean \"for\"?)");
}

TEST(LoadConfigErrorsTest, TypoInsideProbe) {
  EXPECT_EQ(OneError(R"(
[[probe.http]]
name = "home"
url = "https://example.com"
  intreval = "10s"
)"),
            "klaxon.toml:4:3: probe.http[0].intreval: unknown key (did you mean \"interval\"?)");
}

TEST(LoadConfigErrorsTest, AvailabilityMustBeAPercentBelowAHundred) {
  EXPECT_EQ(OneError(R"(
[[service]]
name = "checkout"
[service.sla]
availability = "100%"
)"),
            "klaxon.toml:4:16: service[0].sla.availability: availability \"100%\" must be above 0% "
            "and below 100%");
}

TEST(LoadConfigErrorsTest, ClockStartIsFirstEvidenceOrDetection) {
  EXPECT_EQ(OneError(R"(
[[service]]
name = "checkout"
[service.sla]
clock_start = "ticket"
)"),
            "klaxon.toml:4:15: service[0].sla.clock_start: expected \"first_evidence\" or "
            "\"detection\", got \"ticket\"");
}

TEST(LoadConfigErrorsTest, EscalationStepsComeInOrderAndNotifySomeone) {
  EXPECT_EQ(OneError(R"(
[[service]]
name = "checkout"
[[service.escalation]]
after = "15m"
notify = ["lead@example.com"]
[[service.escalation]]
after = "5m"
notify = ["cto@example.com"]
)"),
            "klaxon.toml:7:9: service[0].escalation[1].after: steps must come in order: 5m is not "
            "after the previous step's 15m");
  EXPECT_EQ(OneError(R"(
[[service]]
name = "checkout"
[[service.escalation]]
after = "15m"
)"),
            "klaxon.toml:3:1: service[0].escalation[0].notify: an escalation step must notify someone");
}

TEST(LoadConfigErrorsTest, TimeZoneMustBeKnown) {
  EXPECT_EQ(OneError(R"(
[[service]]
name = "checkout"
time_zone = "Europe/Atlantis"
)"),
            "klaxon.toml:3:13: service[0].time_zone: unknown time zone \"Europe/Atlantis\" (an IANA "
            "name such as \"Europe/Berlin\")");
}

TEST(LoadConfigErrorsTest, GroupByNamesLabels) {
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
expr = 'up == 0'
group_by = ["cluster", "1zone"]
)"),
            "klaxon.toml:4:24: rule[0].group_by[1]: invalid label name \"1zone\"");
}

TEST(LoadConfigErrorsTest, MaintenanceWindowsNeedAStartADurationAndAKnownService) {
  EXPECT_EQ(OneError(R"(
[[maintenance]]
name = "db"
services = ["db"]
start = "2026-11-29T02:00:00"
duration = "2h"
)"),
            "klaxon.toml:3:13: maintenance[0].services[0]: unknown service \"db\" (no [[service]] has "
            "that name)");
  EXPECT_THAT(OneError(R"(
[[maintenance]]
name = "db"
start = "next sunday"
duration = "2h"
repeat = "weekly"
)"),
            ::testing::StartsWith("klaxon.toml:3:9: maintenance[0].start: "));
  EXPECT_THAT(Errors(R"(
[[maintenance]]
name = "db"
start = "2026-11-29T02:00:00"
repeat = "yearly"
)"),
              ElementsAre("klaxon.toml:1:1: maintenance[0].duration: missing: how long each "
                          "window lasts, e.g. \"2h\"",
                          "klaxon.toml:4:10: maintenance[0].repeat: " +
                              std::string(ParseRepeat("yearly").status().message())));
}

TEST(LoadConfigTest, LifecycleKeysLoad) {
  absl::StatusOr<Config> config = LoadConfigString(R"(
[[service]]
name = "checkout"
time_zone = "Europe/Berlin"
notify = ["@oncall", "oncall@example.com"]
ack_timeout = "30m"
max_notifications = 5
postmortem_severity = "major"
[service.sla]
availability = "99.95%"
availability_severity = "major"
clock_start = "detection"
[[service.escalation]]
after = "15m"
notify = "lead@example.com"

[[rule]]
name = "Down"
service = "checkout"
expr = 'up == 0'
reopen_window = "10m"
flap_threshold = 4
group_by = ["cluster"]

[[maintenance]]
name = "weekly"
services = ["checkout"]
start = "2026-11-29 02:00"
duration = "2h"
repeat = "weekly"
time_zone = "Europe/Berlin"
comment = "db vacuum"
)",
                                                   "klaxon.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  const ServiceConfig& service = config->services[0];
  EXPECT_EQ(service.time_zone, "Europe/Berlin");
  EXPECT_THAT(service.notify, ElementsAre("@oncall", "oncall@example.com"));
  EXPECT_EQ(service.ack_timeout, absl::Minutes(30));
  EXPECT_EQ(service.max_notifications, 5);
  EXPECT_EQ(service.postmortem_severity, "major");
  EXPECT_EQ(*service.sla.availability, 0.9995);
  EXPECT_EQ(service.sla.availability_severity, "major");
  EXPECT_EQ(service.sla.clock_start, ClockStart::kDetection);
  ASSERT_EQ(service.escalation.size(), 1u);
  EXPECT_EQ(service.escalation[0].after, absl::Minutes(15));
  EXPECT_THAT(service.escalation[0].notify, ElementsAre("lead@example.com"));
  const RuleConfig& rule = config->rules[0];
  EXPECT_EQ(rule.reopen_window, absl::Minutes(10));
  EXPECT_EQ(rule.flap_threshold, 4);
  EXPECT_THAT(rule.group_by, ElementsAre("cluster"));
  ASSERT_EQ(config->maintenance.size(), 1u);
  const MaintenanceWindow& window = config->maintenance[0];
  EXPECT_EQ(window.start, absl::CivilSecond(2026, 11, 29, 2, 0, 0));
  EXPECT_EQ(window.duration, absl::Hours(2));
  EXPECT_EQ(window.repeat, MaintenanceWindow::Repeat::kWeekly);
  EXPECT_EQ(window.time_zone_name, "Europe/Berlin");
  EXPECT_EQ(window.comment, "db vacuum");
}

TEST(LoadConfigErrorsTest, BadDurationUnit) {
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "A"
expr = "up == 0"

# a comment
# and another


[[rule]]
name = "B"
expr = "up == 0"
for = "5x"
)"),
            "klaxon.toml:12:7: rule[1].for: invalid duration \"5x\": unknown unit \"x\" "
            "(examples: \"500ms\", \"30s\", \"1h30m\")");
}

TEST(LoadConfigErrorsTest, DurationOfWrongType) {
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "A"
expr = "up == 0"
for = 30
)"),
            "klaxon.toml:4:7: rule[0].for: expected a duration string such as \"30s\", got an "
            "integer");
}

TEST(LoadConfigErrorsTest, ZeroAndNegativeInterval) {
  std::vector<std::string> errors = Errors(R"(
[[probe.http]]
name = "a"
url = "https://example.com"
interval = "0s"

[[probe.http]]
name = "b"
url = "https://example.com"
interval = "-5s"
)");
  EXPECT_THAT(errors,
              ElementsAre("klaxon.toml:4:12: probe.http[0].interval: must be greater than 0",
                          StartsWith("klaxon.toml:9:12: probe.http[1].interval: invalid duration "
                                     "\"-5s\"")));
}

TEST(LoadConfigErrorsTest, DuplicateRuleName) {
  EXPECT_EQ(
      OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"

[[rule]]
name = "Down"
expr = "up == 1"
)"),
      "klaxon.toml:6:8: rule[1].name: duplicate rule name \"Down\" (first defined on line 2)");
}

TEST(LoadConfigErrorsTest, RuleNameMustBeMetricLike) {
  EXPECT_THAT(OneError(R"(
[[rule]]
name = "checkout down"
expr = "up == 0"
)"),
              StartsWith("klaxon.toml:2:8: rule[0].name: invalid rule name \"checkout down\""));
}

TEST(LoadConfigErrorsTest, RuleReferringToUnknownService) {
  EXPECT_EQ(OneError(R"(
[[service]]
name = "checkout"

[[rule]]
name = "Down"
service = "payments"
expr = "up == 0"
)"),
            "klaxon.toml:6:11: rule[0].service: unknown service \"payments\" (no [[service]] has "
            "that name)");
}

TEST(LoadConfigErrorsTest, ServiceTicketsNamingUnknownSink) {
  EXPECT_EQ(OneError(R"(
[[service]]
name = "checkout"
tickets = ["tickets", "jira"]

[[sink]]
name = "tickets"
type = "webhook"
url = "https://hooks.example.com"
)"),
            "klaxon.toml:3:23: service[0].tickets[1]: unknown sink \"jira\" (no [[sink]] has that "
            "name)");
}

TEST(LoadConfigErrorsTest, DependsOnAnUnknownRule) {
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "ShopDown"
expr = 'up == 0'
depends_on = ["UplinkDown"]
)"),
            "klaxon.toml:4:15: rule[0].depends_on[0]: unknown rule \"UplinkDown\" (no [[rule]] has "
            "that name)");
}

TEST(LoadConfigErrorsTest, DependencyCycle) {
  EXPECT_THAT(Errors(R"(
[[rule]]
name = "A"
expr = 'up == 0'
depends_on = ["B"]

[[rule]]
name = "B"
expr = 'up == 0'
depends_on = ["A"]
)"),
              ElementsAre("klaxon.toml:4:14: rule[0].depends_on: rule \"A\" depends on itself "
                          "through \"B\"",
                          "klaxon.toml:9:14: rule[1].depends_on: rule \"B\" depends on itself "
                          "through \"A\""));
}

TEST(LoadConfigErrorsTest, SinkWithUnknownType) {
  EXPECT_EQ(OneError(R"(
[[sink]]
name = "tickets"
type = "servicenow"
url = "https://servicenow.example.com"
)"),
            "klaxon.toml:3:8: sink[0].type: unknown sink type \"servicenow\" (known: "
            "alertmanager, chat, email, github, jira, pagerduty, redmine, webhook)");
}

TEST(LoadConfigErrorsTest, BadUrlScheme) {
  EXPECT_EQ(OneError(R"(
[[probe.http]]
name = "home"
url = "ftp://example.com/health"
)"),
            "klaxon.toml:3:7: probe.http[0].url: invalid URL \"ftp://example.com/health\": "
            "expected http:// or https://");
}

TEST(LoadConfigErrorsTest, ExprSyntaxErrorIsMappedIntoTheFile) {
  // 'up == == 1': the second "==" is the expression's column 7; the opening
  // quote is at file column 8, so the file column is 15.
  EXPECT_THAT(OneError(R"(
[[rule]]
name = "Down"
expr = 'up == == 1'
)"),
              StartsWith("klaxon.toml:3:15: rule[0].expr: 1:7: "));
}

TEST(LoadConfigErrorsTest, ExprErrorColumnCountsEscapesInTheFile) {
  // Decoded, the second "==" is at column 16; in the file the two \" escapes
  // add a column each: 8 + 16 + 2.
  EXPECT_THAT(OneError(R"(
[[rule]]
name = "Down"
expr = "up{job=\"a\"} == == 1"
)"),
              StartsWith("klaxon.toml:3:26: rule[0].expr: 1:16: "));
}

TEST(LoadConfigErrorsTest, ExprErrorInMultiLineString) {
  // The newline after """ is not part of the value: expression line 2 is file line 5.
  EXPECT_THAT(OneError(R"(
[[rule]]
name = "Down"
expr = """
up
  == == 1
"""
)"),
              StartsWith("klaxon.toml:5:6: rule[0].expr: 2:6: "));
}

TEST(LoadConfigErrorsTest, ExprEndOfInputPointsAtTheClosingQuote) {
  EXPECT_THAT(OneError(R"(
[[rule]]
name = "Down"
expr = 'up =='
)"),
              StartsWith("klaxon.toml:3:14: rule[0].expr: 1:6: "));
}

TEST(LoadConfigErrorsTest, BadRegexInExprMatcher) {
  std::string error = OneError(R"(
[[rule]]
name = "Down"
expr = 'up{job=~"("}'
)");
  // The parser places a regex error at the value's opening quote: expression column 9.
  EXPECT_THAT(error, StartsWith("klaxon.toml:3:17: rule[0].expr: 1:9: "));
  EXPECT_THAT(error, HasSubstr("missing )"));
}

TEST(LoadConfigErrorsTest, BadExpectBodyRegex) {
  EXPECT_EQ(OneError(R"(
[[probe.http]]
name = "home"
url = "https://example.com"
expect_body = "(ok"
)"),
            "klaxon.toml:4:15: probe.http[0].expect_body: invalid regular expression \"(ok\": "
            "missing ): (ok");
}

TEST(LoadConfigErrorsTest, BadSeverity) {
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
severity = "fatal"
expr = "up == 0"
)"),
            "klaxon.toml:3:12: rule[0].severity: unknown severity \"fatal\" (one of critical, "
            "major, minor, warning, info)");
}

TEST(LoadConfigErrorsTest, BadTemplateInSummary) {
  EXPECT_THAT(OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
summary = "down: {{ $labels.probe "
)"),
              // The template's column 7 (the "{{") after the quote at column 11.
              StartsWith("klaxon.toml:4:18: rule[0].summary: column 7: "));
}

TEST(LoadConfigErrorsTest, TimeoutGreaterThanInterval) {
  EXPECT_EQ(OneError(R"(
[[probe.http]]
name = "home"
url = "https://example.com"
interval = "10s"
timeout = "20s"
)"),
            "klaxon.toml:5:11: probe.http[0].timeout: timeout 20s is longer than the interval 10s");
  // Against the default interval too.
  EXPECT_EQ(OneError(R"(
[[probe.http]]
name = "home"
url = "https://example.com"
timeout = "1m"
)"),
            "klaxon.toml:4:11: probe.http[0].timeout: timeout 1m is longer than the interval 15s");
}

TEST(LoadConfigErrorsTest, MissingRequiredKeyIsReportedAtItsTable) {
  EXPECT_EQ(OneError(R"(
[server]
listen = "127.0.0.1:9477"

[[rule]]
name = "Down"
)"),
            "klaxon.toml:4:1: rule[0].expr: missing required key");
  EXPECT_THAT(Errors(R"(
[[sink]]
type = "webhook"
)"),
              ElementsAre("klaxon.toml:1:1: sink[0].name: missing required key",
                          "klaxon.toml:1:1: sink[0].url: missing required key"));
}

TEST(LoadConfigErrorsTest, MultipleErrorsAreReportedTogetherInFileOrder) {
  EXPECT_THAT(Errors(R"(
[server]
listen = "localhost"

[[probe.http]]
name = "home"
url = "https://example.com"
expect_status = [200, 600, true]

[[rule]]
name = "Down"
expr = "up == 0"
severity = "fatal"
for = "5x"
)"),
              ElementsAre(StartsWith("klaxon.toml:2:10: server.listen: invalid listen address "
                                     "\"localhost\""),
                          "klaxon.toml:7:23: probe.http[0].expect_status[1]: HTTP status 600 is "
                          "outside 100..599",
                          "klaxon.toml:7:28: probe.http[0].expect_status[2]: expected an HTTP "
                          "status code such as 200, got a boolean",
                          StartsWith("klaxon.toml:12:12: rule[0].severity: unknown severity"),
                          StartsWith("klaxon.toml:13:7: rule[0].for: invalid duration \"5x\"")));
}

TEST(LoadConfigErrorsTest, WrongTypesAndShapes) {
  EXPECT_THAT(Errors(R"(
[service]
name = "checkout"

[[rule]]
name = 7
expr = "up == 0"

[[sink]]
name = "tickets"
type = "webhook"
url = "https://example.com"
headers = { "X Bad" = "1", X-Count = 2 }
)"),
              ElementsAre("klaxon.toml:1:1: service: expected an array of tables such as "
                          "[[service]], got a table",
                          "klaxon.toml:5:8: rule[0].name: expected a string, got an integer",
                          "klaxon.toml:12:13: sink[0].headers.\"X Bad\": invalid HTTP header name",
                          "klaxon.toml:12:38: sink[0].headers.X-Count: expected a string, got an "
                          "integer"));
}

TEST(LoadConfigErrorsTest, InvalidServiceNameAndDuplicates) {
  EXPECT_THAT(
      Errors(R"(
[[service]]
name = "check out"

[[probe.http]]
name = "home"
url = "https://example.com"

[[probe.http]]
name = "home"
url = "https://"
)"),
      ElementsAre(StartsWith("klaxon.toml:2:8: service[0].name: invalid service name"),
                  "klaxon.toml:9:8: probe.http[1].name: duplicate probe name \"home\" "
                  "(first defined on line 5)",
                  "klaxon.toml:10:7: probe.http[1].url: invalid URL \"https://\": no host"));
}

TEST(LoadConfigFileTest, LoadsAFileAndResolvesDataDirBesideIt) {
  std::string dir = ::testing::TempDir();
  std::string path = dir + "/config_test_klaxon.toml";
  {
    std::ofstream out(path);
    out << "[server]\ndata_dir = \"state\"\n";
  }
  absl::StatusOr<Config> config = LoadConfigFile(path);
  std::remove(path.c_str());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->path, path);
  EXPECT_EQ(config->DataDir(), (std::filesystem::path(dir) / "state").lexically_normal().string());
}

TEST(LoadConfigFileTest, ErrorsNameTheFilePath) {
  std::string path = ::testing::TempDir() + "/config_test_bad.toml";
  {
    std::ofstream out(path);
    out << "[server]\nlisten = 9477\n";
  }
  absl::StatusOr<Config> config = LoadConfigFile(path);
  std::remove(path.c_str());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            path + ":2:10: server.listen: expected a string, got an integer");
}

TEST(LoadConfigFileTest, MissingFileIsNotFound) {
  std::string path = ::testing::TempDir() + "/no/such/klaxon.toml";
  absl::StatusOr<Config> config = LoadConfigFile(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr(path));
}

// ---------------------------------------------------------------------------
// Rule authoring: keep_firing_for, labels, annotations; [[record]]

TEST(LoadConfigTest, RuleLabelsAnnotationsAndKeepFiringFor) {
  absl::StatusOr<Config> config = Load(R"(
[[rule]]
name = "HighLatency"
expr = "latency_seconds > 1"
for = "2m"
keep_firing_for = "10m"
labels = { team = "shop", tier = "{{ $labels.tier | toUpper }}" }
[rule.annotations]
summary = "{{ $labels.instance }} slow"
description = "p99 is {{ $value | humanizeDuration }}"
runbook = "https://wiki/latency"
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->rules, SizeIs(1));
  const RuleConfig& rule = config->rules[0];
  EXPECT_EQ(rule.keep_firing_for, absl::Minutes(10));
  EXPECT_THAT(rule.labels,
              ElementsAre(Label{"team", "shop"}, Label{"tier", "{{ $labels.tier | toUpper }}"}));
  // annotations.summary is the summary.
  EXPECT_EQ(rule.summary, "{{ $labels.instance }} slow");
  EXPECT_THAT(rule.annotations,
              ElementsAre(Label{"description", "p99 is {{ $value | humanizeDuration }}"},
                          Label{"runbook", "https://wiki/latency"}));

  AlertingRuleOptions options = AlertingOptionsFor(rule);
  EXPECT_EQ(options.name, "HighLatency");
  EXPECT_EQ(options.for_duration, absl::Minutes(2));
  EXPECT_EQ(options.keep_firing_for, absl::Minutes(10));
  EXPECT_EQ(options.summary_template, "{{ $labels.instance }} slow");
  EXPECT_EQ(options.labels, rule.labels);
  EXPECT_EQ(options.annotations, rule.annotations);
  EXPECT_NE(options.expr, nullptr);
}

TEST(LoadConfigTest, RuleDefaultsForTheNewKeys) {
  absl::StatusOr<Config> config = Load(R"(
[[rule]]
name = "Down"
expr = "up == 0"
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->rules[0].keep_firing_for, absl::ZeroDuration());
  EXPECT_THAT(config->rules[0].labels, IsEmpty());
  EXPECT_THAT(config->rules[0].annotations, IsEmpty());
  EXPECT_THAT(config->records, IsEmpty());
}

TEST(LoadConfigTest, RecordingRules) {
  absl::StatusOr<Config> config = Load(R"(
[[record]]
record = "job:requests:rate1m"
expr = "requests * 2"
labels = { source = "klaxon", "{{ not a template }}" = "x" }

[[record]]
record = "job:requests:rate1m"
expr = "requests"
)");
  // Label names must be label names, even in quotes.
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            "klaxon.toml:4:31: record[0].labels.\"{{ not a template }}\": invalid label name "
            "\"{{ not a template }}\": must match [a-zA-Z_][a-zA-Z0-9_]* and not be __name__");

  config = Load(R"(
[[record]]
record = "job:requests:rate1m"
expr = "requests * 2"
labels = { source = "{{ $value }}" }  # static text: not a template in recording rules

[[record]]
record = "job:requests:rate1m"  # the same name twice is fine, as in Prometheus
expr = "requests"
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->records, SizeIs(2));
  const RecordConfig& first = config->records[0];
  EXPECT_EQ(first.record, "job:requests:rate1m");
  EXPECT_EQ(first.expr, "requests * 2");
  ASSERT_NE(first.parsed_expr, nullptr);
  EXPECT_THAT(first.labels, ElementsAre(Label{"source", "{{ $value }}"}));
  RecordingRuleOptions options = RecordingOptionsFor(first);
  EXPECT_EQ(options.record, "job:requests:rate1m");
  EXPECT_EQ(options.expr, first.parsed_expr);
  EXPECT_EQ(options.labels, first.labels);
  EXPECT_THAT(config->records[1].labels, IsEmpty());
}

TEST(LoadConfigErrorsTest, RuleAuthoringKeys) {
  EXPECT_EQ(
      OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
keep_firing_fo = "5m"
)"),
      "klaxon.toml:4:1: rule[0].keep_firing_fo: unknown key (did you mean \"keep_firing_for\"?)");
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
keep_firing_for = "-5m"
)"),
            "klaxon.toml:4:19: rule[0].keep_firing_for: invalid duration \"-5m\": expected a "
            "number at position 1 (examples: \"500ms\", \"30s\", \"1h30m\")");
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
labels = { "team-name" = "shop" }
)"),
            "klaxon.toml:4:12: rule[0].labels.team-name: invalid label name \"team-name\": must "
            "match [a-zA-Z_][a-zA-Z0-9_]* and not be __name__");
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
labels = { __name__ = "x" }
)"),
            "klaxon.toml:4:12: rule[0].labels.__name__: invalid label name \"__name__\": must "
            "match [a-zA-Z_][a-zA-Z0-9_]* and not be __name__");
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
labels = { level = 3 }
)"),
            "klaxon.toml:4:20: rule[0].labels.level: expected a string, got an integer");
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
labels = "team=shop"
)"),
            "klaxon.toml:4:10: rule[0].labels: expected a table, got a string");
}

TEST(LoadConfigErrorsTest, TemplateErrorsInLabelsAndAnnotationsPointIntoTheString) {
  // Column 13 of the template ("humanise") after the quote at column 16.
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
labels = { v = "{{ $value | humanise }}" }
)"),
            "klaxon.toml:4:29: rule[0].labels.v: column 13: function \"humanise\" not defined "
            "(known: humanize, humanize1024, humanizeDuration, humanizePercentage, "
            "humanizeTimestamp, printf, title, toLower, toUpper)");
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
[rule.annotations]
description = """
Instance down.
Value: {{ $value | toUpper }}"""
)"),
            // Line 2 of the template is line 7 of the file; toUpper is its 20th character.
            "klaxon.toml:7:20: rule[0].annotations.description: line 2, column 20: wrong type for "
            "value; expected string; got float64 (toUpper takes a string)");
  // Characters, not bytes: "é" is two bytes but one column.
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
summary = "é {{ $valeu }}"
)"),
            "klaxon.toml:4:17: rule[0].summary: column 6: undefined variable \"$valeu\" (klaxon "
            "defines $labels and $value)");
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
annotations = { "runbook-url" = "x" }
)"),
            "klaxon.toml:4:17: rule[0].annotations.runbook-url: invalid annotation name "
            "\"runbook-url\": must match [a-zA-Z_][a-zA-Z0-9_]* and not be __name__");
}

TEST(LoadConfigErrorsTest, SummaryGivenTwice) {
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Down"
expr = "up == 0"
summary = "a"
annotations = { summary = "b" }
)"),
            "klaxon.toml:5:27: rule[0].annotations.summary: the summary is given twice: here and "
            "as rule[0].summary on line 4; keep one");
}

TEST(LoadConfigErrorsTest, RecordErrors) {
  EXPECT_EQ(OneError(R"(
[[record]]
record = "job-requests"
expr = "requests"
)"),
            "klaxon.toml:2:10: record[0].record: invalid metric name \"job-requests\": must match "
            "[a-zA-Z_:][a-zA-Z0-9_:]*");
  EXPECT_THAT(Errors(R"(
[[record]]
name = "x"
)"),
              ElementsAre("klaxon.toml:1:1: record[0].record: missing required key",
                          "klaxon.toml:1:1: record[0].expr: missing required key",
                          "klaxon.toml:2:1: record[0].name: unknown key"));
  EXPECT_THAT(OneError(R"(
[[record]]
record = "x"
expr = "requests *"
)"),
              StartsWith("klaxon.toml:3:19: record[0].expr: 1:11: "));
  EXPECT_EQ(OneError(R"(
[[record]]
record = "x"
expr = "requests"
labels = { job = 1 }
)"),
            "klaxon.toml:4:18: record[0].labels.job: expected a string, got an integer");
  EXPECT_EQ(OneError(R"(
[record]
record = "x"
)"),
            "klaxon.toml:1:1: record: expected an array of tables such as [[record]], got a table");
}

// ---------------------------------------------------------------------------
// [rules] and [[service.slo]]

TEST(LoadConfigTest, RulesSettings) {
  absl::StatusOr<Config> config = Load(R"toml(
[rules]
tick = "250ms"
lookback = "10m"
)toml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->rules_settings.tick, absl::Milliseconds(250));
  EXPECT_EQ(config->rules_settings.lookback, absl::Minutes(10));
}

TEST(LoadConfigErrorsTest, RulesSettingsErrors) {
  EXPECT_THAT(Errors(R"toml(
[rules]
tick = "0s"
lookback = 5
lookbak = "1m"
)toml"),
              ElementsAre("klaxon.toml:2:8: rules.tick: must be greater than 0",
                          "klaxon.toml:3:12: rules.lookback: expected a duration string such as "
                          "\"30s\", got an integer",
                          "klaxon.toml:4:1: rules.lookbak: unknown key (did you mean "
                          "\"lookback\"?)"));
  EXPECT_EQ(OneError(R"toml(
[rules]
tick = "1s"
lookback = "-5m"
)toml"),
            "klaxon.toml:3:12: rules.lookback: invalid duration \"-5m\": expected a number at "
            "position 1 (examples: \"500ms\", \"30s\", \"1h30m\")");
  EXPECT_EQ(OneError(R"toml(
rules = []
)toml"),
            "klaxon.toml:1:9: rules: expected a table, got an array");
}

constexpr absl::string_view kSloConfig = R"toml(
[[service]]
name = "checkout"

[[service.slo]]
name = "availability"
objective = "99.9%"
errors = 'sum(http_requests_total{job="checkout",code=~"5.."})'
total = 'sum(http_requests_total{job="checkout"})'

[[service.slo]]
name = "fast-pages"
objective = "99%"
window = "7d"
errors = 'sum(slow_requests_total) or vector(0)'
total = '1000'
page_severity = "major"
ticket_severity = "info"

[[rule]]
name = "CheckoutDown"
service = "checkout"
expr = 'up{job="checkout"} == 0'
depends_on = ["CheckoutAvailabilityBurnRatePage"]
)toml";

TEST(LoadConfigTest, SlosLoadWithDefaultsAndGenerateTheirRules) {
  absl::StatusOr<Config> config = Load(kSloConfig);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->services, SizeIs(1));
  const std::vector<SloConfig>& slos = config->services[0].slos;
  ASSERT_THAT(slos, SizeIs(2));
  EXPECT_EQ(slos[0].name, "availability");
  EXPECT_EQ(slos[0].objective, 0.999) << "exactly, as /metrics shows it";
  EXPECT_EQ(slos[0].window, absl::Hours(24 * 30));
  EXPECT_EQ(slos[0].errors, R"(sum(http_requests_total{job="checkout",code=~"5.."}))");
  EXPECT_NE(slos[0].parsed_errors, nullptr);
  EXPECT_NE(slos[0].parsed_total, nullptr);
  EXPECT_EQ(slos[0].page_severity, "critical");
  EXPECT_EQ(slos[0].ticket_severity, "warning");
  EXPECT_DOUBLE_EQ(slos[1].objective, 0.99);
  EXPECT_EQ(slos[1].window, absl::Hours(24 * 7));
  EXPECT_EQ(slos[1].page_severity, "major");
  EXPECT_EQ(slos[1].ticket_severity, "info");

  SloOptions options = SloOptionsFor(config->services[0], slos[1]);
  EXPECT_EQ(options.service, "checkout");
  EXPECT_EQ(options.name, "fast-pages");
  EXPECT_DOUBLE_EQ(options.objective, 0.99);
  EXPECT_EQ(options.window, absl::Hours(24 * 7));
  EXPECT_EQ(options.total, slos[1].parsed_total);

  // The [[rule]]s first, then two per SLO in file order.
  std::vector<std::string> names;
  for (const RuleConfig& rule : config->rules) names.push_back(rule.name);
  EXPECT_THAT(names,
              ElementsAre("CheckoutDown", "CheckoutAvailabilityBurnRatePage",
                          "CheckoutAvailabilityBurnRateTicket", "CheckoutFastPagesBurnRatePage",
                          "CheckoutFastPagesBurnRateTicket"));
  const RuleConfig& page = config->rules[1];
  EXPECT_EQ(page.service, "checkout");
  EXPECT_EQ(page.slo, "availability");
  EXPECT_EQ(page.severity, "critical");
  EXPECT_EQ(page.for_duration, absl::ZeroDuration());
  EXPECT_NE(page.parsed_expr, nullptr);
  EXPECT_THAT(
      page.expr,
      HasSubstr(R"(slo:burn_rate{service="checkout",slo="availability",window="1h"} > 14.4 )"
                R"(and ignoring(window) )"
                R"(slo:burn_rate{service="checkout",slo="availability",window="5m"} > 14.4)"));
  EXPECT_THAT(page.summary, StartsWith("checkout availability SLO burning error budget "));
  EXPECT_EQ(config->rules[2].severity, "warning");
  EXPECT_EQ(config->rules[3].severity, "major");
  EXPECT_EQ(config->rules[4].severity, "info");
  EXPECT_EQ(config->rules[4].slo, "fast-pages");
  EXPECT_EQ(config->rules[0].slo, "");
  EXPECT_THAT(config->rules[0].depends_on, ElementsAre("CheckoutAvailabilityBurnRatePage"));
}

TEST(LoadConfigErrorsTest, SloKeysAndValues) {
  EXPECT_THAT(Errors(R"toml(
[[service]]
name = "checkout"
[[service.slo]]
name = "availability"
objetive = "99.9%"
)toml"),
              ElementsAre("klaxon.toml:3:1: service[0].slo[0].objective: missing required key",
                          "klaxon.toml:3:1: service[0].slo[0].errors: missing required key",
                          "klaxon.toml:3:1: service[0].slo[0].total: missing required key",
                          "klaxon.toml:5:1: service[0].slo[0].objetive: unknown key (did you "
                          "mean \"objective\"?)"));
  constexpr absl::string_view kHead = R"toml(
[[service]]
name = "checkout"
[[service.slo]]
name = "availability"
errors = "sum(errors_total)"
total = "sum(requests_total)"
)toml";
  auto with = [&](absl::string_view line) { return absl::StrCat(kHead, line, "\n"); };
  EXPECT_EQ(OneError(with(R"(objective = "100%")")),
            "klaxon.toml:7:13: service[0].slo[0].objective: objective \"100%\" must be above 0% "
            "and below 100%");
  EXPECT_EQ(OneError(with(R"(objective = "0%")")),
            "klaxon.toml:7:13: service[0].slo[0].objective: objective \"0%\" must be above 0% "
            "and below 100%");
  EXPECT_EQ(OneError(with("objective = 99.9")),
            "klaxon.toml:7:13: service[0].slo[0].objective: expected a percentage string such as "
            "\"99.9%\", got a float");
  EXPECT_EQ(OneError(with(R"(objective = "99.9")")),
            "klaxon.toml:7:13: service[0].slo[0].objective: invalid percentage \"99.9\": "
            "expected a number followed by '%', such as \"99.9%\"");
  EXPECT_EQ(OneError(with("objective = \"99%\"\nwindow = \"0s\"")),
            "klaxon.toml:8:10: service[0].slo[0].window: must be greater than 0");
  EXPECT_EQ(OneError(with("objective = \"99%\"\nwindow = \"2y\"")),
            "klaxon.toml:8:10: service[0].slo[0].window: window 2y is longer than 1y (the budget "
            "keeps 16 bytes for every hour of it)");
  EXPECT_EQ(OneError(with("objective = \"99%\"\npage_severity = \"urgent\"")),
            "klaxon.toml:8:17: service[0].slo[0].page_severity: unknown severity \"urgent\" (one "
            "of critical, major, minor, warning, info)");
  EXPECT_EQ(OneError(with("objective = \"99%\"\nticket_severity = 3")),
            "klaxon.toml:8:19: service[0].slo[0].ticket_severity: expected a string, got an "
            "integer");
}

TEST(LoadConfigErrorsTest, SloNamesAndExpressions) {
  // Expression errors point into the string, as a [[rule]] expr's do.
  EXPECT_EQ(OneError(R"toml(
[[service]]
name = "checkout"
[[service.slo]]
name = "availability"
objective = "99.9%"
errors = 'sum(errors_total{code=~"5.."}'
total = "sum(requests_total)"
)toml"),
            "klaxon.toml:6:40: service[0].slo[0].errors: 1:30: unexpected end of input, "
            "expected \",\" or \")\"");
  EXPECT_EQ(OneError(R"toml(
[[service]]
name = "checkout"
[[service.slo]]
name = "availability"
objective = "99.9%"
errors = "sum(errors_total)"
total = "requests_total[5m]"
)toml"),
            "klaxon.toml:7:9: service[0].slo[0].total: expected a counter's current total (an "
            "instant vector or a scalar, such as sum(http_requests_total)), got range vector");
  EXPECT_EQ(OneError(R"toml(
[[service]]
name = "checkout"
[[service.slo]]
name = "avail ability"
objective = "99.9%"
errors = "sum(errors_total)"
total = "sum(requests_total)"
)toml"),
            "klaxon.toml:4:8: service[0].slo[0].name: invalid SLO name \"avail ability\": use "
            "letters, digits, '_', '.' and '-' only");
  // One mistake, one error: the duplicate's generated rules are not reported too.
  EXPECT_EQ(OneError(R"toml(
[[service]]
name = "checkout"
[[service.slo]]
name = "availability"
objective = "99.9%"
errors = "sum(errors_total)"
total = "sum(requests_total)"
[[service.slo]]
name = "availability"
objective = "99%"
errors = "sum(errors_total)"
total = "sum(requests_total)"
)toml"),
            "klaxon.toml:9:8: service[0].slo[1].name: duplicate SLO name \"availability\" (first "
            "defined on line 4)");
  // The same SLO name in two services is two SLOs.
  EXPECT_TRUE(Load(R"toml(
[[service]]
name = "checkout"
[[service.slo]]
name = "availability"
objective = "99.9%"
errors = "sum(errors_total)"
total = "sum(requests_total)"
[[service]]
name = "search"
[[service.slo]]
name = "availability"
objective = "99.9%"
errors = "sum(errors_total)"
total = "sum(requests_total)"
)toml")
                  .ok());
}

TEST(LoadConfigErrorsTest, GeneratedRuleNamesMustNotClash) {
  EXPECT_EQ(OneError(R"toml(
[[rule]]
name = "CheckoutAvailabilityBurnRateTicket"
expr = "up == 0"

[[service]]
name = "checkout"
[[service.slo]]
name = "availability"
objective = "99.9%"
errors = "sum(errors_total)"
total = "sum(requests_total)"
)toml"),
            "klaxon.toml:8:8: service[0].slo[0].name: generated rule "
            "\"CheckoutAvailabilityBurnRateTicket\" has the name of the [[rule]] on line 2; "
            "rename the SLO or the rule");
  EXPECT_THAT(Errors(R"toml(
[[service]]
name = "a-b"
[[service.slo]]
name = "c"
objective = "99.9%"
errors = "sum(errors_total)"
total = "sum(requests_total)"

[[service]]
name = "a"
[[service.slo]]
name = "b-c"
objective = "99.9%"
errors = "sum(errors_total)"
total = "sum(requests_total)"
)toml"),
              ElementsAre("klaxon.toml:12:8: service[1].slo[0].name: generated rule "
                          "\"ABCBurnRatePage\" is also generated for the SLO \"c\" of service "
                          "\"a-b\" on line 4; rename one of the two",
                          "klaxon.toml:12:8: service[1].slo[0].name: generated rule "
                          "\"ABCBurnRateTicket\" is also generated for the SLO \"c\" of service "
                          "\"a-b\" on line 4; rename one of the two"));
}

// ---------------------------------------------------------------------------
// `klaxon test` files

absl::StatusOr<RuleTestFile> LoadTest(absl::string_view toml) {
  if (!toml.empty() && toml.front() == '\n') toml.remove_prefix(1);
  return LoadRuleTestString(toml, "tests/rules_test.toml");
}

std::vector<std::string> TestErrors(absl::string_view toml) {
  absl::StatusOr<RuleTestFile> file = LoadTest(toml);
  EXPECT_FALSE(file.ok());
  if (file.ok()) return {};
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << file.status();
  return absl::StrSplit(file.status().message(), '\n');
}

std::string OneTestError(absl::string_view toml) {
  std::vector<std::string> errors = TestErrors(toml);
  EXPECT_THAT(errors, SizeIs(1));
  return errors.empty() ? "" : errors[0];
}

TEST(LoadRuleTestTest, FullFile) {
  absl::StatusOr<RuleTestFile> file = LoadTest(R"(
rule_files = ["../klaxon.toml", "/etc/klaxon/rules.toml"]
evaluation_interval = "30s"

[[test]]
name = "instance down"
interval = "1m"

[[test.series]]
series = 'up{job="api", instance="a"}'
values = "1 1 0x3 _ stale"

[[test.alert]]
at = "6m5s"
rule = "InstanceDown"
[[test.alert.firing]]
labels = { instance = "a", job = "api", severity = "page" }
annotations = { summary = "a down" }
[[test.alert.firing]]

[[test.alert]]
at = "1m"
rule = "InstanceDown"

[[test.expr]]
at = "2m"
expr = "up == 0"
[[test.expr.sample]]
labels = 'up{job="api", instance="a"}'
value = 0
[[test.expr.sample]]
value = nan

[[test]]
[[test.expr]]
at = "0s"
expr = "1"
[[test.expr.sample]]
labels = ''
value = 1.5
)");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->path, "tests/rules_test.toml");
  ASSERT_THAT(file->rule_files, SizeIs(2));
  EXPECT_EQ(file->rule_files[0].path, "../klaxon.toml");
  EXPECT_EQ(file->rule_files[0].resolved, "klaxon.toml");  // beside the test folder
  EXPECT_EQ(file->rule_files[0].line, 1);
  EXPECT_EQ(file->rule_files[0].column, 15);
  EXPECT_EQ(file->rule_files[1].resolved, "/etc/klaxon/rules.toml");
  EXPECT_EQ(file->evaluation_interval, absl::Seconds(30));
  ASSERT_THAT(file->tests, SizeIs(2));

  const RuleTestFile::Test& t = file->tests[0];
  EXPECT_EQ(t.name, "instance down");
  EXPECT_EQ(t.interval, absl::Minutes(1));
  ASSERT_THAT(t.series, SizeIs(1));
  EXPECT_EQ(t.series[0].labels, ParseSeries(R"(up{job="api", instance="a"})").value());
  ASSERT_THAT(t.series[0].values, SizeIs(8));  // 0x3 is four values
  EXPECT_EQ(t.series[0].values[6], std::nullopt);
  EXPECT_TRUE(IsStaleNaN(*t.series[0].values[7]));

  ASSERT_THAT(t.alerts, SizeIs(2));
  EXPECT_EQ(t.alerts[0].at, absl::Minutes(6) + absl::Seconds(5));
  EXPECT_EQ(t.alerts[0].rule, "InstanceDown");
  ASSERT_THAT(t.alerts[0].firing, SizeIs(2));
  EXPECT_EQ(t.alerts[0].firing[0].labels,
            ParseSeries(R"({instance="a", job="api", severity="page"})").value());
  EXPECT_THAT(t.alerts[0].firing[0].annotations, ElementsAre(Label{"summary", "a down"}));
  EXPECT_TRUE(t.alerts[0].firing[1].labels.empty());
  EXPECT_THAT(t.alerts[1].firing, IsEmpty());

  ASSERT_THAT(t.exprs, SizeIs(1));
  EXPECT_EQ(t.exprs[0].at, absl::Minutes(2));
  EXPECT_EQ(t.exprs[0].expr, "up == 0");
  ASSERT_NE(t.exprs[0].parsed_expr, nullptr);
  ASSERT_THAT(t.exprs[0].samples, SizeIs(2));
  EXPECT_EQ(t.exprs[0].samples[0].value, 0);
  EXPECT_TRUE(t.exprs[0].samples[1].labels.empty());
  EXPECT_TRUE(std::isnan(t.exprs[0].samples[1].value));

  const RuleTestFile::Test& second = file->tests[1];
  EXPECT_EQ(second.name, "");
  EXPECT_EQ(second.interval, std::nullopt);
  EXPECT_EQ(second.exprs[0].samples[0].value, 1.5);
}

TEST(LoadRuleTestTest, EvaluationIntervalDefaultsToOneMinute) {
  absl::StatusOr<RuleTestFile> file = LoadTest(R"(
rule_files = []
[[test]]
)");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->evaluation_interval, absl::Minutes(1));
}

TEST(LoadRuleTestTest, ErrorsNameFileLineColumnAndKey) {
  EXPECT_EQ(OneTestError(R"(
rule_files = []
evaluation_interval = "0s"
[[test]]
)"),
            "tests/rules_test.toml:2:23: evaluation_interval: must be greater than 0");
  EXPECT_EQ(OneTestError(R"(
rule_files = []
[[tests]]
)"),
            "tests/rules_test.toml:2:3: tests: unknown key (did you mean \"test\"?)");
  EXPECT_EQ(OneTestError(R"(
rule_files = []
)"),
            "tests/rules_test.toml:1:1: test: no [[test]] in the file; nothing would be checked");
  EXPECT_EQ(OneTestError(R"(
[[test]]
)"),
            "tests/rules_test.toml:1:1: rule_files: missing required key");
  EXPECT_EQ(OneTestError(R"(
rule_files = "rules.toml"
[[test]]
)"),
            "tests/rules_test.toml:1:14: rule_files: expected an array of file names such as "
            "[\"rules.toml\"], got a string");
}

TEST(LoadRuleTestTest, SeriesErrors) {
  // Column 10 of the values (the 'q') after the quote at column 10.
  EXPECT_EQ(OneTestError(R"(
rule_files = []
[[test]]
[[test.series]]
series = "up"
values = "1 2 0+1x3q"
)"),
            "tests/rules_test.toml:5:20: test[0].series[0].values: column 10: unexpected \"q\" "
            "after the repetition count");
  EXPECT_THAT(OneTestError(R"(
rule_files = []
[[test]]
[[test.series]]
series = "up{job=api}"
values = "1"
)"),
              StartsWith("tests/rules_test.toml:4:10: test[0].series[0].series: series "
                         "\"up{job=api}\" at column "));
  EXPECT_EQ(OneTestError(R"(
rule_files = []
[[test]]
[[test.series]]
series = "up"
values = "1"
[[test.series]]
series = 'up{}'
values = "2"
)"),
            "tests/rules_test.toml:7:10: test[0].series[1].series: series up is given twice in "
            "this test (first on line 4)");
  EXPECT_THAT(
      TestErrors(R"(
rule_files = []
[[test]]
[[test.series]]
values = 1
)"),
      ElementsAre("tests/rules_test.toml:3:1: test[0].series[0].series: missing required key",
                  "tests/rules_test.toml:4:10: test[0].series[0].values: expected a string, "
                  "got an integer"));
  EXPECT_EQ(OneTestError(R"(
rule_files = []
[[test]]
interval = "1x"
)"),
            "tests/rules_test.toml:3:12: test[0].interval: invalid duration \"1x\": unknown unit "
            "\"x\" (examples: \"500ms\", \"30s\", \"1h30m\")");
}

TEST(LoadRuleTestTest, CheckErrors) {
  EXPECT_THAT(
      TestErrors(R"(
rule_files = []
[[test]]
[[test.alert]]
rule = ""
[[test.alert.firing]]
label = { a = "b" }
)"),
      ElementsAre("tests/rules_test.toml:3:1: test[0].alert[0].at: missing required key",
                  "tests/rules_test.toml:4:8: test[0].alert[0].rule: must not be empty",
                  "tests/rules_test.toml:6:1: test[0].alert[0].firing[0].label: unknown key "
                  "(did you mean \"labels\"?)"));
  EXPECT_EQ(OneTestError(R"(
rule_files = []
[[test]]
[[test.alert]]
at = "1m"
rule = "Down"
[[test.alert.firing]]
labels = { alertname = "Up" }
)"),
            "tests/rules_test.toml:7:24: test[0].alert[0].firing[0].labels.alertname: alertname "
            "is the checked rule's name (\"Down\") and is added for you; leave it out");
  // Expression errors point into the string, as in a config.
  EXPECT_THAT(OneTestError(R"(
rule_files = []
[[test]]
[[test.expr]]
at = "1m"
expr = "up = 0"
)"),
              StartsWith("tests/rules_test.toml:5:12: test[0].expr[0].expr: 1:4: "));
  EXPECT_EQ(OneTestError(R"(
rule_files = []
[[test]]
[[test.expr]]
at = "1m"
expr = "up"
[[test.expr.sample]]
labels = "up"
value = "1"
)"),
            "tests/rules_test.toml:8:9: test[0].expr[0].sample[0].value: expected a number (nan "
            "and inf included), got a string");
  EXPECT_EQ(OneTestError(R"(
rule_files = []
[[test]]
[[test.expr]]
at = "-1m"
expr = "up"
)"),
            "tests/rules_test.toml:4:6: test[0].expr[0].at: invalid duration \"-1m\": expected a "
            "number at position 1 (examples: \"500ms\", \"30s\", \"1h30m\")");
}

TEST(LoadRuleTestTest, MissingFileIsNotFound) {
  absl::StatusOr<RuleTestFile> file = LoadRuleTestFile(::testing::TempDir() + "/no/such/test.toml");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
}

// Sources (issue 4): every probe option, secrets, TCP probes, canaries,
// scrapes, logs and the push tokens.
class SourcesConfigTest : public ::testing::Test {
 protected:
  SourcesConfigTest() {
    setenv("KLAXON_TEST_PASSWORD", "hunter2", 1);
    setenv("KLAXON_TEST_TOKEN", "tok-123", 1);
    unsetenv("KLAXON_TEST_UNSET");
  }
};

TEST_F(SourcesConfigTest, HttpProbeOptions) {
  absl::StatusOr<Config> config = Load(R"(
[[probe.http]]
name = "api"
url = "https://api.example.com/health"
method = "post"
headers = { "X-Probe" = "klaxon", Accept = "application/json" }
body = '{"ping": true}'
basic_auth = { username = "probe", password = "env:KLAXON_TEST_PASSWORD" }
interval = "30s"
timeout = "3s"
expect_status = [200, "3xx", "400-404"]
expect_body = "ok"
expect_body_not = "error"
expect_header = { "Content-Type" = "json" }
max_latency = "1500ms"
follow_redirects = false
ip_family = "ip6"
tls_verify = false
tls_min_days = 14
reuse_connection = true

[[probe.http]]
name = "bearer"
url = "http://127.0.0.1:8080/"
bearer_token = "env:KLAXON_TEST_TOKEN"
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->http_probes, SizeIs(2));
  const HttpProbeOptions& p = config->http_probes[0];
  EXPECT_EQ(p.method, "POST");
  EXPECT_THAT(p.headers,
              UnorderedElementsAre(Label{"X-Probe", "klaxon"}, Label{"Accept", "application/json"}));
  EXPECT_EQ(p.body, "{\"ping\": true}");
  EXPECT_EQ(p.basic_auth_user, "probe");
  EXPECT_EQ(p.basic_auth_password, "hunter2");
  EXPECT_EQ(p.timeout, absl::Seconds(3));
  EXPECT_THAT(p.expect_status,
              ElementsAre(StatusRange{200, 200}, StatusRange{300, 399}, StatusRange{400, 404}));
  EXPECT_EQ(p.expect_body, "ok");
  EXPECT_EQ(p.expect_body_not, "error");
  ASSERT_THAT(p.expect_header, SizeIs(1));
  EXPECT_EQ(p.expect_header[0].name, "Content-Type");
  EXPECT_EQ(p.expect_header[0].regex, "json");
  EXPECT_EQ(p.max_latency, absl::Milliseconds(1500));
  EXPECT_FALSE(p.follow_redirects);
  EXPECT_EQ(p.ip_family, IpFamily::kIPv6);
  EXPECT_FALSE(p.tls_verify);
  EXPECT_EQ(p.tls_min_days, 14);
  EXPECT_TRUE(p.reuse_connection);
  EXPECT_EQ(config->http_probes[1].bearer_token, "tok-123");
  // The defaults an ops engineer expects of the blackbox exporter.
  const HttpProbeOptions& d = config->http_probes[1];
  EXPECT_EQ(d.method, "GET");
  EXPECT_TRUE(d.follow_redirects);
  EXPECT_TRUE(d.tls_verify);
  EXPECT_FALSE(d.reuse_connection);
  EXPECT_EQ(d.ip_family, IpFamily::kAny);
  EXPECT_THAT(d.expect_status, IsEmpty());
}

TEST_F(SourcesConfigTest, SecretsFromFilesBesideTheConfig) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "klaxon-secret-test";
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "token") << "from-file\n"; }
  absl::StatusOr<Config> config = LoadConfigString(R"(
[[probe.http]]
name = "api"
url = "http://127.0.0.1:1/"
bearer_token = "file:token"
)",
                                                   (dir / "klaxon.toml").string());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->http_probes[0].bearer_token, "from-file");
}

TEST_F(SourcesConfigTest, SecretErrorsNeverShowTheSecret) {
  EXPECT_THAT(Errors(R"(
[[probe.http]]
name = "a"
url = "http://127.0.0.1:1/"
bearer_token = "hunter2-literal"

[[probe.http]]
name = "b"
url = "http://127.0.0.1:1/"
bearer_token = "env:KLAXON_TEST_UNSET"

[[probe.http]]
name = "c"
url = "http://127.0.0.1:1/"
basic_auth = { username = "u", password = "file:/nonexistent/klaxon-secret" }
)"),
              ElementsAre("klaxon.toml:4:16: probe.http[0].bearer_token: write the secret as "
                          "\"env:VARIABLE\" or \"file:PATH\", so that it stays out of the config "
                          "file",
                          "klaxon.toml:9:16: probe.http[1].bearer_token: environment variable "
                          "KLAXON_TEST_UNSET is not set",
                          AllOf(StartsWith("klaxon.toml:14:"),
                                HasSubstr("probe.http[2].basic_auth.password: cannot read secret "
                                          "file /nonexistent/klaxon-secret"))));
}

TEST_F(SourcesConfigTest, HttpProbeOptionErrors) {
  EXPECT_THAT(Errors(R"(
[[probe.http]]
name = "a"
url = "http://127.0.0.1:1/"
expect_status = ["2xy", "500-400", 700, "100-600"]
expect_body_not = "(unclosed"
expect_header = { "Content-Type" = "[" }
ip_family = "ipx"
tls_min_days = -1
follow_redirects = "yes"
)"),
              ElementsAre(StartsWith("klaxon.toml:4:18: probe.http[0].expect_status[0]: invalid "
                                     "status \"2xy\""),
                          StartsWith("klaxon.toml:4:25: probe.http[0].expect_status[1]: invalid "
                                     "status \"500-400\""),
                          "klaxon.toml:4:36: probe.http[0].expect_status[2]: HTTP status 700 is "
                          "outside 100..599",
                          "klaxon.toml:4:41: probe.http[0].expect_status[3]: HTTP status range "
                          "100-600 is outside 100..599",
                          StartsWith("klaxon.toml:5:19: probe.http[0].expect_body_not: invalid "
                                     "regular expression \"(unclosed\""),
                          StartsWith("klaxon.toml:6:36: probe.http[0].expect_header.Content-Type: "
                                     "invalid regular expression \"[\""),
                          "klaxon.toml:7:13: probe.http[0].ip_family: unknown IP family \"ipx\": "
                          "expected \"any\", \"ip4\" or \"ip6\"",
                          "klaxon.toml:8:16: probe.http[0].tls_min_days: -1 is outside 0..3650",
                          "klaxon.toml:9:20: probe.http[0].follow_redirects: expected true or "
                          "false, got a string"));
}

TEST_F(SourcesConfigTest, TcpProbesAndConnectivityCanaries) {
  absl::StatusOr<Config> config = Load(R"(
[[probe.tcp]]
name = "smtp"
address = "mail.example.com:25"
send = "EHLO klaxon"
expect = "^250"
interval = "20s"
ip_family = "ip4"

[connectivity]
canaries = ["tcp://127.0.0.1:53", "https://www.debian.org/"]
interval = "5s"
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->tcp_probes, SizeIs(2));
  const TcpProbeOptions& smtp = config->tcp_probes[0];
  EXPECT_EQ(smtp.address, "mail.example.com:25");
  EXPECT_EQ(smtp.send, "EHLO klaxon");
  EXPECT_EQ(smtp.expect, "^250");
  EXPECT_EQ(smtp.interval, absl::Seconds(20));
  EXPECT_EQ(smtp.timeout, absl::Seconds(5));
  EXPECT_EQ(smtp.ip_family, IpFamily::kIPv4);
  EXPECT_FALSE(smtp.canary);
  EXPECT_TRUE(config->tcp_probes[1].canary);
  EXPECT_EQ(config->tcp_probes[1].address, "127.0.0.1:53");
  EXPECT_EQ(config->tcp_probes[1].interval, absl::Seconds(5));
  EXPECT_EQ(config->tcp_probes[1].timeout, absl::Seconds(3));
  ASSERT_THAT(config->http_probes, SizeIs(1));
  EXPECT_TRUE(config->http_probes[0].canary);
  EXPECT_EQ(config->http_probes[0].name, "https://www.debian.org/");
  EXPECT_THAT(config->connectivity_canaries,
              ElementsAre("tcp://127.0.0.1:53", "https://www.debian.org/"));
}

TEST_F(SourcesConfigTest, TcpAndConnectivityErrors) {
  EXPECT_THAT(Errors(R"(
[[probe.tcp]]
name = "db"
address = "db.example.com"
expect = "("

[connectivity]
canaries = ["udp://1.1.1.1:53", "tcp://nowhere"]
)"),
              ElementsAre(StartsWith("klaxon.toml:3:11: probe.tcp[0].address: invalid address "
                                     "\"db.example.com\""),
                          StartsWith("klaxon.toml:4:10: probe.tcp[0].expect: invalid regular "
                                     "expression \"(\""),
                          StartsWith("klaxon.toml:7:13: connectivity.canaries[0]: invalid URL "
                                     "\"udp://1.1.1.1:53\""),
                          "klaxon.toml:7:33: connectivity.canaries[1]: invalid canary "
                          "\"tcp://nowhere\": expected tcp://host:port"));
}

TEST_F(SourcesConfigTest, Scrapes) {
  absl::StatusOr<Config> config = Load(R"(
[[scrape]]
job = "node"
targets = ["http://127.0.0.1:9100/metrics", "http://127.0.0.1:9101/metrics"]
interval = "30s"
labels = { env = "prod" }
honor_labels = true
sample_limit = 5000

[[scrape]]
job = "app"
targets = "http://127.0.0.1:8080/metrics"
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->scrapes, SizeIs(2));
  const ScrapeOptions& node = config->scrapes[0];
  EXPECT_EQ(node.job, "node");
  EXPECT_THAT(node.targets, SizeIs(2));
  EXPECT_EQ(node.interval, absl::Seconds(30));
  EXPECT_EQ(node.timeout, absl::Seconds(10));
  EXPECT_THAT(node.labels, ElementsAre(Label{"env", "prod"}));
  EXPECT_TRUE(node.honor_labels);
  EXPECT_EQ(node.sample_limit, 5000u);
  const ScrapeOptions& app = config->scrapes[1];
  EXPECT_THAT(app.targets, ElementsAre("http://127.0.0.1:8080/metrics"));
  EXPECT_EQ(app.interval, absl::Seconds(15));
  EXPECT_FALSE(app.honor_labels);
  EXPECT_EQ(app.sample_limit, 0u);
}

TEST_F(SourcesConfigTest, ScrapeErrors) {
  EXPECT_THAT(Errors(R"(
[[scrape]]
job = "node"
targets = ["ftp://x/metrics"]
labels = { job = "other" }
interval = "5s"
timeout = "10s"

[[scrape]]
job = "node"
)"),
              ElementsAre(StartsWith("klaxon.toml:3:12: scrape[0].targets[0]: invalid URL"),
                          "klaxon.toml:4:18: scrape[0].labels.job: job and instance are set by the "
                          "scrape itself",
                          "klaxon.toml:6:11: scrape[0].timeout: timeout 10s is longer than the "
                          "interval 5s",
                          "klaxon.toml:8:1: scrape[1].targets: missing required key",
                          "klaxon.toml:9:7: scrape[1].job: duplicate job \"node\" (first defined "
                          "on line 2)"));
}

TEST_F(SourcesConfigTest, Logs) {
  absl::StatusOr<Config> config = LoadConfigString(R"(
[[log]]
name = "nginx"
path = ["logs/access.log", "/var/log/nginx/*.log"]
start = "beginning"
max_line_bytes = 4096
[[log.match]]
name = "http_5xx"
regex = '" (?P<code>5\d\d) '
max_label_sets = 10
[[log.match]]
name = "timeouts"
contains = "upstream timed out"

[[log]]
name = "edge"
syslog = "tcp://127.0.0.1:5514"
[[log.match]]
name = "denied"
contains = "denied"

[[log]]
name = "piped"
stdin = true
[[log.match]]
name = "panic"
contains = "panic:"
)",
                                                   "/etc/klaxon/klaxon.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->logs, SizeIs(3));
  const LogSourceOptions& nginx = config->logs[0];
  EXPECT_EQ(nginx.matcher.log, "nginx");
  EXPECT_THAT(nginx.paths, ElementsAre("/etc/klaxon/logs/access.log", "/var/log/nginx/*.log"));
  EXPECT_TRUE(nginx.start_at_beginning);
  EXPECT_EQ(nginx.matcher.max_line_bytes, 4096u);
  ASSERT_THAT(nginx.matcher.matches, SizeIs(2));
  EXPECT_EQ(nginx.matcher.matches[0].regex, "\" (?P<code>5\\d\\d) ");
  EXPECT_EQ(nginx.matcher.matches[0].max_label_sets, 10u);
  EXPECT_EQ(nginx.matcher.matches[1].contains, "upstream timed out");
  EXPECT_EQ(config->logs[1].syslog_tcp, "127.0.0.1:5514");
  EXPECT_FALSE(config->logs[1].start_at_beginning);
  EXPECT_THAT(config->logs[2].paths, ElementsAre("-"));
}

TEST_F(SourcesConfigTest, LogErrors) {
  EXPECT_THAT(Errors(R"(
[[log]]
name = "a"
path = "a.log"
syslog = "udp://127.0.0.1:5514"
start = "middle"
[[log.match]]
name = "m"
regex = '(?P<code>5\d\d'
[[log.match]]
name = "n"
contains = "x"
regex = "y"

[[log]]
name = "b"
syslog = "127.0.0.1:5514"
[[log.match]]
name = "m"
regex = '(?P<log>x)'
)"),
              ElementsAre("klaxon.toml:1:1: log[0]: set only one of path, stdin = true and syslog",
                          "klaxon.toml:5:9: log[0].start: unknown start \"middle\": expected "
                          "\"end\" or \"beginning\"",
                          StartsWith("klaxon.toml:8:9: log[0].match[0]: "),
                          "klaxon.toml:9:1: log[0].match[1]: set exactly one of contains and regex",
                          StartsWith("klaxon.toml:16:10: log[1].syslog: invalid syslog listener "
                                     "\"127.0.0.1:5514\""),
                          StartsWith("klaxon.toml:19:9: log[1].match[0]: ")));
}

TEST_F(SourcesConfigTest, PushTokens) {
  absl::StatusOr<Config> config = Load(R"(
[server]
push_tokens = ["env:KLAXON_TEST_TOKEN", "env:KLAXON_TEST_PASSWORD"]
max_body_bytes = 1048576
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->server.push_tokens, ElementsAre("tok-123", "hunter2"));
  EXPECT_EQ(config->server.max_body_bytes, 1048576u);
  absl::StatusOr<Config> defaults = Load("");
  ASSERT_TRUE(defaults.ok());
  EXPECT_THAT(defaults->server.push_tokens, IsEmpty());
  EXPECT_EQ(defaults->server.max_body_bytes, 16u << 20);
  EXPECT_EQ(OneError(R"(
[server]
push_tokens = ["plain-text-token"]
)"),
            "klaxon.toml:2:16: server.push_tokens[0]: write the secret as \"env:VARIABLE\" or "
            "\"file:PATH\", so that it stays out of the config file");
}

TEST_F(SourcesConfigTest, TicketingSinks) {
  absl::StatusOr<Config> config = Load(R"(
[[sink]]
name = "hook"
type = "webhook"
url = "https://hooks.example.com/klaxon"
secret = "env:KLAXON_TEST_TOKEN"

[[sink]]
name = "pd"
type = "pagerduty"
routing_key = "env:KLAXON_TEST_TOKEN"

[[sink]]
name = "jira"
type = "jira"
url = "https://example.atlassian.net"
user = "ops@example.com"
api_key = "env:KLAXON_TEST_TOKEN"
project = "OPS"
issue_type = "Incident"
resolve_transition = "Resolve"

[[sink]]
name = "gh"
type = "github"
repository = "example/ops"
api_key = "env:KLAXON_TEST_TOKEN"

[[sink]]
name = "redmine"
type = "redmine"
url = "http://127.0.0.1:3000"
api_key = "env:KLAXON_TEST_PASSWORD"
project = "ops"
resolved_status_id = 5
incident_field_id = 2

[[sink]]
name = "am"
type = "alertmanager"
url = "http://127.0.0.1:9099/alerts"
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->sinks, SizeIs(6));
  EXPECT_EQ(config->sinks[0].secret, "tok-123");
  EXPECT_EQ(config->sinks[1].routing_key, "tok-123");
  EXPECT_EQ(config->sinks[1].url, "");
  const SinkOptions& jira = config->sinks[2];
  EXPECT_EQ(jira.user, "ops@example.com");
  EXPECT_EQ(jira.api_key, "tok-123");
  EXPECT_EQ(jira.project, "OPS");
  EXPECT_EQ(jira.issue_type, "Incident");
  EXPECT_EQ(jira.resolve_transition, "Resolve");
  EXPECT_EQ(config->sinks[3].repository, "example/ops");
  const SinkOptions& redmine = config->sinks[4];
  EXPECT_EQ(redmine.api_key, "hunter2");
  EXPECT_EQ(redmine.project, "ops");
  EXPECT_EQ(redmine.resolved_status_id, 5);
  EXPECT_EQ(redmine.incident_field_id, 2);
}

TEST_F(SourcesConfigTest, SinkKeysBelongToTheirType) {
  EXPECT_THAT(Errors(R"(
[[sink]]
name = "gh"
type = "github"
repository = "no-slash"
api_key = "env:KLAXON_TEST_TOKEN"
project = "OPS"

[[sink]]
name = "jira"
type = "jira"
url = "https://example.atlassian.net"
)"),
              ElementsAre("klaxon.toml:4:14: sink[0].repository: expected \"owner/name\", got "
                          "\"no-slash\"",
                          "klaxon.toml:6:11: sink[0].project: not used by github sinks",
                          "klaxon.toml:8:1: sink[1].api_key: missing required key for a jira sink",
                          "klaxon.toml:8:1: sink[1].project: missing required key for a jira "
                          "sink"));
}

TEST_F(SourcesConfigTest, AckTokensAndSlaClocks) {
  absl::StatusOr<Config> config = Load(R"(
[server]
api_tokens = { alice = "env:KLAXON_TEST_TOKEN", bot = "env:KLAXON_TEST_PASSWORD" }

[[service]]
name = "checkout"
[service.sla]
time_to_ticket = "5m"
time_to_acknowledge = "15m"
time_to_resolve = "4h"
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->server.api_tokens,
              UnorderedElementsAre(Pair("alice", "tok-123"), Pair("bot", "hunter2")));
  const SlaConfig& sla = config->services[0].sla;
  EXPECT_EQ(sla.time_to_acknowledge, absl::Minutes(15));
  EXPECT_EQ(sla.time_to_resolve, absl::Hours(4));
  EXPECT_EQ(OneError(R"(
[server]
api_tokens = { alice = "alice-in-plain-text" }
)"),
            "klaxon.toml:2:24: server.api_tokens.alice: write the secret as \"env:VARIABLE\" or "
            "\"file:PATH\", so that it stays out of the config file");
}

TEST(LoadConfigTest, AutoResolve) {
  absl::StatusOr<Config> config = Load(R"(
[[rule]]
name = "Kept"
expr = "up == 0"
auto_resolve = false

[[rule]]
name = "Default"
expr = "up == 0"
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->rules[0].auto_resolve);
  EXPECT_TRUE(config->rules[1].auto_resolve);
  EXPECT_EQ(OneError(R"(
[[rule]]
name = "Kept"
expr = "up == 0"
auto_resolve = "no"
)"),
            "klaxon.toml:4:16: rule[0].auto_resolve: expected true or false, got a string");
}

TEST_F(SourcesConfigTest, NotifierSinks) {
  setenv("KLAXON_TEST_CHAT_URL", "https://hooks.slack.com/services/T0/B0/k3y-zzyzx\n", 1);
  absl::StatusOr<Config> config = Load(R"(
[[sink]]
name = "team-chat"
type = "chat"
url = "https://mattermost.example.com/hooks/abc123"
to = ["@oncall"]

[[sink]]
name = "slack"
type = "chat"
url = "env:KLAXON_TEST_CHAT_URL"

[[sink]]
name = "mail"
type = "email"
url = "smtp://127.0.0.1:2525"
from = "klaxon <klaxon@example.com>"
to = ["ops@example.com", "On call <oncall@example.com>"]
user = "klaxon"
secret = "env:KLAXON_TEST_PASSWORD"
timeout = "5s"

[[sink]]
name = "relay"
type = "email"
url = "smtps://mail.example.com:465"
from = "klaxon@example.com"
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->sinks, SizeIs(4));
  EXPECT_EQ(config->sinks[0].url, "https://mattermost.example.com/hooks/abc123");
  EXPECT_THAT(config->sinks[0].to, ElementsAre("@oncall"));
  EXPECT_EQ(config->sinks[1].url, "https://hooks.slack.com/services/T0/B0/k3y-zzyzx");
  EXPECT_THAT(config->sinks[1].to, IsEmpty());
  const SinkOptions& mail = config->sinks[2];
  EXPECT_EQ(mail.url, "smtp://127.0.0.1:2525");
  EXPECT_EQ(mail.from, "klaxon <klaxon@example.com>");
  EXPECT_THAT(mail.to, ElementsAre("ops@example.com", "On call <oncall@example.com>"));
  EXPECT_EQ(mail.user, "klaxon");
  EXPECT_EQ(mail.secret, "hunter2");
  EXPECT_EQ(mail.timeout, absl::Seconds(5));
  EXPECT_THAT(config->sinks[3].to, IsEmpty());
  EXPECT_EQ(config->sinks[3].user, "");
}

TEST_F(SourcesConfigTest, NotifierSinkKeysAreChecked) {
  EXPECT_THAT(Errors(R"(
[[sink]]
name = "mail"
type = "email"
url = "http://mail.example.com"
to = ["ops@example.com", "alice"]
user = "klaxon"

[[sink]]
name = "chat"
type = "chat"
url = "https://chat.example.com/hooks/x"
from = "klaxon@example.com"

[[sink]]
name = "hook"
type = "webhook"
url = "https://hooks.example.com/"
to = ["ops@example.com"]

[[sink]]
name = "mail2"
type = "email"
url = "smtp://:25"
from = "klaxon"
secret = "env:KLAXON_TEST_PASSWORD"
)"),
              ElementsAre(
                  "klaxon.toml:1:1: sink[0].from: missing required key for an email sink",
                  "klaxon.toml:1:1: sink[0].secret: missing required key when user is set "
                  "(SMTP AUTH needs both)",
                  "klaxon.toml:4:7: sink[0].url: invalid URL \"http://mail.example.com\": "
                  "expected smtp://host:port or smtps://host:port",
                  "klaxon.toml:5:26: sink[0].to[1]: expected an e-mail address such as "
                  "\"ops@example.com\" or \"Ops <ops@example.com>\", got \"alice\"",
                  "klaxon.toml:12:8: sink[1].from: not used by chat sinks",
                  "klaxon.toml:18:6: sink[2].to: not used by webhook sinks",
                  "klaxon.toml:20:1: sink[3].user: missing required key when secret is set "
                  "(SMTP AUTH needs both)",
                  "klaxon.toml:23:7: sink[3].url: invalid URL \"smtp://:25\": no host",
                  "klaxon.toml:24:8: sink[3].from: expected an e-mail address such as "
                  "\"ops@example.com\" or \"Ops <ops@example.com>\", got \"klaxon\""));
}

TEST_F(SourcesConfigTest, AChatUrlFromASecretIsCheckedButNeverQuoted) {
  setenv("KLAXON_TEST_CHAT_URL", "ftp://hooks.example.com/k3y-zzyzx", 1);
  std::string error = OneError(R"(
[[sink]]
name = "chat"
type = "chat"
url = "env:KLAXON_TEST_CHAT_URL"
)");
  EXPECT_EQ(error,
            "klaxon.toml:4:7: sink[0].url: the URL in env:KLAXON_TEST_CHAT_URL is not an http:// "
            "or https:// URL");
  EXPECT_THAT(error, ::testing::Not(HasSubstr("k3y-zzyzx")));
}

}  // namespace
}  // namespace klaxon
