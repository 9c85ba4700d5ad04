// The klaxon binary as a real process: kill -9 loses no owed delivery, SIGTERM
// stops it cleanly, `klaxon check` names the file, line and column of errors.
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "detector/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "tests/support/receiver.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;
using testing::BinaryPath;
using testing::ChildProcess;
using testing::TempDir;
using testing::WaitFor;
using testing::WebhookReceiver;

constexpr absl::Duration kBound = absl::Seconds(20);

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// The address a `klaxon run` child logged that it listens on.
std::string ListenAddress(const ChildProcess& child) {
  std::optional<std::string> log = child.WaitForLog("listening on http://", kBound);
  if (!log) return "";
  size_t start = log->find("http://") + 7;
  return log->substr(start, log->find(' ', start) - start);
}

class DaemonProcessTest : public ::testing::Test {
 protected:
  DaemonProcessTest() {
    auto server = HttpServer::Start("127.0.0.1:0", [this](const HttpRequest&) {
      ++probes_;
      return healthy_ ? HttpResponse::Text(200, "ok\n") : HttpResponse::Text(503, "down\n");
    });
    EXPECT_TRUE(server.ok());
    service_ = std::move(*server);
    WriteFile(dir_.File("klaxon.toml"), absl::StrFormat(R"(
[server]
listen = "127.0.0.1:0"
data_dir = "data"

[[probe.http]]
name = "api"
url = "http://%s/health"
interval = "100ms"
timeout = "80ms"

[[rule]]
name = "ApiDown"
expr = 'probe_success{probe="api"} == 0'
for = "200ms"

[[sink]]
name = "hook"
type = "webhook"
url = "%s"
)",
                                                        service_->address(), receiver_.url()));
  }
  std::unique_ptr<ChildProcess> RunKlaxon(const std::string& log_name) {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{BinaryPath("klaxon"), "run", "--config", dir_.File("klaxon.toml")},
        dir_.File(log_name));
  }

  TempDir dir_;
  WebhookReceiver receiver_;
  std::atomic<bool> healthy_{true};
  std::atomic<int> probes_{0};
  std::unique_ptr<HttpServer> service_;
};

TEST_F(DaemonProcessTest, KillNineBeforeDeliveryLosesNothing) {
  receiver_.set_status(503);
  auto first = RunKlaxon("first.log");
  ASSERT_FALSE(ListenAddress(*first).empty()) << first->Log();
  healthy_ = false;
  // The incident is recorded and its delivery is being refused.
  ASSERT_TRUE(WaitFor([&] { return !receiver_.requests().empty(); }, kBound)) << first->Log();
  testing::ReceivedRequest refused = receiver_.requests()[0];
  ASSERT_EQ(refused.event, "opened");
  ASSERT_EQ(refused.incident_id, "INC-000001");

  first->Signal(SIGKILL);
  ASSERT_TRUE(first->Wait(kBound).has_value());
  receiver_.set_status(200);

  auto second = RunKlaxon("second.log");
  ASSERT_FALSE(ListenAddress(*second).empty()) << second->Log();
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound))
      << second->Log();
  testing::ReceivedRequest delivered = receiver_.accepted("opened")[0];
  EXPECT_EQ(delivered.incident_id, "INC-000001");
  EXPECT_EQ(delivered.idempotency_key, refused.idempotency_key);

  // The alert firing again after the restart joins the same incident.
  int seen = probes_;
  ASSERT_TRUE(WaitFor([&] { return probes_ >= seen + 10; }, kBound));
  for (const auto& r : receiver_.requests()) EXPECT_EQ(r.incident_id, "INC-000001");
  EXPECT_EQ(receiver_.accepted("opened").size(), 1u);

  healthy_ = true;
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 1; }, kBound))
      << second->Log();
  EXPECT_EQ(receiver_.accepted("resolved")[0].incident_id, "INC-000001");
}

