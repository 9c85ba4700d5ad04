// The incident lifecycle around the basic open/resolve, driven through the push
// API of a real daemon with a real webhook receiver: reopening within
// reopen_window, flapping, group_by, silences and maintenance windows,
// escalation and reminders, the notification budget, dead letters, the clock
// start option, post-mortems, the availability report, and reloads.
#include <stdlib.h>

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/civil_time.h"
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
using testing::TempDir;
using testing::WaitFor;
using testing::WebhookReceiver;

constexpr absl::Duration kBound = absl::Seconds(20);

// Everything but the parts a test varies; %1$s data_dir, %2$s receiver URL.
constexpr char kBase[] = R"(
[server]
listen = "127.0.0.1:0"
data_dir = "%1$s"
push_tokens = ["env:KLAXON_LIFECYCLE_PUSH"]
api_tokens = { alice = "env:KLAXON_LIFECYCLE_ALICE" }

[rules]
tick = "100ms"

[[sink]]
name = "tickets"
type = "webhook"
url = "%2$s"
)";

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("KLAXON_LIFECYCLE_PUSH", "push-token", 1);
    setenv("KLAXON_LIFECYCLE_ALICE", "alice-token", 1);
  }
  void TearDown() override {
    if (daemon_) daemon_->Stop();
  }

  // Starts klaxon with the base config plus `extra` (written to a file, so that
  // a reload can read it again).
  void Start(const std::string& extra, const std::string& sink_extra = "") {
    config_text_ = absl::StrCat(absl::StrFormat(kBase, dir_.path(), receiver_.url()), sink_extra,
                                "\n", extra);
    Write(config_text_);
    absl::StatusOr<Config> config = LoadConfigFile(dir_.File("klaxon.toml"));
    ASSERT_TRUE(config.ok()) << config.status();
    auto daemon = Daemon::Start(*config, clock_);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
  }
  void Write(const std::string& text) {
    std::ofstream(dir_.File("klaxon.toml"), std::ios::trunc) << text;
  }
  std::string Url(const std::string& path) {
    return absl::StrCat("http://", daemon_->address(), path);
  }
  // Pushes one sample of up_fake per instance "name=value,..." -> value.
  void Push(const std::string& text) {
    testing::HttpResult result =
        HttpPost(Url("/api/v1/write"), text, {{"Authorization", "Bearer push-token"}});
    ASSERT_EQ(result.status, 200) << result.body;
  }
  testing::HttpResult AsAlice(const std::string& method_path, const std::string& body = "") {
    return HttpPost(Url(method_path), body, {{"Authorization", "Bearer alice-token"}});
  }
  nlohmann::json Get(const std::string& path) {
    return nlohmann::json::parse(HttpGet(Url(path)).body, nullptr, false);
  }
  nlohmann::json Incident(const std::string& id) { return Get("/api/v1/incidents/" + id); }
  int IncidentCount() { return static_cast<int>(Get("/api/v1/incidents")["incidents"].size()); }
  std::string State(const std::string& id) { return Incident(id).value("state", ""); }
  // The texts of an incident's timeline entries of one kind.
  std::vector<std::string> Timeline(const std::string& id, const std::string& kind) {
    std::vector<std::string> out;
    nlohmann::json incident = Incident(id);
    if (!incident.contains("timeline")) return out;
    for (const auto& entry : incident["timeline"]) {
      if (entry["kind"] == kind) out.push_back(entry["text"].get<std::string>());
    }
    return out;
  }

  TempDir dir_;
  WebhookReceiver receiver_;
  RealClock clock_;
  std::string config_text_;
  std::unique_ptr<Daemon> daemon_;
};

constexpr char kRule[] = R"(
[[rule]]
name = "InstanceDown"
severity = "critical"
expr = 'up_fake == 0'
)";

