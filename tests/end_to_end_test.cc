// klaxon end to end, in process: a real local HTTP service fails, klaxon probes
// it, opens an incident, delivers the ticket to a real local webhook receiver,
// keeps the SLA clock, and resolves when the service is back.
#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "detector/clock.h"
#include "detector/config.h"
#include "detector/daemon.h"
#include "detector/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/receiver.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;
using testing::HttpGet;
using testing::TempDir;
using testing::WaitFor;
using testing::WebhookReceiver;

constexpr absl::Duration kBound = absl::Seconds(20);

// A local service whose health the test flips.
class FlakyService {
 public:
  FlakyService() {
    auto server = HttpServer::Start("127.0.0.1:0", [this](const HttpRequest&) {
      ++requests_;
      return healthy_ ? HttpResponse::Text(200, "ok\n") : HttpResponse::Text(503, "overloaded\n");
    });
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  std::string url() const { return absl::StrCat("http://", server_->address(), "/health"); }
  void set_healthy(bool healthy) { healthy_ = healthy; }
  int requests() const { return requests_; }

 private:
  std::atomic<bool> healthy_{true};
  std::atomic<int> requests_{0};
  std::unique_ptr<HttpServer> server_;
};

std::string TestConfig(const std::string& service_url, const std::string& sink_url,
                       const std::string& data_dir, const std::string& time_to_ticket = "30s") {
  return absl::StrFormat(R"(
[server]
listen = "127.0.0.1:0"
data_dir = "%s"

[[service]]
name = "checkout"
[service.sla]
time_to_ticket = "%s"

[[probe.http]]
name = "checkout-home"
service = "checkout"
url = "%s"
interval = "100ms"
timeout = "80ms"

[[rule]]
name = "CheckoutDown"
service = "checkout"
severity = "critical"
expr = 'probe_success{probe="checkout-home"} == 0'
for = "300ms"
summary = "checkout probe {{ $labels.probe }} failing"

[[sink]]
name = "tickets"
type = "webhook"
url = "%s"
timeout = "2s"
)",
                         data_dir, time_to_ticket, service_url, sink_url);
}

class EndToEndTest : public ::testing::Test {
 protected:
  void StartDaemon(const std::string& time_to_ticket = "30s") {
    absl::StatusOr<Config> config = LoadConfigString(
        TestConfig(service_.url(), receiver_.url(), dir_.path(), time_to_ticket),
        dir_.File("klaxon.toml"));
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(*config, clock_);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
  }
  std::string Api(const std::string& path) {
    return absl::StrCat("http://", daemon_->address(), path);
  }

  RealClock clock_;
  TempDir dir_;
  FlakyService service_;
  WebhookReceiver receiver_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(EndToEndTest, OutageOpensOneTicketAndRecoveryResolvesIt) {
  StartDaemon();
  // Healthy first: probes succeed and nothing is ticketed.
  ASSERT_TRUE(WaitFor([&] { return service_.requests() >= 3; }, kBound));
  EXPECT_THAT(HttpGet(Api("/metrics")).body,
              HasSubstr("probe_success{probe=\"checkout-home\",service=\"checkout\"} 1"));
  EXPECT_TRUE(receiver_.requests().empty());

  service_.set_healthy(false);
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  testing::ReceivedRequest opened = receiver_.accepted("opened")[0];
  EXPECT_EQ(opened.incident_id, "INC-000001");
  EXPECT_FALSE(opened.idempotency_key.empty());
  EXPECT_EQ(opened.body["incident"]["rule"], "CheckoutDown");
  EXPECT_EQ(opened.body["incident"]["severity"], "critical");
  EXPECT_EQ(opened.body["incident"]["summary"], "checkout probe checkout-home failing");
  EXPECT_EQ(opened.body["incident"]["labels"]["probe"], "checkout-home");
  EXPECT_THAT(opened.body["incident"]["reason"].get<std::string>(), HasSubstr("status 503"));

  // While it stays down, no second ticket.
  int seen = service_.requests();
  ASSERT_TRUE(WaitFor([&] { return service_.requests() >= seen + 5; }, kBound));
  EXPECT_EQ(receiver_.accepted("opened").size(), 1u);

  service_.set_healthy(true);
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 1; }, kBound));
  EXPECT_EQ(receiver_.accepted("resolved")[0].incident_id, "INC-000001");
  seen = service_.requests();
  ASSERT_TRUE(WaitFor([&] { return service_.requests() >= seen + 5; }, kBound));
  EXPECT_EQ(receiver_.accepted().size(), 2u) << "exactly one open and one resolve";

  // The API shows the whole story, clock met.
  auto incident = nlohmann::json::parse(HttpGet(Api("/api/v1/incidents/INC-000001")).body);
  EXPECT_EQ(incident["state"], "resolved");
  ASSERT_EQ(incident["sla_clocks"].size(), 1u);
  EXPECT_EQ(incident["sla_clocks"][0]["clock"], "time_to_ticket");
  EXPECT_EQ(incident["sla_clocks"][0]["state"], "met");
  std::vector<std::string> kinds;
  for (const auto& entry : incident["timeline"]) kinds.push_back(entry["kind"]);
  EXPECT_THAT(kinds, ::testing::IsSupersetOf({"first_evidence", "opened", "ticket", "sla_met",
                                              "resolved"}));
  std::string metrics = HttpGet(Api("/metrics")).body;
  EXPECT_THAT(metrics, HasSubstr("klaxon_incidents_total{service=\"checkout\",severity=\"critical\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("klaxon_incidents_open{service=\"checkout\",severity=\"critical\"} 0"));
  EXPECT_THAT(metrics, HasSubstr("klaxon_sla_clock_met_total{service=\"checkout\",clock=\"time_to_ticket\"} 1"));
}

