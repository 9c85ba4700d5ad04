// A person acknowledges an incident over the API: the state, the actor on the
// timeline, the time_to_acknowledge clock, the delivery to the ticketing
// system, and what a wrong token or a second acknowledgement is told.
#include <stdlib.h>

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

class AcknowledgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("KLAXON_TEST_ALICE_TOKEN", "alice-token-1", 1);
    auto service = HttpServer::Start("127.0.0.1:0", [this](const HttpRequest&) {
      ++probes_;
      return healthy_ ? HttpResponse::Text(200, "ok\n") : HttpResponse::Text(503, "down\n");
    });
    ASSERT_TRUE(service.ok());
    service_ = std::move(*service);
    absl::StatusOr<Config> config =
        LoadConfigString(absl::StrFormat(R"(
[server]
listen = "127.0.0.1:0"
data_dir = "%s"
api_tokens = { alice = "env:KLAXON_TEST_ALICE_TOKEN" }

[[service]]
name = "checkout"
[service.sla]
time_to_acknowledge = "15m"
time_to_resolve = "4h"

[[probe.http]]
name = "home"
service = "checkout"
url = "http://%s/"
interval = "100ms"
timeout = "80ms"

[[rule]]
name = "CheckoutDown"
service = "checkout"
expr = 'probe_success == 0'
%s

[[sink]]
name = "tickets"
type = "webhook"
url = "%s"
)",
                                         dir_.path(), service_->address(), RuleExtra(), receiver_.url()),
                         dir_.File("klaxon.toml"));
    ASSERT_TRUE(config.ok()) << config.status();
    auto daemon = Daemon::Start(*config, clock_);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
  }

  // More keys for the rule, by fixtures that need them.
  virtual std::string RuleExtra() const { return ""; }

  std::string Url(const std::string& path) {
    return absl::StrCat("http://", daemon_->address(), path);
  }
  testing::HttpResult Ack(const std::string& id, const std::string& token,
                          const std::string& body = "") {
    return Act("ack", id, token, body);
  }
  testing::HttpResult Act(const std::string& action, const std::string& id,
                          const std::string& token, const std::string& body = "") {
    return HttpPost(Url(absl::StrCat("/api/v1/incidents/", id, "/", action)), body,
                    {{"Authorization", absl::StrCat("Bearer ", token)}});
  }
  nlohmann::json Incident(const std::string& id) {
    return nlohmann::json::parse(HttpGet(Url(absl::StrCat("/api/v1/incidents/", id))).body);
  }
  nlohmann::json Clock(const nlohmann::json& incident, const std::string& name) {
    for (const auto& clock : incident["sla_clocks"]) {
      if (clock["clock"] == name) return clock;
    }
    return {};
  }

  std::atomic<bool> healthy_{false};
  std::atomic<int> probes_{0};
  std::unique_ptr<HttpServer> service_;
  TempDir dir_;
  WebhookReceiver receiver_;
  RealClock clock_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(AcknowledgeTest, AcknowledgementRecordsTheActorMeetsTheClockAndTellsTheSink) {
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  EXPECT_EQ(Ack("INC-000001", "wrong-token").status, 401);
  EXPECT_EQ(Ack("INC-000099", "alice-token-1").status, 404);
  EXPECT_EQ(Ack("INC-x", "alice-token-1").status, 400);
  EXPECT_EQ(HttpGet(Url("/api/v1/incidents/INC-000001/ack")).status, 405);
  EXPECT_EQ(Incident("INC-000001")["state"], "open");

  testing::HttpResult acked = Ack("INC-000001", "alice-token-1", R"({"comment": "on it"})");
  ASSERT_EQ(acked.status, 200) << acked.body;
  nlohmann::json incident = Incident("INC-000001");
  EXPECT_EQ(incident["state"], "acknowledged");
  EXPECT_THAT(incident["timeline"].dump(), HasSubstr("acknowledged by alice: on it"));
  EXPECT_EQ(Clock(incident, "time_to_acknowledge")["state"], "met");
  EXPECT_EQ(Clock(incident, "time_to_resolve")["state"], "running");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("acknowledged").size() == 1; }, kBound));
  EXPECT_EQ(receiver_.accepted("acknowledged")[0].incident_id, "INC-000001");

  testing::HttpResult again = Ack("INC-000001", "alice-token-1");
  EXPECT_EQ(again.status, 409);
  EXPECT_THAT(again.body, HasSubstr("acknowledged"));

  // An acknowledged incident still resolves when its condition clears.
  healthy_ = true;
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 1; }, kBound));
  incident = Incident("INC-000001");
  EXPECT_EQ(incident["state"], "resolved");
  EXPECT_EQ(Clock(incident, "time_to_resolve")["state"], "met");
  EXPECT_EQ(Ack("INC-000001", "alice-token-1").status, 409);
}