TEST_F(LifecycleTest, FiringAgainWithinReopenWindowReopensTheSameIncidentAndTicket) {
  Start(absl::StrCat(kRule, "reopen_window = \"1m\"\n"));
  Push("up_fake{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  Push("up_fake{instance=\"a\"} 1\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 1; }, kBound));
  Push("up_fake{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("reopened").size() == 1; }, kBound));

  EXPECT_EQ(IncidentCount(), 1);
  nlohmann::json incident = Incident("INC-000001");
  EXPECT_EQ(incident["state"], "open");
  EXPECT_EQ(incident["reopens"], 1);
  EXPECT_EQ(incident["resolved_at"], nullptr);
  EXPECT_EQ(receiver_.accepted("opened").size(), 1u);
  EXPECT_EQ(receiver_.accepted("reopened")[0].incident_id, "INC-000001");
  // The same Idempotency-Key would make a receiver drop it: each event has its own.
  EXPECT_NE(receiver_.accepted("reopened")[0].idempotency_key,
            receiver_.accepted("opened")[0].idempotency_key);
  ASSERT_EQ(Timeline("INC-000001", "reopened").size(), 1u);
  EXPECT_THAT(Timeline("INC-000001", "reopened")[0], HasSubstr("within reopen_window 1m"));
}

TEST_F(LifecycleTest, WithoutReopenWindowFiringAgainOpensANewIncident) {
  Start(kRule);
  Push("up_fake{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  Push("up_fake{instance=\"a\"} 1\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 1; }, kBound));
  Push("up_fake{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 2; }, kBound));
  EXPECT_EQ(IncidentCount(), 2);
  EXPECT_TRUE(receiver_.accepted("reopened").empty());
}

TEST_F(LifecycleTest, AFlappingIncidentHoldsItsNotificationsUntilItStaysResolved) {
  Start(absl::StrCat(R"(
[[service]]
name = "checkout"
postmortem_severity = "critical"
)",
                     absl::StrReplaceAll(kRule, {{"severity", "service = \"checkout\"\nseverity"}}),
                     "reopen_window = \"2s\"\nflap_threshold = 2\n"));
  Push("up_fake{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  // Down and up three more times: reopens 1 and 2 are told; from the second
  // reopen on (the threshold), resolutions are held.
  for (int flap = 1; flap <= 3; ++flap) {
    Push("up_fake{instance=\"a\"} 1\n");
    ASSERT_TRUE(WaitFor([&] { return State("INC-000001") == "resolved"; }, kBound)) << flap;
    Push("up_fake{instance=\"a\"} 0\n");
    ASSERT_TRUE(WaitFor([&] { return State("INC-000001") == "open"; }, kBound)) << flap;
  }
  Push("up_fake{instance=\"a\"} 1\n");
  ASSERT_TRUE(WaitFor([&] { return State("INC-000001") == "resolved"; }, kBound));
  nlohmann::json incident = Incident("INC-000001");
  EXPECT_EQ(incident["reopens"], 3);
  // Resolutions 1 and 2 went out; 3 and 4 are held; reopens 1 and 2 went out,
  // reopen 3 followed a held resolution, so the ticket never closed.
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 2; }, kBound));
  EXPECT_EQ(receiver_.accepted("reopened").size(), 2u);
  EXPECT_FALSE(Timeline("INC-000001", "notification_held").empty());
  // Two quiet seconds later the held resolution is delivered, once.
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 3; }, kBound));
  ASSERT_EQ(Timeline("INC-000001", "released").size(), 1u);
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(receiver_.accepted("resolved").size(), 3u);
  // Only the final resolution opens the post-mortem, not the flaps before it.
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("postmortem").size() == 1; }, kBound));
  EXPECT_THAT(receiver_.accepted("postmortem")[0].body.value("postmortem_markdown", ""),
              HasSubstr("reopened"));
  EXPECT_EQ(IncidentCount(), 1);
}

