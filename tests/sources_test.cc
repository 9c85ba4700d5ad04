// Every kind of source wired through a real daemon, in process: what a pushed
// sample, a scraped target, a log line and a syslog message become on
// /metrics and, through a rule, as an incident; and what bad pushes are told.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "detector/clock.h"
#include "detector/config.h"
#include "detector/daemon.h"
#include "detector/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/receiver.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;
using testing::HttpGet;
using testing::HttpPost;
using ::testing::Not;
using testing::TempDir;
using testing::WaitFor;
using testing::WebhookReceiver;

constexpr absl::Duration kBound = absl::Seconds(20);
constexpr char kToken[] = "s3cret-push-token";

class SourcesTest : public ::testing::Test {
 protected:
  SourcesTest() { setenv("KLAXON_TEST_PUSH_TOKEN", kToken, 1); }

  // `sources` is TOML appended to a config with a server and a webhook sink.
  void StartDaemon(const std::string& sources) {
    const std::string text = absl::StrFormat(R"(
[server]
listen = "127.0.0.1:0"
data_dir = "%s"
push_tokens = ["env:KLAXON_TEST_PUSH_TOKEN"]
max_body_bytes = 4096

[rules]
tick = "100ms"

[[sink]]
name = "tickets"
type = "webhook"
url = "%s"
%s
)",
                                             dir_.path(), receiver_.url(), sources);
    absl::StatusOr<Config> config = LoadConfigString(text, dir_.File("klaxon.toml"));
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(*config, clock_);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
  }

  std::string Url(const std::string& path) {
    return absl::StrCat("http://", daemon_->address(), path);
  }
  std::string Metrics() { return HttpGet(Url("/metrics")).body; }
  bool MetricsHave(const std::string& line) {
    return WaitFor([&] { return absl::StrContains(Metrics(), line); }, kBound);
  }
  testing::HttpResult Push(const std::string& path, const std::string& body,
                           const std::string& token = kToken) {
    return HttpPost(Url(path), body, {{"Authorization", absl::StrCat("Bearer ", token)}});
  }

  TempDir dir_;
  WebhookReceiver receiver_;
  RealClock clock_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(SourcesTest, PushedTextSamplesReachRulesAndMetrics) {
  StartDaemon(R"(
[[rule]]
name = "QueueBacklog"
expr = 'queue_depth{queue="orders"} > 100'
summary = "orders queue at {{ $value }}"
)");
  testing::HttpResult pushed = Push("/api/v1/write",
                                    "# TYPE queue_depth gauge\n"
                                    "queue_depth{queue=\"orders\"} 250\n"
                                    "queue_depth{queue=\"mail\"} 3\n");
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  EXPECT_EQ(nlohmann::json::parse(pushed.body)["accepted"], 2);
  EXPECT_TRUE(MetricsHave("queue_depth{queue=\"mail\"} 3"));
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  EXPECT_EQ(receiver_.accepted("opened")[0].body["incident"]["summary"], "orders queue at 250");
}

TEST_F(SourcesTest, PushedEventsReachRules) {
  StartDaemon(R"(
[[rule]]
name = "DeployFailed"
expr = 'deploy_failed{service="checkout"} == 1'
)");
  testing::HttpResult pushed = Push("/api/v1/events", R"([
    {"name": "deploy_failed", "labels": {"service": "checkout"}, "value": 1},
    {"name": "deploy_failed", "labels": {"service": "search"}, "value": 0}
  ])");
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  EXPECT_EQ(nlohmann::json::parse(pushed.body)["accepted"], 2);
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  EXPECT_EQ(receiver_.accepted("opened")[0].body["incident"]["labels"]["service"], "checkout");
}

TEST_F(SourcesTest, BadPushesAreRefusedWithReasonsAndLeaveNoTrace) {
  StartDaemon("");
  testing::HttpResult no_token =
      HttpPost(Url("/api/v1/write"), "a 1\n", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(no_token.status, 401);
  EXPECT_THAT(no_token.body, HasSubstr("bearer token"));
  EXPECT_EQ(Push("/api/v1/write", "a 1\n", "s3cret-push-tokeX").status, 401);
  EXPECT_EQ(Push("/api/v1/write", "a 1\n", "s3cret").status, 401);

  testing::HttpResult bad_text = Push("/api/v1/write", "good 1\nbad{x=\"1\" 2\n");
  EXPECT_EQ(bad_text.status, 400);
  EXPECT_THAT(bad_text.body, HasSubstr("line 2"));

  testing::HttpResult bad_json = Push("/api/v1/events", R"([{"name": "ok_metric", "value": 1},
      {"name": "9bad", "value": 1}])");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_THAT(bad_json.body, HasSubstr("events[1].name"));
  EXPECT_EQ(Push("/api/v1/events", "{").status, 400);
  EXPECT_THAT(Push("/api/v1/events", R"([{"name": "x", "value": "high"}])").body,
              HasSubstr("events[0].value"));

  testing::HttpResult too_big = Push("/api/v1/write", std::string(8192, '#'));
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(HttpGet(Url("/api/v1/write")).status, 405);

  // Nothing of a refused body was taken: neither the good first line nor the
  // first event.
  std::string metrics = Metrics();
  EXPECT_THAT(metrics, Not(HasSubstr("good")));
  EXPECT_THAT(metrics, Not(HasSubstr("ok_metric")));
}