TEST_F(AcknowledgeTest, AResolveBeforeAnyAcknowledgementKeepsTheAcknowledgePromise) {
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  healthy_ = true;
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 1; }, kBound));
  nlohmann::json incident = Incident("INC-000001");
  EXPECT_EQ(Clock(incident, "time_to_acknowledge")["state"], "met");
  EXPECT_THAT(incident["timeline"].dump(), HasSubstr("resolved before acknowledgement"));
}

TEST_F(AcknowledgeTest, AResolveByHandHoldsUntilTheConditionClears) {
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  EXPECT_EQ(Act("resolve", "INC-000001", "wrong-token").status, 401);
  testing::HttpResult resolved =
      Act("resolve", "INC-000001", "alice-token-1", R"({"comment": "false alarm"})");
  ASSERT_EQ(resolved.status, 200) << resolved.body;
  nlohmann::json incident = Incident("INC-000001");
  EXPECT_EQ(incident["state"], "resolved");
  EXPECT_THAT(incident["timeline"].dump(), HasSubstr("resolved by alice: false alarm"));
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 1; }, kBound));
  EXPECT_EQ(Act("resolve", "INC-000001", "alice-token-1").status, 409);

  // The service is still down: the alert keeps firing, and opens nothing new
  // until its condition has cleared once, however many probe runs fail.
  const int seen = probes_;
  ASSERT_TRUE(WaitFor([&] { return probes_ >= seen + 10; }, kBound));
  EXPECT_EQ(nlohmann::json::parse(HttpGet(Url("/api/v1/incidents")).body)["incidents"].size(), 1u);
  EXPECT_EQ(receiver_.accepted("opened").size(), 1u);

  // After it clears, the next outage is a new incident.
  healthy_ = true;
  ASSERT_TRUE(WaitFor(
      [&] {
        return HttpGet(Url("/metrics"))
                   .body.find("probe_success{probe=\"home\",service=\"checkout\"} 1") !=
               std::string::npos;
      },
      kBound));
  healthy_ = false;
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 2; }, kBound));
  EXPECT_EQ(receiver_.accepted("opened")[1].incident_id, "INC-000002");
}

TEST_F(AcknowledgeTest, ChangesBeforeAnIncidentAreOnItsTimeline) {
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  healthy_ = true;
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 1; }, kBound));

  auto post = [&](const std::string& body, const std::string& token = "alice-token-1") {
    return HttpPost(Url("/api/v1/changes"), body, {{"Authorization", "Bearer " + token}});
  };
  EXPECT_EQ(post(R"({"service": "checkout", "what": "x"})", "wrong").status, 401);
  EXPECT_EQ(post(R"({"service": "search", "what": "x"})").status, 400);
  EXPECT_EQ(post(R"({"service": "checkout"})").status, 400);
  EXPECT_EQ(post(R"({"service": "checkout", "what": "x", "colour": "red"})").status, 400);
  testing::HttpResult deploy = post(
      R"({"service": "checkout", "what": "deploy v42", "who": "ci", "link": "https://ci/42"})");
  ASSERT_EQ(deploy.status, 201) << deploy.body;
  nlohmann::json listed =
      nlohmann::json::parse(HttpGet(Url("/api/v1/changes?service=checkout")).body);
  ASSERT_EQ(listed["changes"].size(), 1u);
  EXPECT_EQ(listed["changes"][0]["who"], "ci");

  healthy_ = false;
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 2; }, kBound));
  nlohmann::json incident = Incident("INC-000002");
  EXPECT_THAT(incident["timeline"].dump(),
              HasSubstr("change before this incident: deploy v42 (by ci) https://ci/42"));
  // The first incident came before the change and does not show it.
  EXPECT_THAT(Incident("INC-000001")["timeline"].dump(), Not(HasSubstr("deploy v42")));
}

class ManualResolveOnlyTest : public AcknowledgeTest {
 protected:
  std::string RuleExtra() const override { return "auto_resolve = false"; }
};

TEST_F(ManualResolveOnlyTest, TheIncidentWaitsForAPersonAfterTheConditionClears) {
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  healthy_ = true;
  ASSERT_TRUE(WaitFor(
      [&] {
        return Incident("INC-000001")["timeline"].dump().find("stays open until a person") !=
               std::string::npos;
      },
      kBound));
  // Many evaluations later it is still open, noted once, and nothing was resolved.
  const int seen = probes_;
  ASSERT_TRUE(WaitFor([&] { return probes_ >= seen + 10; }, kBound));
  nlohmann::json incident = Incident("INC-000001");
  EXPECT_EQ(incident["state"], "open");
  int noted = 0;
  for (const auto& entry : incident["timeline"]) noted += entry["kind"] == "cleared";
  EXPECT_EQ(noted, 1);
  EXPECT_TRUE(receiver_.accepted("resolved").empty());

  ASSERT_EQ(Act("resolve", "INC-000001", "alice-token-1").status, 200);
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 1; }, kBound));
  EXPECT_EQ(Incident("INC-000001")["state"], "resolved");
}

}  // namespace
}  // namespace klaxon