TEST_F(LifecycleTest, GroupByMakesOneIncidentForEveryHostOfAClusterWithTheHostsOnIt) {
  Start(absl::StrCat(kRule, "group_by = [\"cluster\"]\n"));
  Push("up_fake{cluster=\"eu\",instance=\"a\"} 0\n"
       "up_fake{cluster=\"eu\",instance=\"b\"} 0\n"
       "up_fake{cluster=\"eu\",instance=\"c\"} 0\n"
       "up_fake{cluster=\"us\",instance=\"d\"} 1\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(receiver_.accepted("opened").size(), 1u);
  nlohmann::json opened = receiver_.accepted("opened")[0].body["incident"];
  EXPECT_EQ(opened["labels"], (nlohmann::json{{"alertname", "InstanceDown"}, {"cluster", "eu"}}));
  ASSERT_EQ(opened["members"].size(), 3u);
  EXPECT_EQ(opened["members"][0]["instance"], "a");

  Push("up_fake{cluster=\"eu\",instance=\"a\"} 1\n");
  ASSERT_TRUE(WaitFor([&] { return Incident("INC-000001")["members"].size() == 2; }, kBound));
  ASSERT_EQ(Timeline("INC-000001", "members").size(), 1u);
  EXPECT_THAT(Timeline("INC-000001", "members")[0], HasSubstr("instance=\"a\""));
  EXPECT_EQ(State("INC-000001"), "open");

  // Another cluster is another incident.
  Push("up_fake{cluster=\"us\",instance=\"d\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 2; }, kBound));
  Push("up_fake{cluster=\"eu\",instance=\"b\"} 1\nup_fake{cluster=\"eu\",instance=\"c\"} 1\n");
  ASSERT_TRUE(WaitFor([&] { return State("INC-000001") == "resolved"; }, kBound));
  EXPECT_EQ(State("INC-000002"), "open");
  EXPECT_EQ(IncidentCount(), 2);
}

TEST_F(LifecycleTest, ASilenceSuppressesTicketsAndClocksUntilItIsExpired) {
  Start(absl::StrCat(R"(
[[service]]
name = "checkout"
[service.sla]
time_to_ticket = "5m"
)",
                     absl::StrReplaceAll(kRule, {{"severity", "service = \"checkout\"\nseverity"}})));
  testing::HttpResult created = AsAlice("/api/v1/silences", R"({
    "matchers": [{"name": "instance", "value": "b"}],
    "endsAt": "2099-01-01T00:00:00Z", "comment": "migrating b"})");
  ASSERT_EQ(created.status, 201) << created.body;
  nlohmann::json silence = nlohmann::json::parse(created.body);
  EXPECT_EQ(silence["createdBy"], "alice");
  EXPECT_EQ(silence["status"]["state"], "active");
  // The engine rereads silences on its tick.
  absl::SleepFor(absl::Milliseconds(300));

  Push("up_fake{instance=\"a\"} 0\nup_fake{instance=\"b\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return IncidentCount() == 2; }, kBound));
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_EQ(receiver_.accepted("opened").size(), 1u);
  std::string silenced = receiver_.accepted("opened")[0].incident_id == "INC-000001"
                             ? "INC-000002"
                             : "INC-000001";
  nlohmann::json incident = Incident(silenced);
  EXPECT_EQ(incident["labels"]["instance"], "b");
  EXPECT_THAT(incident.value("suppressed_by", ""), HasSubstr("by alice"));
  EXPECT_FALSE(incident.contains("sla_clocks"));
  ASSERT_EQ(Timeline(silenced, "suppressed").size(), 1u);
  EXPECT_THAT(Timeline(silenced, "suppressed")[0], HasSubstr("migrating b"));

  nlohmann::json listed = Get("/api/v1/silences");
  ASSERT_EQ(listed["silences"].size(), 1u);
  EXPECT_EQ(HttpPost(Url("/api/v1/silences"), "{}", {}).status, 401);
  EXPECT_EQ(AsAlice("/api/v1/silences", R"({"matchers": []})").status, 400);

  // Expiring it lets the ticket out, and the clock starts then.
  testing::HttpResult expired = testing::HttpSend(
      "DELETE", Url(absl::StrCat("/api/v1/silences/", silence["id"].get<int>())), "",
      {{"Authorization", "Bearer alice-token"}});
  ASSERT_EQ(expired.status, 200) << expired.body;
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 2; }, kBound));
  incident = Incident(silenced);
  EXPECT_FALSE(incident.contains("suppressed_by"));
  ASSERT_EQ(incident["sla_clocks"].size(), 1u);
  EXPECT_GT(incident["sla_clocks"][0]["start"].get<std::string>(),
            incident["opened_at"].get<std::string>());
  EXPECT_EQ(Get("/api/v1/silences")["silences"].size(), 0u);
}

