#include "exporters/pagerduty_sink.h"

#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "detector/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace klaxon {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// PagerDuty routing keys are 32 characters.
constexpr char kRoutingKey[] = "R0ut1ngKeyR0ut1ngKeyR0ut1ngKey12";

OutboxRow Row(const std::string& event = "opened") {
  OutboxRow row;
  row.id = 7;
  row.sink = "pd";
  row.event = event;
  row.incident.number = 42;
  row.incident.rule = "CheckoutDown";
  row.incident.service = "checkout";
  row.incident.severity = "major";
  row.incident.summary = "checkout down";
  row.incident.labels = Labels{{"alertname", "CheckoutDown"}, {"instance", "shop-1:443"}};
  row.incident.first_evidence = absl::FromUnixMillis(1'790'000'000'123);
  row.incident.opened_at = absl::FromUnixMillis(1'790'000'030'456);
  row.incident.value = 0;
  row.incident.reason = "connection refused";
  return row;
}

// The Events API v2 endpoint as PagerDuty runs it: 202 {"status": "success",
// "message": "Event processed", "dedup_key"} for a valid event, 400 {"status":
// "invalid event", "message", "errors"} otherwise; alerts keyed by dedup_key.
// Can be told to answer a status instead (429, 500). Thread-safe.
class FakePagerDuty {
 public:
  FakePagerDuty() {
    auto server =
        HttpServer::Start("127.0.0.1:0", [this](const HttpRequest& r) { return Serve(r); });
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  SinkOptions Options() const {
    SinkOptions options;
    options.name = "pd";
    options.type = "pagerduty";
    options.url = absl::StrCat("http://", server_->address(), "/v2/enqueue");
    options.routing_key = kRoutingKey;
    return options;
  }
  std::vector<HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // dedup_key → the alert's state: "triggered", "acknowledged", "resolved".
  std::map<std::string, std::string> alerts() {
    std::lock_guard lock(mu_);
    return alerts_;
  }
  void answer_with(int status) {
    std::lock_guard lock(mu_);
    forced_ = status;
  }

 private:
  HttpResponse Serve(const HttpRequest& r) {
    std::lock_guard lock(mu_);
    requests_.push_back(r);
    if (forced_) {
      return *forced_ == 429 ? HttpResponse::Text(429, "")
                             : HttpResponse::Text(*forced_, "upstream connect error");
    }
    nlohmann::json event = nlohmann::json::parse(r.body, nullptr, false);
    std::vector<std::string> errors;
    std::string routing_key = event.value("routing_key", "");
    if (routing_key.size() != 32) {
      errors.push_back("Length of 'routing_key' is incorrect (should be 32 characters)");
    }
    std::string action = event.value("event_action", "");
    if (action != "trigger" && action != "acknowledge" && action != "resolve") {
      errors.push_back("'event_action' is invalid");
    }
    if (action == "trigger") {
      const nlohmann::json& payload = event["payload"];
      for (const char* field : {"summary", "source", "severity"}) {
        if (!payload.contains(field))
          errors.push_back(absl::StrCat("'payload.", field, "' is missing"));
      }
    }
    if (!errors.empty()) {
      return HttpResponse::Json(400, nlohmann::json{{"status", "invalid event"},
                                                    {"message", "Event object is invalid"},
                                                    {"errors", errors}}
                                         .dump());
    }
    std::string key = event.value("dedup_key", "generated-uuid");
    if (action == "trigger") alerts_[key] = "triggered";
    if (action == "acknowledge" && alerts_.count(key)) alerts_[key] = "acknowledged";
    if (action == "resolve" && alerts_.count(key)) alerts_[key] = "resolved";
    return HttpResponse::Json(
        202,
        nlohmann::json{{"status", "success"}, {"message", "Event processed"}, {"dedup_key", key}}
            .dump());
  }

  std::mutex mu_;
  std::vector<HttpRequest> requests_;
  std::map<std::string, std::string> alerts_;
  std::optional<int> forced_;
  std::unique_ptr<HttpServer> server_;
};

std::unique_ptr<TicketSink> Sink(const SinkOptions& options) {
  auto sink = MakeTicketSink(options);
  EXPECT_TRUE(sink.ok()) << sink.status();
  return sink.ok() ? std::move(*sink) : nullptr;
}

TEST(PagerDutySinkTest, OpenedTriggersAnAlertKeyedByTheIncidentId) {
  FakePagerDuty pd;
  absl::StatusOr<DeliveryReceipt> receipt = Sink(pd.Options())->Deliver(Row());
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "INC-000042");
  EXPECT_EQ(pd.alerts()["INC-000042"], "triggered");

  HttpRequest request = pd.requests().at(0);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/v2/enqueue");
  EXPECT_EQ(request.Header("content-type"), "application/json");
  nlohmann::json event = nlohmann::json::parse(request.body);
  EXPECT_EQ(event["routing_key"], kRoutingKey);
  EXPECT_EQ(event["event_action"], "trigger");
  EXPECT_EQ(event["dedup_key"], "INC-000042");
  const nlohmann::json& payload = event["payload"];
  EXPECT_EQ(payload["summary"], "[INC-000042] checkout down");
  EXPECT_EQ(payload["source"], "shop-1:443");
  EXPECT_EQ(payload["severity"], "error");  // klaxon's "major"
  EXPECT_EQ(payload["timestamp"], "2026-09-21T14:13:20.123Z");
  EXPECT_EQ(payload["component"], "checkout");
  EXPECT_EQ(payload["class"], "CheckoutDown");
  EXPECT_EQ(payload["custom_details"]["incident"], "INC-000042");
  EXPECT_EQ(payload["custom_details"]["reason"], "connection refused");
  EXPECT_EQ(payload["custom_details"]["labels"]["instance"], "shop-1:443");
}

