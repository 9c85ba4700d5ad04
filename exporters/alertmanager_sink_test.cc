#include "exporters/alertmanager_sink.h"

#include <mutex>
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

OutboxRow Row(const std::string& event = "opened") {
  OutboxRow row;
  row.id = 7;
  row.sink = "am";
  row.event = event;
  row.incident.number = 42;
  row.incident.rule = "CheckoutDown";
  row.incident.service = "checkout";
  row.incident.severity = "critical";
  row.incident.summary = "checkout down";
  row.incident.labels = Labels{{"alertname", "CheckoutDown"}, {"probe", "home \"eu\""}};
  row.incident.fingerprint = 0x1a30ba71cca2921full;
  row.incident.first_evidence = absl::FromUnixMillis(1'790'000'000'123);
  row.incident.opened_at = absl::FromUnixMillis(1'790'000'030'456);
  row.incident.reason = "connection refused";
  if (event == "resolved") row.incident.resolved_at = absl::FromUnixMillis(1'790'000'630'000);
  return row;
}

// A webhook receiver written for Alertmanager: it reads the v4 payload with
// the field types Alertmanager's Go structs give them, and records what it got.
class AlertmanagerReceiver {
 public:
  struct Alert {
    std::string status, starts_at, ends_at, fingerprint;
    std::map<std::string, std::string> labels, annotations;
  };
  struct Notification {
    std::string version, group_key, status, receiver;
    int truncated_alerts = -1;
    std::map<std::string, std::string> common_labels;
    std::vector<Alert> alerts;
  };

  AlertmanagerReceiver() {
    auto server = HttpServer::Start("127.0.0.1:0", [this](const HttpRequest& r) {
      std::lock_guard lock(mu_);
      requests_.push_back(r);
      nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
      try {
        Notification n;
        n.version = body.at("version");
        n.group_key = body.at("groupKey");
        n.truncated_alerts = body.at("truncatedAlerts");
        n.status = body.at("status");
        n.receiver = body.at("receiver");
        body.at("groupLabels").get<std::map<std::string, std::string>>();
        n.common_labels = body.at("commonLabels");
        body.at("commonAnnotations").get<std::map<std::string, std::string>>();
        body.at("externalURL").get<std::string>();
        for (const auto& a : body.at("alerts")) {
          Alert alert;
          alert.status = a.at("status");
          alert.labels = a.at("labels");
          alert.annotations = a.at("annotations");
          alert.starts_at = a.at("startsAt");
          alert.ends_at = a.at("endsAt");
          a.at("generatorURL").get<std::string>();
          alert.fingerprint = a.at("fingerprint");
          n.alerts.push_back(alert);
        }
        notifications_.push_back(n);
      } catch (const nlohmann::json::exception& e) {
        return HttpResponse::Text(400, e.what());
      }
      return HttpResponse::Text(200, "");
    });
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  SinkOptions Options() const {
    SinkOptions options;
    options.name = "am";
    options.type = "alertmanager";
    options.url = absl::StrCat("http://", server_->address(), "/alerts");
    return options;
  }
  std::vector<Notification> notifications() {
    std::lock_guard lock(mu_);
    return notifications_;
  }
  std::vector<HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::vector<HttpRequest> requests_;
  std::vector<Notification> notifications_;
  std::unique_ptr<HttpServer> server_;
};

std::unique_ptr<TicketSink> Sink(const SinkOptions& options) {
  auto sink = MakeTicketSink(options);
  EXPECT_TRUE(sink.ok()) << sink.status();
  return sink.ok() ? std::move(*sink) : nullptr;
}

TEST(AlertmanagerSinkTest, OpenedIsAFiringNotificationAReceiverReads) {
  AlertmanagerReceiver receiver;
  absl::StatusOr<DeliveryReceipt> receipt = Sink(receiver.Options())->Deliver(Row());
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  ASSERT_EQ(receiver.notifications().size(), 1u);
  AlertmanagerReceiver::Notification n = receiver.notifications()[0];
  EXPECT_EQ(receiver.requests()[0].path, "/alerts");
  EXPECT_EQ(receiver.requests()[0].Header("content-type"), "application/json");
  EXPECT_EQ(n.version, "4");
  EXPECT_EQ(n.status, "firing");
  EXPECT_EQ(n.receiver, "am");
  EXPECT_EQ(n.truncated_alerts, 0);
  EXPECT_EQ(n.group_key,
            "{}:{alertname=\"CheckoutDown\", probe=\"home \\\"eu\\\"\", service=\"checkout\", "
            "severity=\"critical\"}");
  std::map<std::string, std::string> labels = {{"alertname", "CheckoutDown"},
                                               {"probe", "home \"eu\""},
                                               {"service", "checkout"},
                                               {"severity", "critical"}};
  EXPECT_EQ(n.common_labels, labels);
  ASSERT_EQ(n.alerts.size(), 1u);
  const AlertmanagerReceiver::Alert& alert = n.alerts[0];
  EXPECT_EQ(alert.status, "firing");
  EXPECT_EQ(alert.labels, labels);
  EXPECT_EQ(alert.annotations.at("summary"), "checkout down");
  EXPECT_EQ(alert.annotations.at("description"), "connection refused");
  EXPECT_EQ(alert.annotations.at("incident"), "INC-000042");
  EXPECT_EQ(alert.starts_at, "2026-09-21T14:13:50.456Z");
  EXPECT_EQ(alert.ends_at, "0001-01-01T00:00:00Z");
  EXPECT_EQ(alert.fingerprint, "1a30ba71cca2921f");
}

TEST(AlertmanagerSinkTest, ResolvedIsAResolvedNotificationOfTheSameGroup) {
  AlertmanagerReceiver receiver;
  auto sink = Sink(receiver.Options());
  ASSERT_TRUE(sink->Deliver(Row()).ok());
  ASSERT_TRUE(sink->Deliver(Row("resolved")).ok());
  ASSERT_EQ(receiver.notifications().size(), 2u);
  AlertmanagerReceiver::Notification n = receiver.notifications()[1];
  EXPECT_EQ(n.status, "resolved");
  EXPECT_EQ(n.group_key, receiver.notifications()[0].group_key);
  EXPECT_EQ(n.alerts[0].status, "resolved");
  EXPECT_EQ(n.alerts[0].ends_at, "2026-09-21T14:23:50.000Z");
  EXPECT_EQ(n.alerts[0].fingerprint, receiver.notifications()[0].alerts[0].fingerprint);
}

TEST(AlertmanagerSinkTest, EventsAlertmanagerHasNoNotificationForAreNotSent) {
  AlertmanagerReceiver receiver;
  auto sink = Sink(receiver.Options());
  for (const char* event : {"acknowledged", "updated", "something-new"}) {
    absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row(event));
    EXPECT_TRUE(receipt.ok()) << event << ": " << receipt.status();
  }
  EXPECT_THAT(receiver.requests(), IsEmpty());
}