TEST_F(LifecycleTest, AMaintenanceWindowInTheConfigSuppressesItsServiceOnly) {
  absl::CivilSecond start =
      absl::ToCivilSecond(absl::Now() - absl::Minutes(10), absl::UTCTimeZone());
  Start(absl::StrCat(absl::StrFormat(R"(
[[service]]
name = "db"
[[service]]
name = "web"

[[maintenance]]
name = "db-upgrade"
services = ["db"]
start = "%s"
duration = "1h"
time_zone = "UTC"
comment = "postgres 16"

[[rule]]
name = "DbDown"
service = "db"
expr = 'db_up == 0'
[[rule]]
name = "WebDown"
service = "web"
expr = 'web_up == 0'
)",
                                     absl::FormatCivilTime(start))));
  Push("db_up 0\nweb_up 0\n");
  ASSERT_TRUE(WaitFor([&] { return IncidentCount() == 2; }, kBound));
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_EQ(receiver_.accepted("opened").size(), 1u);
  EXPECT_EQ(receiver_.accepted("opened")[0].body["incident"]["rule"], "WebDown");
  for (const auto& incident : Get("/api/v1/incidents")["incidents"]) {
    if (incident["rule"] != "DbDown") continue;
    EXPECT_THAT(incident.value("suppressed_by", ""), HasSubstr("maintenance db-upgrade"));
    EXPECT_THAT(incident.value("suppressed_by", ""), HasSubstr("postgres 16"));
  }
}

TEST_F(LifecycleTest, AnUnacknowledgedIncidentEscalatesUntilSomeoneAcknowledges) {
  Start(absl::StrCat(R"(
[[service]]
name = "checkout"
notify = ["@oncall"]
ack_timeout = "1s"
[[service.escalation]]
after = "1s"
notify = ["@lead"]
[[service.escalation]]
after = "1h"
notify = ["@cto"]
)",
                     absl::StrReplaceAll(kRule, {{"severity", "service = \"checkout\"\nseverity"}})));
  Push("up_fake{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("escalated").size() == 1; }, kBound));
  ASSERT_EQ(Timeline("INC-000001", "escalated").size(), 1u);
  EXPECT_THAT(Timeline("INC-000001", "escalated")[0],
              HasSubstr("escalated to @lead: nobody acknowledged within 1s"));
  EXPECT_EQ(Incident("INC-000001")["escalations"], 1);

  ASSERT_EQ(AsAlice("/api/v1/incidents/INC-000001/ack").status, 200);
  // Acknowledged but still open a second later: a reminder, then another.
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("reminder").size() == 2; }, kBound));
  EXPECT_THAT(Timeline("INC-000001", "reminder")[0], HasSubstr("after it was acknowledged"));
  // The second step (1h) never came: the acknowledgement stopped the steps.
  EXPECT_EQ(receiver_.accepted("escalated").size(), 1u);
}

TEST_F(LifecycleTest, NoIncidentSendsMoreNotificationsThanItsBudget) {
  // A chat notifier counted against max_notifications; the ticket sink is not.
  WebhookReceiver chat;
  Start(absl::StrCat(R"(
[[service]]
name = "checkout"
notify = ["@oncall"]
max_notifications = 2
ack_timeout = "1s"
)",
                     absl::StrReplaceAll(kRule, {{"severity", "service = \"checkout\"\nseverity"}})),
        absl::StrFormat("\n[[sink]]\nname = \"chat\"\ntype = \"chat\"\nurl = \"%s\"\n", chat.url()));
  Push("up_fake{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  ASSERT_EQ(AsAlice("/api/v1/incidents/INC-000001/ack").status, 200);
  // opened + acknowledged spend the budget of 2; the reminders reach the
  // ticket, not the chat.
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("reminder").size() == 2; }, kBound));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(chat.accepted().size(), 2u);
  EXPECT_THAT(chat.accepted()[0].body.value("text", ""), HasSubstr("@oncall"));
  EXPECT_FALSE(Timeline("INC-000001", "notification_held").empty());
  EXPECT_THAT(Timeline("INC-000001", "notification_held")[0],
              HasSubstr("notification budget of 2 spent"));
}