TEST_F(DaemonProcessTest, SlaReportPrintsTheMonthAndSighupReloadsTheConfig) {
  const std::string config = absl::StrCat(R"(
[server]
listen = "127.0.0.1:0"
data_dir = "sla-data"

[[service]]
name = "api"
[service.sla]
availability = "99.9%"

[[probe.http]]
name = "api"
service = "api"
url = "http://)", service_->address(), R"(/health"
interval = "100ms"
timeout = "80ms"
)");
  const std::string rule = R"(
[[rule]]
name = "ApiDown"
service = "api"
severity = "critical"
expr = 'probe_success{probe="api"} == 0'
)";
  WriteFile(dir_.File("sla.toml"), config + rule);
  ChildProcess daemon({BinaryPath("klaxon"), "run", "--config", dir_.File("sla.toml")},
                      dir_.File("sla-run.log"));
  const std::string address = ListenAddress(daemon);
  ASSERT_FALSE(address.empty()) << daemon.Log();
  healthy_ = false;
  auto klaxon = [&](std::vector<std::string> words, const std::string& log) {
    std::vector<std::string> argv = {BinaryPath("klaxon")};
    argv.insert(argv.end(), words.begin(), words.end());
    argv.push_back(absl::StrCat("--server=", address));
    auto child = std::make_unique<ChildProcess>(argv, dir_.File(log));
    std::optional<int> status = child->Wait(kBound);
    return std::make_pair(status.value_or(-1), child->Log());
  };
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(klaxon({"incidents", "list"}, "l.log").second,
                                                     "INC-000001  open"); },
                      kBound))
      << daemon.Log();
  absl::SleepFor(absl::Milliseconds(500));

  auto [csv_status, csv] = klaxon({"sla", "report", "--service", "api", "--format", "csv"}, "csv.log");
  EXPECT_EQ(csv_status, 0) << csv;
  EXPECT_THAT(csv, HasSubstr("service,month,time_zone"));
  EXPECT_THAT(csv, HasSubstr("api,"));
  auto [table_status, table] = klaxon({"sla", "report"}, "table.log");
  EXPECT_EQ(table_status, 0) << table;
  EXPECT_THAT(table, HasSubstr("api"));
  auto [unknown_status, unknown] = klaxon({"sla", "report", "--service", "nope"}, "unknown.log");
  EXPECT_EQ(unknown_status, 1);
  EXPECT_THAT(unknown, HasSubstr("404"));
  auto [usage_status, usage] = klaxon({"sla", "report", "--format", "xml"}, "usage.log");
  EXPECT_EQ(usage_status, 2);

  // SIGHUP with the rule gone: its open incident resolves as removed.
  WriteFile(dir_.File("sla.toml"), config);
  daemon.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(klaxon({"incidents", "list"}, "l2.log").second,
                                                     "INC-000001  resolved"); },
                      kBound))
      << daemon.Log();
  auto [shown_status, shown] = klaxon({"incidents", "show", "INC-000001"}, "show.log");
  EXPECT_THAT(shown, HasSubstr("removed from config (rule ApiDown)"));
  EXPECT_THAT(daemon.Log(), HasSubstr("config reloaded from"));
  // A broken file is refused and the daemon keeps serving.
  WriteFile(dir_.File("sla.toml"), "[[rule]]\nname = \n");
  daemon.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(daemon.Log(), "reload refused"); }, kBound));
  EXPECT_EQ(klaxon({"incidents", "list"}, "l3.log").first, 0);
}