TEST(AlertmanagerSinkTest, ReopenedEscalatedAndReminderAreFiringNotificationsOfTheSameGroup) {
  AlertmanagerReceiver receiver;
  auto sink = Sink(receiver.Options());
  for (const char* event : {"opened", "reopened", "escalated", "reminder"}) {
    absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row(event));
    ASSERT_TRUE(receipt.ok()) << event << ": " << receipt.status();
  }
  std::vector<AlertmanagerReceiver::Notification> notifications = receiver.notifications();
  ASSERT_EQ(notifications.size(), 4u);
  for (const AlertmanagerReceiver::Notification& n : notifications) {
    EXPECT_EQ(n.status, "firing");
    EXPECT_EQ(n.group_key, notifications[0].group_key);
    ASSERT_EQ(n.alerts.size(), 1u);
    EXPECT_EQ(n.alerts[0].status, "firing");
    EXPECT_EQ(n.alerts[0].ends_at, "0001-01-01T00:00:00Z");
    EXPECT_EQ(n.alerts[0].fingerprint, "1a30ba71cca2921f");
  }
}

TEST(AlertmanagerSinkTest, APostmortemIsDoneWithoutARequest) {
  AlertmanagerReceiver receiver;
  OutboxRow row = Row("postmortem");
  row.incident.resolved_at = absl::FromUnixMillis(1'790'000'630'000);
  row.incident.timeline.push_back({row.incident.first_evidence, "first_evidence", "seen"});
  absl::StatusOr<DeliveryReceipt> receipt = Sink(receiver.Options())->Deliver(row);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "");
  EXPECT_THAT(receiver.requests(), IsEmpty());
}

TEST(AlertmanagerSinkTest, ANon2xxAnswerIsAnErrorSayingWhatTheReceiverAnswered) {
  auto server = HttpServer::Start("127.0.0.1:0", [](const HttpRequest&) {
    return HttpResponse::Text(503, "receiver overloaded");
  });
  ASSERT_TRUE(server.ok());
  SinkOptions options;
  options.name = "am";
  options.type = "alertmanager";
  options.url = absl::StrCat("http://", (*server)->address(), "/alerts");
  absl::StatusOr<DeliveryReceipt> receipt = Sink(options)->Deliver(Row());
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(receipt.status().message(), HasSubstr("HTTP 503: receiver overloaded"));
}

TEST(AlertmanagerSinkTest, TheFactoryNeedsAUrl) {
  SinkOptions options;
  options.name = "am";
  options.type = "alertmanager";
  auto sink = MakeTicketSink(options);
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sink.status().message(), HasSubstr("an alertmanager sink needs url"));
}

}  // namespace
}  // namespace klaxon
