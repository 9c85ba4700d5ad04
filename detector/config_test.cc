#include "detector/config.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::StartsWith;

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
  EXPECT_THAT(home.expect_status, ElementsAre(200, 204));
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

[[log]]
name = "nginx"
)"),
            "klaxon.toml:4:3: log: unknown key");
  EXPECT_EQ(OneError(R"(
rules = []
)"),
            "klaxon.toml:1:1: rules: unknown key (did you mean \"rule\"?)");
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

TEST(LoadConfigErrorsTest, AvailabilityIsNotAKeyYet) {
  EXPECT_EQ(OneError(R"(
[[service]]
name = "checkout"
[service.sla]
availability = "99.9%"
)"),
            "klaxon.toml:4:1: service[0].sla.availability: unknown key");
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

TEST(LoadConfigErrorsTest, SinkWithUnknownType) {
  EXPECT_EQ(OneError(R"(
[[sink]]
name = "tickets"
type = "jira"
url = "https://jira.example.com"
)"),
            "klaxon.toml:3:8: sink[0].type: unknown sink type \"jira\" (known: webhook)");
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
expect_status = [200, 600, "404"]

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
                          "status code such as 200, got a string",
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

}  // namespace
}  // namespace klaxon