TEST_F(LifecycleTest, ADeliveryFailingPastItsAgeIsDeadLetteredAndCanBeRetried) {
  receiver_.set_status(500);
  Start(kRule, "dead_letter_after = \"1s\"\n");
  Push("up_fake{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return Get("/api/v1/outbox/dead")["dead_letters"].size() == 1; },
                      kBound));
  nlohmann::json dead = Get("/api/v1/outbox/dead")["dead_letters"][0];
  EXPECT_EQ(dead["incident"], "INC-000001");
  EXPECT_EQ(dead["event"], "opened");
  EXPECT_THAT(dead["last_error"].get<std::string>(), HasSubstr("500"));
  EXPECT_THAT(HttpGet(Url("/metrics")).body,
              HasSubstr("klaxon_outbox_dead_letters{sink=\"tickets\"} 1"));
  EXPECT_THAT(HttpGet(Url("/metrics")).body, HasSubstr("klaxon_outbox_pending{sink=\"tickets\"} 0"));
  ASSERT_EQ(Timeline("INC-000001", "dead_letter").size(), 1u);

  receiver_.set_status(200);
  EXPECT_EQ(AsAlice("/api/v1/outbox/999/retry").status, 404);
  testing::HttpResult retried =
      AsAlice(absl::StrCat("/api/v1/outbox/", dead["id"].get<int>(), "/retry"));
  ASSERT_EQ(retried.status, 200) << retried.body;
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  EXPECT_TRUE(WaitFor([&] { return Get("/api/v1/outbox/dead")["dead_letters"].empty(); }, kBound));
}

TEST_F(LifecycleTest, ClocksStartAtDetectionWhenTheServiceSaysSo) {
  Start(absl::StrCat(R"(
[[service]]
name = "checkout"
[service.sla]
clock_start = "detection"
time_to_resolve = "4h"
)",
                     absl::StrReplaceAll(kRule, {{"severity", "service = \"checkout\"\nfor = \"1s\"\nseverity"}})));
  Push("up_fake{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  nlohmann::json incident = Incident("INC-000001");
  EXPECT_LT(incident["first_evidence_at"].get<std::string>(), incident["opened_at"].get<std::string>());
  EXPECT_EQ(incident["sla_clocks"][0]["start"], incident["opened_at"]);
}