TEST_F(SourcesTest, LogMatchesOpenAnIncidentCarryingTheLines) {
  const std::string log_path = dir_.File("access.log");
  { std::ofstream create(log_path); }
  StartDaemon(absl::StrFormat(R"(
[[log]]
name = "nginx"
path = "%s"
[[log.match]]
name = "http_5xx"
regex = '" (?P<code>5\d\d) '
[[log.match]]
name = "timeouts"
contains = "upstream timed out"

[[rule]]
name = "CheckoutErrors"
expr = 'log_matches_total{log="nginx",match="http_5xx"} >= 3'
)",
                              log_path));
  ASSERT_TRUE(MetricsHave("log_lines_total{log=\"nginx\"} 0"));
  {
    std::ofstream out(log_path, std::ios::app);
    out << "1.2.3.4 - - \"GET / HTTP/1.1\" 200 12\n";
    for (int i = 0; i < 3; ++i) out << "1.2.3.4 - - \"POST /pay HTTP/1.1\" 503 0 #" << i << "\n";
    out << "upstream timed out while reading\n";
  }
  EXPECT_TRUE(MetricsHave("log_lines_total{log=\"nginx\"} 5"));
  EXPECT_TRUE(MetricsHave("log_matches_total{code=\"503\",log=\"nginx\",match=\"http_5xx\"} 3"));
  EXPECT_TRUE(MetricsHave("log_matches_total{log=\"nginx\",match=\"timeouts\"} 1"));
  // Exported as mtail exports its counters, so rate() reads them right.
  EXPECT_THAT(Metrics(), HasSubstr("# TYPE log_lines_total counter"));
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  auto incident = nlohmann::json::parse(HttpGet(Url("/api/v1/incidents/INC-000001")).body);
  EXPECT_THAT(incident.dump(), HasSubstr("POST /pay HTTP/1.1\\\" 503 0 #2"));
}

TEST_F(SourcesTest, SyslogMessagesAreCountedAsLogLines) {
  const int port = testing::FreePort();
  StartDaemon(absl::StrFormat(R"(
[[log]]
name = "edge"
syslog = "udp://127.0.0.1:%d"
[[log.match]]
name = "denied"
contains = "denied"
)",
                              port));
  int sock = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (const std::string message :
       {"<34>Nov 24 10:00:00 fw1 sshd[42]: access denied for root",
        "<165>1 2026-11-24T10:00:01.000Z fw1 sshd 42 ID47 - session opened"}) {
    ASSERT_EQ(sendto(sock, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof(to)),
              static_cast<ssize_t>(message.size()));
  }
  close(sock);
  EXPECT_TRUE(MetricsHave("log_lines_total{log=\"edge\"} 2"));
  EXPECT_TRUE(MetricsHave("log_matches_total{log=\"edge\",match=\"denied\"} 1"));
}

TEST_F(SourcesTest, ScrapedTargetsCarryJobAndInstance) {
  auto target = HttpServer::Start("127.0.0.1:0", [](const HttpRequest&) {
    return HttpResponse::Text(200,
                              "# TYPE jobs_waiting gauge\n"
                              "jobs_waiting{queue=\"email\"} 7\n");
  });
  ASSERT_TRUE(target.ok());
  const std::string address = (*target)->address();
  StartDaemon(absl::StrFormat(R"(
[[scrape]]
job = "worker"
targets = ["http://%s/metrics"]
interval = "100ms"
labels = { env = "test" }

[[rule]]
name = "JobsPiling"
expr = 'jobs_waiting{job="worker"} > 5'
)",
                              address));
  EXPECT_TRUE(MetricsHave(absl::StrCat("jobs_waiting{env=\"test\",instance=\"", address,
                                       "\",job=\"worker\",queue=\"email\"} 7")));
  EXPECT_TRUE(
      MetricsHave(absl::StrCat("up{env=\"test\",instance=\"", address, "\",job=\"worker\"} 1")));
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
}

}  // namespace
}  // namespace klaxon