TEST(PagerDutySinkTest, SeveritiesMapToPagerDutys) {
  EXPECT_EQ(PagerDutySeverity("critical"), "critical");
  EXPECT_EQ(PagerDutySeverity("major"), "error");
  EXPECT_EQ(PagerDutySeverity("minor"), "warning");
  EXPECT_EQ(PagerDutySeverity("warning"), "warning");
  EXPECT_EQ(PagerDutySeverity("info"), "info");
  EXPECT_EQ(PagerDutySeverity("page-everyone"), "error");
}

TEST(PagerDutySinkTest, AcknowledgeAndResolveReachTheSameAlert) {
  FakePagerDuty pd;
  auto sink = Sink(pd.Options());
  ASSERT_TRUE(sink->Deliver(Row()).ok());
  ASSERT_TRUE(sink->Deliver(Row("acknowledged")).ok());
  EXPECT_EQ(pd.alerts()["INC-000042"], "acknowledged");
  ASSERT_TRUE(sink->Deliver(Row("resolved")).ok());
  EXPECT_EQ(pd.alerts()["INC-000042"], "resolved");

  nlohmann::json resolve = nlohmann::json::parse(pd.requests().back().body);
  EXPECT_EQ(resolve, nlohmann::json({{"routing_key", kRoutingKey},
                                     {"event_action", "resolve"},
                                     {"dedup_key", "INC-000042"}}));
}

TEST(PagerDutySinkTest, ARetriedTriggerLandsOnTheSameAlert) {
  FakePagerDuty pd;
  auto sink = Sink(pd.Options());
  OutboxRow retry = Row();
  ASSERT_TRUE(sink->Deliver(retry).ok());
  retry.attempts = 1;  // the first answer was lost
  ASSERT_TRUE(sink->Deliver(retry).ok());
  EXPECT_EQ(pd.alerts().size(), 1u);
}

TEST(PagerDutySinkTest, ReopenedEscalatedAndRemindersTriggerTheSameAlert) {
  FakePagerDuty pd;
  auto sink = Sink(pd.Options());
  ASSERT_TRUE(sink->Deliver(Row()).ok());
  ASSERT_TRUE(sink->Deliver(Row("resolved")).ok());
  ASSERT_EQ(pd.alerts()["INC-000042"], "resolved");
  ASSERT_TRUE(sink->Deliver(Row("reopened")).ok());
  EXPECT_EQ(pd.alerts()["INC-000042"], "triggered");
  for (const char* event : {"escalated", "reminder"}) {
    absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row(event));
    ASSERT_TRUE(receipt.ok()) << event << ": " << receipt.status();
    EXPECT_EQ(receipt->ticket_ref, "INC-000042");
    nlohmann::json sent = nlohmann::json::parse(pd.requests().back().body);
    EXPECT_EQ(sent["event_action"], "trigger") << event;
    EXPECT_EQ(sent["dedup_key"], "INC-000042");
    EXPECT_EQ(sent["payload"]["summary"], "[INC-000042] checkout down");
    EXPECT_EQ(sent["payload"]["custom_details"]["event"], event);
  }
  EXPECT_EQ(pd.alerts().size(), 1u);
  EXPECT_EQ(pd.requests().size(), 5u);
}

TEST(PagerDutySinkTest, APostmortemIsDoneWithoutARequest) {
  FakePagerDuty pd;
  OutboxRow row = Row("postmortem");
  row.incident.resolved_at = absl::FromUnixMillis(1'790'000'630'000);
  absl::StatusOr<DeliveryReceipt> receipt = Sink(pd.Options())->Deliver(row);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_THAT(pd.requests(), IsEmpty());
}

TEST(PagerDutySinkTest, AnInvalidEventIsAPermanentErrorWithPagerDutysMessage) {
  FakePagerDuty pd;
  SinkOptions options = pd.Options();
  options.routing_key = "too-short-routing-key";
  absl::StatusOr<DeliveryReceipt> receipt = Sink(options)->Deliver(Row());
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(receipt.status().message(),
              HasSubstr("PagerDuty refused the trigger event for INC-000042 (HTTP 400): Event "
                        "object is invalid: Length of 'routing_key' is incorrect"));
  EXPECT_THAT(receipt.status().message(), Not(HasSubstr("too-short-routing-key")));
}

TEST(PagerDutySinkTest, RateLimitsAndServerErrorsAreRetried) {
  FakePagerDuty pd;
  auto sink = Sink(pd.Options());
  for (int status : {429, 500, 503}) {
    pd.answer_with(status);
    absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row());
    ASSERT_FALSE(receipt.ok()) << status;
    EXPECT_EQ(receipt.status().code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_THAT(receipt.status().message(), HasSubstr(absl::StrCat("HTTP ", status)));
  }
}

TEST(PagerDutySinkTest, EventsWithoutAnActionAreDoneWithoutARequest) {
  FakePagerDuty pd;
  absl::StatusOr<DeliveryReceipt> receipt = Sink(pd.Options())->Deliver(Row("updated"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_THAT(pd.requests(), IsEmpty());
}

TEST(PagerDutySinkTest, TheFactoryNeedsARoutingKey) {
  SinkOptions options;
  options.name = "pd";
  options.type = "pagerduty";
  auto sink = MakeTicketSink(options);
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sink.status().message(),
              HasSubstr("sink \"pd\": a pagerduty sink needs routing_key"));
  options.routing_key = kRoutingKey;
  EXPECT_TRUE(MakeTicketSink(options).ok());  // url defaults to PagerDuty's
}

}  // namespace
}  // namespace klaxon