TEST_F(DaemonProcessTest, IncidentsCommandListsShowsAndAcknowledges) {
  setenv("KLAXON_TEST_ALICE_TOKEN", "alice-token-1", 1);
  WriteFile(dir_.File("ack.toml"), absl::StrFormat(R"(
[server]
listen = "127.0.0.1:0"
data_dir = "ack-data"
api_tokens = { alice = "env:KLAXON_TEST_ALICE_TOKEN" }

[[probe.http]]
name = "api"
url = "http://%s/health"
interval = "100ms"
timeout = "80ms"

[[rule]]
name = "ApiDown"
expr = 'probe_success{probe="api"} == 0'
)",
                                                   service_->address()));
  ChildProcess daemon({BinaryPath("klaxon"), "run", "--config", dir_.File("ack.toml")},
                      dir_.File("ack-run.log"));
  const std::string address = ListenAddress(daemon);
  ASSERT_FALSE(address.empty()) << daemon.Log();
  healthy_ = false;
  auto incidents = [&](std::vector<std::string> words, const std::string& log) {
    std::vector<std::string> argv = {BinaryPath("klaxon"), "incidents"};
    argv.insert(argv.end(), words.begin(), words.end());
    argv.push_back(absl::StrCat("--server=", address));
    auto child = std::make_unique<ChildProcess>(argv, dir_.File(log));
    std::optional<int> status = child->Wait(kBound);
    return std::make_pair(status.value_or(-1), child->Log());
  };
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(incidents({"list"}, "list.log").second,
                                                     "INC-000001  open"); },
                      kBound))
      << daemon.Log();

  unsetenv("KLAXON_TOKEN");
  auto [no_token, no_token_log] = incidents({"ack", "INC-000001"}, "ack0.log");
  EXPECT_EQ(no_token, 2);
  EXPECT_THAT(no_token_log, HasSubstr("KLAXON_TOKEN"));
  setenv("KLAXON_TOKEN", "wrong", 1);
  auto [wrong, wrong_log] = incidents({"ack", "INC-000001"}, "ack1.log");
  EXPECT_EQ(wrong, 1);
  EXPECT_THAT(wrong_log, HasSubstr("401"));
  setenv("KLAXON_TOKEN", "alice-token-1", 1);
  auto [acked, acked_log] = incidents({"ack", "INC-000001", "--comment", "looking"}, "ack2.log");
  EXPECT_EQ(acked, 0) << acked_log;
  EXPECT_THAT(acked_log, HasSubstr("INC-000001  acknowledged"));
  unsetenv("KLAXON_TOKEN");

  auto [shown, shown_log] = incidents({"show", "INC-000001"}, "show.log");
  EXPECT_EQ(shown, 0);
  EXPECT_THAT(shown_log, HasSubstr("acknowledged by alice: looking"));
  auto [missing, missing_log] = incidents({"show", "INC-000042"}, "show2.log");
  EXPECT_EQ(missing, 1);
  EXPECT_THAT(missing_log, HasSubstr("404"));
  auto [bad, bad_log] = incidents({"frob"}, "bad.log");
  EXPECT_EQ(bad, 2);
}

TEST_F(DaemonProcessTest, SigtermStopsCleanly) {
  auto child = RunKlaxon("run.log");
  ASSERT_FALSE(ListenAddress(*child).empty()) << child->Log();
  child->Signal(SIGTERM);
  std::optional<int> status = child->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.has_value()) << "klaxon did not stop on SIGTERM";
  EXPECT_EQ(*status, 0);
  EXPECT_THAT(child->Log(), HasSubstr("klaxon stopped"));
}

TEST_F(DaemonProcessTest, CheckNamesFileLineAndColumn) {
  WriteFile(dir_.File("bad.toml"), "[server]\nlisten = \"127.0.0.1:9477\"\n\n[[rule]]\nname = \"X\"\nexpr = 'up == '\n");
  ChildProcess check({BinaryPath("klaxon"), "check", "--config", dir_.File("bad.toml")},
                     dir_.File("check.log"));
  std::optional<int> status = check.Wait(kBound);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 1);
  EXPECT_THAT(check.Log(), HasSubstr(absl::StrCat(dir_.File("bad.toml"), ":6:")));

  ChildProcess ok({BinaryPath("klaxon"), "check", "--config", dir_.File("klaxon.toml")},
                  dir_.File("ok.log"));
  EXPECT_EQ(ok.Wait(kBound), 0) << ok.Log();
  EXPECT_THAT(ok.Log(), HasSubstr("ok"));
}