TEST_F(EndToEndTest, ReceiverErrorsAreRetriedWithTheSameIdempotencyKey) {
  receiver_.set_status(500);
  // A tight time_to_ticket: the failing receiver makes klaxon miss it.
  StartDaemon("1s");
  service_.set_healthy(false);
  ASSERT_TRUE(WaitFor([&] { return receiver_.requests().size() >= 2; }, kBound));
  ASSERT_TRUE(WaitFor(
      [&] {
        return HttpGet(Api("/metrics")).body.find(
                   "klaxon_sla_clock_breaches_total{service=\"checkout\",clock=\"time_to_ticket\"} 1") !=
               std::string::npos;
      },
      kBound));
  receiver_.set_status(200);
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));

  std::vector<testing::ReceivedRequest> all = receiver_.requests();
  ASSERT_GE(all.size(), 3u);
  for (const auto& r : all) {
    if (r.event != "opened") continue;
    EXPECT_EQ(r.idempotency_key, all[0].idempotency_key);
    EXPECT_EQ(r.incident_id, "INC-000001");
  }
  // Once accepted, the delivery is not made again.
  service_.set_healthy(true);
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 1; }, kBound));
  EXPECT_EQ(receiver_.accepted("opened").size(), 1u);

  std::string metrics = HttpGet(Api("/metrics")).body;
  EXPECT_THAT(metrics, HasSubstr("klaxon_sink_deliveries_total{sink=\"tickets\",result=\"success\"} 2"));
  int refused = 0;
  for (const auto& r : receiver_.requests()) refused += r.answered == 500;
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat(
                           "klaxon_sink_deliveries_total{sink=\"tickets\",result=\"failure\"} ",
                           refused)));
  auto incident = nlohmann::json::parse(HttpGet(Api("/api/v1/incidents/INC-000001")).body);
  EXPECT_EQ(incident["sla_clocks"][0]["state"], "breached");
  std::vector<std::string> kinds;
  for (const auto& entry : incident["timeline"]) kinds.push_back(entry["kind"]);
  EXPECT_THAT(kinds, ::testing::IsSupersetOf({"delivery_failed", "sla_breached", "ticket"}));
}

TEST_F(EndToEndTest, IncidentsApiFiltersByStateAndRejectsBadInput) {
  StartDaemon();
  service_.set_healthy(false);
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  auto open = nlohmann::json::parse(HttpGet(Api("/api/v1/incidents?state=open")).body);
  ASSERT_EQ(open["incidents"].size(), 1u);
  EXPECT_EQ(open["incidents"][0]["id"], "INC-000001");
  auto resolved = nlohmann::json::parse(HttpGet(Api("/api/v1/incidents?state=resolved")).body);
  EXPECT_EQ(resolved["incidents"].size(), 0u);

  testing::HttpResult bad = HttpGet(Api("/api/v1/incidents?state=sleeping"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("unknown state"));
  EXPECT_EQ(HttpGet(Api("/api/v1/incidents/INC-000999")).status, 404);
  EXPECT_EQ(HttpGet(Api("/api/v1/incidents/banana")).status, 400);
  EXPECT_EQ(HttpGet(Api("/nope")).status, 404);
  EXPECT_EQ(HttpGet(Api("/healthz")).body, "ok\n");
}

}  // namespace
}  // namespace klaxon
