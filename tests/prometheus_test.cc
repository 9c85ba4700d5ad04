// A real Prometheus (Debian's package) scrapes a real klaxon, and the page
// passes promtool's checks.
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "detector/clock.h"
#include "detector/config.h"
#include "detector/daemon.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "tests/support/receiver.h"

namespace klaxon {
namespace {

using testing::ChildProcess;
using testing::FindProgram;
using testing::HttpGet;
using testing::TempDir;
using testing::WaitFor;

class PrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Every kind of source on the page: probes, a log with captures, a scrape.
    std::ofstream(dir_.File("app.log")) << "ERROR DISK full\nINFO ok\nERROR NET down\n";
    absl::StatusOr<Config> config = LoadConfigString(absl::StrFormat(R"(
[server]
listen = "127.0.0.1:0"
data_dir = "%s"

[[service]]
name = "checkout"

[[probe.http]]
name = "nowhere"
service = "checkout"
url = "http://127.0.0.1:%d/"
interval = "200ms"
timeout = "100ms"

[[probe.tcp]]
name = "nowhere-tcp"
address = "127.0.0.1:%d"
interval = "200ms"
timeout = "100ms"

[[log]]
name = "app"
path = "app.log"
start = "beginning"
[[log.match]]
name = "errors"
regex = 'ERROR (?P<code>[A-Z]+)'

[[scrape]]
job = "self"
targets = ["http://127.0.0.1:%d/metrics"]
interval = "200ms"

[[rule]]
name = "NowhereDown"
service = "checkout"
severity = "critical"
expr = 'probe_success == 0'
)",
                                                                     dir_.path(), testing::FreePort(),
                                                                     testing::FreePort(),
                                                                     testing::FreePort()),
                                                     dir_.File("klaxon.toml"));
    ASSERT_TRUE(config.ok()) << config.status();
    auto daemon = Daemon::Start(*config, clock_);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
  }

  RealClock clock_;
  TempDir dir_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(PrometheusTest, PromtoolAcceptsTheMetricsPage) {
  std::string promtool = FindProgram("promtool");
  ASSERT_FALSE(promtool.empty()) << "promtool not found: install Debian's prometheus package";
  // Wait for an incident, so the page has every family with values.
  ASSERT_TRUE(WaitFor(
      [&] {
        return HttpGet(absl::StrCat("http://", daemon_->address(), "/metrics"))
                   .body.find("klaxon_incidents_open{service=\"checkout\",severity=\"critical\"} 1") !=
               std::string::npos &&
               HttpGet(absl::StrCat("http://", daemon_->address(), "/metrics"))
                       .body.find("log_matches_total{code=\"NET\"") != std::string::npos;
      },
      absl::Seconds(20)));
  std::string page = HttpGet(absl::StrCat("http://", daemon_->address(), "/metrics")).body;
  std::ofstream(dir_.File("metrics.txt")) << page;
  ChildProcess check({"/bin/sh", "-c", absl::StrCat(promtool, " check metrics < ", dir_.File("metrics.txt"))},
                     dir_.File("promtool.log"));
  std::optional<int> status = check.Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0) << check.Log() << "\n" << page;
}

TEST_F(PrometheusTest, PrometheusScrapesKlaxon) {
  std::string prometheus = FindProgram("prometheus");
  ASSERT_FALSE(prometheus.empty()) << "prometheus not found: install Debian's prometheus package";
  int port = testing::FreePort();
  std::ofstream(dir_.File("prometheus.yml")) << absl::StrFormat(R"(
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: klaxon
    static_configs:
      - targets: ["%s"]
)",
                                                                daemon_->address());
  ChildProcess server({prometheus, absl::StrCat("--config.file=", dir_.File("prometheus.yml")),
                       absl::StrCat("--storage.tsdb.path=", dir_.File("tsdb")),
                       absl::StrFormat("--web.listen-address=127.0.0.1:%d", port)},
                      dir_.File("prometheus.log"));
  std::string query = absl::StrFormat(
      "http://127.0.0.1:%d/api/v1/query?query=klaxon_incidents_open", port);
  nlohmann::json answer;
  bool found = WaitFor(
      [&] {
        answer = nlohmann::json::parse(HttpGet(query).body, nullptr, false);
        return answer.is_object() && answer.value("status", "") == "success" &&
               !answer["data"]["result"].empty();
      },
      absl::Seconds(60));
  ASSERT_TRUE(found) << server.Log();
  const auto& series = answer["data"]["result"][0]["metric"];
  EXPECT_EQ(series["__name__"], "klaxon_incidents_open");
  EXPECT_EQ(series["service"], "checkout");
  EXPECT_EQ(series["job"], "klaxon");
}

}  // namespace
}  // namespace klaxon