TEST_F(DaemonProcessTest, VersionAndHelp) {
  ChildProcess version({BinaryPath("klaxon"), "--version"}, dir_.File("version.log"));
  EXPECT_EQ(version.Wait(kBound), 0);
  EXPECT_THAT(version.Log(), HasSubstr("klaxon "));
  ChildProcess bad({BinaryPath("klaxon"), "frobnicate"}, dir_.File("bad.log"));
  EXPECT_EQ(bad.Wait(kBound), 2);
  EXPECT_THAT(bad.Log(), HasSubstr("unknown command"));
}

// The value of the first /metrics line starting with `series`, or -1.
double MetricValue(const std::string& address, const std::string& series) {
  std::string page = testing::HttpGet(absl::StrCat("http://", address, "/metrics")).body;
  size_t at = page.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(page.substr(at + series.size() + 2));
}

// A log klaxon is reading while it is killed, with lines still being written:
// after the restart every line of the file is counted exactly once, and the
// counters continue from where they were rather than resetting.
TEST(LogSourceProcessTest, KillNineNeitherLosesNorDoubleCountsALine) {
  TempDir dir;
  const std::string log_path = dir.File("app.log");
  int64_t lines = 0;
  int64_t errors = 0;
  auto append = [&](int n) {
    std::ofstream out(log_path, std::ios::app);
    for (int i = 0; i < n; ++i, ++lines) {
      const bool error = lines % 7 == 0;
      errors += error;
      out << "2026-11-24T10:00:00Z " << (error ? "ERROR" : "INFO") << " request " << lines
          << " took 12ms path=/api/v1/orders user=someone@example.com\n";
    }
  };
  append(300000);
  WriteFile(dir.File("klaxon.toml"), R"(
[server]
listen = "127.0.0.1:0"
data_dir = "data"

[[log]]
name = "app"
path = "app.log"
start = "beginning"
[[log.match]]
name = "errors"
contains = " ERROR "
)");
  auto run = [&](const std::string& log_name) {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{BinaryPath("klaxon"), "run", "--config", dir.File("klaxon.toml")},
        dir.File(log_name));
  };
  auto first = run("first.log");
  const std::string first_address = ListenAddress(*first);
  ASSERT_FALSE(first_address.empty()) << first->Log();
  // Killed as soon as it has counted something: most likely in the middle of
  // the backlog, with lines still to read.
  ASSERT_TRUE(WaitFor([&] { return MetricValue(first_address, "log_lines_total{log=\"app\"}") > 0; },
                      kBound))
      << first->Log();
  append(1000);
  first->Signal(SIGKILL);
  ASSERT_TRUE(first->Wait(kBound).has_value());
  append(20000);

  auto second = run("second.log");
  const std::string address = ListenAddress(*second);
  ASSERT_FALSE(address.empty()) << second->Log();
  append(5);
  ASSERT_TRUE(WaitFor(
      [&] { return MetricValue(address, "log_lines_total{log=\"app\"}") == lines; }, kBound))
      << "counted " << MetricValue(address, "log_lines_total{log=\"app\"}") << " of " << lines
      << "\n" << second->Log();
  EXPECT_EQ(MetricValue(address, "log_matches_total{log=\"app\",match=\"errors\"}"), errors);
  // One more line: the count moves by exactly one, so nothing was pending twice.
  append(1);
  ASSERT_TRUE(WaitFor(
      [&] { return MetricValue(address, "log_lines_total{log=\"app\"}") == lines; }, kBound));
  EXPECT_EQ(MetricValue(address, "log_matches_total{log=\"app\",match=\"errors\"}"), errors);
}

