#include "exporters/webhook_sink.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "detector/http_server.h"
#include "exporters/sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;

OutboxRow Row() {
  OutboxRow row;
  row.id = 7;
  row.sink = "hook";
  row.event = "opened";
  row.incident.number = 42;
  row.incident.rule = "CheckoutDown";
  row.incident.service = "checkout";
  row.incident.severity = "critical";
  row.incident.summary = "checkout down";
  row.incident.labels = Labels{{"alertname", "CheckoutDown"}, {"probe", "home"}};
  row.incident.fingerprint = row.incident.labels.Fingerprint();
  row.incident.first_evidence = absl::FromUnixMillis(1'790'000'000'123);
  row.incident.opened_at = absl::FromUnixMillis(1'790'000'030'456);
  row.incident.reason = "connection refused";
  return row;
}

// A receiver on loopback that records the last request and answers as told.
class Receiver {
 public:
  explicit Receiver(HttpResponse answer) : answer_(std::move(answer)) {
    auto server = HttpServer::Start("127.0.0.1:0", [this](const HttpRequest& request) {
      std::lock_guard lock(mu_);
      last_ = request;
      return answer_;
    });
    EXPECT_TRUE(server.ok());
    server_ = std::move(*server);
  }
  SinkOptions Options() const {
    SinkOptions options;
    options.name = "hook";
    options.type = "webhook";
    options.url = absl::StrCat("http://", server_->address(), "/hook");
    options.headers = {{"Authorization", "Bearer s3cret"}};
    return options;
  }
  HttpRequest last() {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  HttpResponse answer_;
  std::mutex mu_;
  HttpRequest last_;
  std::unique_ptr<HttpServer> server_;
};

TEST(WebhookSinkTest, PostsTheDocumentedPayloadWithItsHeaders) {
  Receiver receiver(HttpResponse::Json(201, R"({"id": "OPS-12"})"));
  auto sink = MakeTicketSink(receiver.Options());
  ASSERT_TRUE(sink.ok());
  absl::StatusOr<DeliveryReceipt> receipt = (*sink)->Deliver(Row());
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "OPS-12");

  HttpRequest request = receiver.last();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/hook");
  EXPECT_EQ(request.Header("content-type"), "application/json");
  EXPECT_EQ(request.Header("idempotency-key"), "klaxon-INC-000042-opened-7");
  EXPECT_EQ(request.Header("x-klaxon-event"), "opened");
  EXPECT_EQ(request.Header("authorization"), "Bearer s3cret");
  nlohmann::json body = nlohmann::json::parse(request.body);
  EXPECT_EQ(body["version"], "1");
  EXPECT_EQ(body["event"], "opened");
  EXPECT_EQ(body["idempotency_key"], "klaxon-INC-000042-opened-7");
  EXPECT_EQ(body["incident"]["id"], "INC-000042");
  EXPECT_EQ(body["incident"]["rule"], "CheckoutDown");
  EXPECT_EQ(body["incident"]["labels"]["probe"], "home");
  EXPECT_EQ(body["incident"]["first_evidence_at"], "2026-09-21T14:13:20.123Z");
  EXPECT_EQ(body["incident"]["reason"], "connection refused");
  EXPECT_EQ(body["incident"]["state"], "open");
}

TEST(WebhookSinkTest, TheSameRowSendsTheSameBytes) {
  EXPECT_EQ(WebhookPayload(Row()).dump(), WebhookPayload(Row()).dump());
}

TEST(WebhookSinkTest, ANon2xxAnswerIsAnErrorToRetry) {
  Receiver receiver(HttpResponse::Text(500, "database on fire"));
  auto sink = MakeTicketSink(receiver.Options());
  absl::StatusOr<DeliveryReceipt> receipt = (*sink)->Deliver(Row());
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(receipt.status().message(), HasSubstr("HTTP 500"));
  EXPECT_THAT(receipt.status().message(), HasSubstr("database on fire"));
}

TEST(WebhookSinkTest, ARefusedConnectionIsAnErrorToRetry) {
  SinkOptions options;
  {
    Receiver gone(HttpResponse::Text(200, ""));
    options = gone.Options();
  }  // the port is closed now
  auto sink = MakeTicketSink(options);
  absl::StatusOr<DeliveryReceipt> receipt = (*sink)->Deliver(Row());
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kUnavailable);
}

TEST(WebhookSinkTest, AReceiverThatNeverAnswersTimesOut) {
  // Accepts the connection and never answers.
  std::atomic<bool> release{false};
  auto server = HttpServer::Start("127.0.0.1:0", [&](const HttpRequest&) {
    for (int i = 0; i < 300 && !release; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return HttpResponse::Text(200, "late");
  });
  ASSERT_TRUE(server.ok());
  SinkOptions options;
  options.name = "slow";
  options.type = "webhook";
  options.url = absl::StrCat("http://", (*server)->address(), "/");
  options.timeout = absl::Milliseconds(200);
  auto sink = MakeTicketSink(options);
  absl::Time start = absl::Now();
  absl::StatusOr<DeliveryReceipt> receipt = (*sink)->Deliver(Row());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  release = true;
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kUnavailable);
}

TEST(WebhookSinkTest, UnknownSinkTypesAreRefusedByName) {
  SinkOptions options;
  options.name = "t";
  options.type = "carrier-pigeon";
  auto sink = MakeTicketSink(options);
  ASSERT_FALSE(sink.ok());
  EXPECT_THAT(sink.status().message(), HasSubstr("unknown type \"carrier-pigeon\""));
  EXPECT_THAT(sink.status().message(), HasSubstr("webhook"));
}

}  // namespace
}  // namespace klaxon