TEST_F(LifecycleTest, ACriticalIncidentOpensItsPostMortemWhenItResolves) {
  Start(absl::StrCat(R"(
[[service]]
name = "checkout"
postmortem_severity = "major"
[service.sla]
availability = "99.9%"
)",
                     absl::StrReplaceAll(kRule, {{"severity", "service = \"checkout\"\nseverity"}})));
  Push("up_fake{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  absl::SleepFor(absl::Milliseconds(200));
  Push("up_fake{instance=\"a\"} 1\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("postmortem").size() == 1; }, kBound));
  std::string markdown = receiver_.accepted("postmortem")[0].body.value("postmortem_markdown", "");
  EXPECT_THAT(markdown, HasSubstr("INC-000001"));
  EXPECT_THAT(markdown, HasSubstr("first evidence"));
  ASSERT_TRUE(WaitFor([&] { return !Timeline("INC-000001", "postmortem").empty(); }, kBound));

  // The outage counts against the month's availability.
  nlohmann::json sla = Get("/api/v1/sla?service=checkout");
  ASSERT_EQ(sla["services"].size(), 1u) << sla.dump();
  EXPECT_LT(sla["services"][0]["availability"].get<double>(), 1.0);
  EXPECT_THAT(HttpGet(Url("/metrics")).body,
              HasSubstr("klaxon_sla_availability_ratio{service=\"checkout\"}"));
  EXPECT_EQ(HttpGet(Url("/api/v1/sla?service=nope")).status, 404);
  EXPECT_EQ(HttpGet(Url("/api/v1/sla?month=2026-13")).status, 400);
  EXPECT_THAT(HttpGet(Url("/api/v1/sla?format=csv")).body, HasSubstr("checkout"));
}

TEST_F(LifecycleTest, AReloadKeepsOpenIncidentsRefusesABadConfigAndResolvesWhatWasRemoved) {
  std::string both = absl::StrCat(kRule, R"(
[[rule]]
name = "DiskFull"
expr = 'disk_free == 0'
)");
  Start(both);
  Push("up_fake{instance=\"a\"} 0\ndisk_free 0\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 2; }, kBound));

  // A broken file is refused with its position, and the old config runs on.
  Write(absl::StrCat(absl::StrFormat(kBase, dir_.path(), receiver_.url()), "[[rule]]\nname = 3\n"));
  testing::HttpResult refused = AsAlice("/-/reload");
  EXPECT_EQ(refused.status, 400);
  EXPECT_THAT(refused.body, HasSubstr("klaxon.toml:"));
  EXPECT_EQ(HttpPost(Url("/-/reload"), "", {}).status, 401);
  Push("disk_free 1\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 1; }, kBound));

  // Without InstanceDown its open incident would never resolve: it resolves now.
  Write(absl::StrCat(absl::StrFormat(kBase, dir_.path(), receiver_.url()),
                     "\n[[rule]]\nname = \"DiskFull\"\nexpr = 'disk_free == 0'\n"));
  testing::HttpResult reloaded = AsAlice("/-/reload");
  ASSERT_EQ(reloaded.status, 200) << reloaded.body;
  std::string instance_down =
      receiver_.accepted("opened")[0].body["incident"]["rule"] == "InstanceDown" ? "INC-000001"
                                                                                 : "INC-000002";
  ASSERT_TRUE(WaitFor([&] { return State(instance_down) == "resolved"; }, kBound));
  EXPECT_THAT(Timeline(instance_down, "resolved")[0], HasSubstr("removed from config (rule InstanceDown)"));
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("resolved").size() == 2; }, kBound));

  // The reloaded rules run: DiskFull opens a new incident.
  Push("disk_free 0\n");
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 3; }, kBound));
}