// `klaxon postmortem` prints the same document whether it asks the running
// daemon or reads the ledger in its data_dir.
TEST_F(DaemonProcessTest, PostmortemCommandPrintsTheDocumentFromTheApiOrTheLedger) {
  WriteFile(dir_.File("pm.toml"), absl::StrFormat(R"(
[server]
listen = "127.0.0.1:0"
data_dir = "pm-data"

[[service]]
name = "api"
[service.sla]
time_to_acknowledge = "1h"
time_to_resolve = "4h"

[[probe.http]]
name = "api"
service = "api"
url = "http://%s/health"
interval = "100ms"
timeout = "80ms"

[[rule]]
name = "ApiDown"
service = "api"
severity = "critical"
summary = "api health probe failing"
expr = 'probe_success{probe="api"} == 0'
)",
                                                  service_->address()));
  ChildProcess daemon({BinaryPath("klaxon"), "run", "--config", dir_.File("pm.toml")},
                      dir_.File("pm-run.log"));
  const std::string address = ListenAddress(daemon);
  ASSERT_FALSE(address.empty()) << daemon.Log();
  auto klaxon = [&](std::vector<std::string> words, const std::string& log) {
    std::vector<std::string> argv = {BinaryPath("klaxon")};
    argv.insert(argv.end(), words.begin(), words.end());
    auto child = std::make_unique<ChildProcess>(argv, dir_.File(log));
    std::optional<int> status = child->Wait(kBound);
    return std::make_pair(status.value_or(-1), child->Log());
  };
  const std::string server = absl::StrCat("--server=", address);
  healthy_ = false;
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(
                                klaxon({"incidents", "list", server}, "list1.log").second,
                                "INC-000001  open"); },
                      kBound))
      << daemon.Log();
  healthy_ = true;
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(
                                klaxon({"incidents", "list", server}, "list2.log").second,
                                "INC-000001  resolved"); },
                      kBound))
      << daemon.Log();

  auto [from_api, api_document] = klaxon(
      {"postmortem", "INC-000001", absl::StrCat("--server=http://", address)}, "pm-api.log");
  EXPECT_EQ(from_api, 0) << api_document;
  EXPECT_THAT(api_document, ::testing::StartsWith(
                                "# Post-mortem: INC-000001 api health probe failing\n\n"
                                "- **Service:** api\n- **Severity:** critical\n"
                                "- **Rule:** ApiDown\n"));
  EXPECT_THAT(api_document, HasSubstr("- **Acknowledged:** not acknowledged\n"));
  EXPECT_THAT(api_document, HasSubstr("| First evidence | condition first seen: "));
  EXPECT_THAT(api_document, HasSubstr("| Detected | incident opened: api health probe failing"));
  EXPECT_THAT(api_document, HasSubstr("| Time to resolve | "));
  EXPECT_THAT(api_document, HasSubstr("## Follow-up actions\n\n- [ ] \n"));

  auto [from_ledger, ledger_document] =
      klaxon({"postmortem", "INC-000001", "--state", dir_.File("pm-data")}, "pm-ledger.log");
  EXPECT_EQ(from_ledger, 0) << ledger_document;
  EXPECT_EQ(ledger_document, api_document);

  auto [missing, missing_log] = klaxon({"postmortem", "INC-000042", server}, "pm-404.log");
  EXPECT_EQ(missing, 1);
  EXPECT_THAT(missing_log, HasSubstr("404"));
  auto [nowhere, nowhere_log] =
      klaxon({"postmortem", "INC-000001", "--state", dir_.File("no-such-dir")}, "pm-none.log");
  EXPECT_EQ(nowhere, 1);
  EXPECT_THAT(nowhere_log, HasSubstr("no ledger at"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("no-such-dir")));
  auto [usage, usage_log] = klaxon({"postmortem"}, "pm-usage.log");
  EXPECT_EQ(usage, 2);
  EXPECT_THAT(usage_log, HasSubstr("usage: klaxon postmortem INC-000123"));
}

}  // namespace
}  // namespace klaxon