TEST_F(LifecycleTest, TheTicketingSystemAcknowledgesThroughItsWebhook) {
  // A Redmine stand-in: every new issue is #77, every update accepted.
  auto redmine = HttpServer::Start("127.0.0.1:0", [](const HttpRequest& request) {
    if (request.method == "POST") {
      return HttpResponse::Json(201, R"({"issue": {"id": 77}})");
    }
    return HttpResponse::Json(200, "{}");
  });
  ASSERT_TRUE(redmine.ok());
  setenv("KLAXON_LIFECYCLE_REDMINE", "redmine-key", 1);
  Start(absl::StrCat(R"(
[[service]]
name = "checkout"
tickets = ["redmine"]
[service.sla]
time_to_acknowledge = "15m"
)",
                     absl::StrReplaceAll(kRule, {{"severity", "service = \"checkout\"\nseverity"}})),
        absl::StrFormat("\n[[sink]]\nname = \"redmine\"\ntype = \"redmine\"\nurl = \"http://%s\"\n"
                        "api_key = \"env:KLAXON_LIFECYCLE_REDMINE\"\nproject = \"ops\"\n",
                        (*redmine)->address()));
  Push("up_fake{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return !Timeline("INC-000001", "ticket").empty(); }, kBound));
  EXPECT_EQ(Incident("INC-000001")["tickets"][0]["ref"], "77");

  const std::string taken = R"({"payload": {"action": "updated",
      "issue": {"id": 77, "status": {"name": "In Progress"}},
      "journal": {"author": {"login": "bob"}}}})";
  // Redmine's plugin cannot send headers: the token rides in the URL.
  EXPECT_EQ(HttpPost(Url("/api/v1/inbound/redmine?token=wrong"), taken).status, 401);
  testing::HttpResult answer = HttpPost(Url("/api/v1/inbound/redmine?token=alice-token"), taken);
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(nlohmann::json::parse(answer.body)["acknowledged"], true);
  nlohmann::json incident = Incident("INC-000001");
  EXPECT_EQ(incident["state"], "acknowledged");
  ASSERT_EQ(Timeline("INC-000001", "acknowledged").size(), 1u);
  EXPECT_THAT(Timeline("INC-000001", "acknowledged")[0],
              HasSubstr("acknowledged by bob: via Redmine #77 In Progress"));
  EXPECT_EQ(incident["sla_clocks"][0]["state"], "met");

  // A ticket klaxon does not know, and a sink with no webhooks of its own.
  testing::HttpResult other = AsAlice("/api/v1/inbound/redmine", R"({"issue": {"id": 5}})");
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(nlohmann::json::parse(other.body)["incident"], nullptr);
  EXPECT_EQ(AsAlice("/api/v1/inbound/tickets", R"({"issue": {"id": 77}})").status, 400);
  EXPECT_EQ(AsAlice("/api/v1/inbound/nope", "{}").status, 404);
  EXPECT_EQ(AsAlice("/api/v1/inbound/redmine", "[1]").status, 400);
}

TEST_F(LifecycleTest, WhileEveryCanaryFailsOneCutOffIncidentTakesEveryOtherAlert) {
  // Nothing listens on this port: the only canary fails, so klaxon is cut off.
  Start(absl::StrCat(absl::StrFormat(R"(
[connectivity]
canaries = ["tcp://127.0.0.1:%d"]
interval = "100ms"
timeout = "50ms"
)",
                                     testing::FreePort()),
                     kRule));
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted("opened").size() == 1; }, kBound));
  nlohmann::json cut_off = receiver_.accepted("opened")[0].body["incident"];
  EXPECT_EQ(cut_off["rule"], "KlaxonCutOff");
  EXPECT_THAT(cut_off["summary"].get<std::string>(), HasSubstr("klaxon is cut off"));

  Push("up_fake{instance=\"a\"} 0\nup_fake{instance=\"b\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return Timeline("INC-000001", "attached").size() == 2; }, kBound));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(IncidentCount(), 1);
  EXPECT_EQ(receiver_.accepted("opened").size(), 1u);
}

TEST_F(LifecycleTest, ASinkDownForAWholeOutageGetsEveryDeliveryInOrderWhenItIsBack) {
  receiver_.set_status(503);
  Start(kRule);
  Push("up_fake{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return IncidentCount() == 1; }, kBound));
  Push("up_fake{instance=\"b\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return IncidentCount() == 2; }, kBound));
  Push("up_fake{instance=\"a\"} 1\n");
  ASSERT_TRUE(WaitFor([&] { return State("INC-000001") == "resolved"; }, kBound));
  Push("up_fake{instance=\"b\"} 1\n");
  ASSERT_TRUE(WaitFor([&] { return State("INC-000002") == "resolved"; }, kBound));
  EXPECT_TRUE(receiver_.accepted().empty());
  EXPECT_FALSE(receiver_.requests().empty());  // it was tried, and refused

  receiver_.set_status(200);
  ASSERT_TRUE(WaitFor([&] { return receiver_.accepted().size() == 4; }, absl::Seconds(30)));
  std::vector<std::string> order;
  for (const auto& request : receiver_.accepted()) {
    order.push_back(absl::StrCat(request.event, " ", request.incident_id));
  }
  EXPECT_THAT(order, ::testing::ElementsAre("opened INC-000001", "opened INC-000002",
                                            "resolved INC-000001", "resolved INC-000002"));
}

}  // namespace
}  // namespace klaxon
