#include "exporters/webhook_sink.h"

#include <openssl/sha.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "detector/http_server.h"
#include "exporters/postmortem.h"
#include "exporters/sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// HMAC-SHA256 as RFC 2104 writes it, from SHA-256 alone: a check of the sink's
// signature that shares no code with it.
std::string HmacSha256Hex(std::string key, const std::string& message) {
  constexpr size_t kBlock = 64;
  if (key.size() > kBlock) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
    key.assign(reinterpret_cast<char*>(digest), sizeof(digest));
  }
  key.resize(kBlock, '\0');
  std::string inner(kBlock, '\0'), outer(kBlock, '\0');
  for (size_t i = 0; i < kBlock; ++i) {
    inner[i] = static_cast<char>(key[i] ^ 0x36);
    outer[i] = static_cast<char>(key[i] ^ 0x5c);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  inner += message;
  SHA256(reinterpret_cast<const unsigned char*>(inner.data()), inner.size(), digest);
  outer.append(reinterpret_cast<char*>(digest), sizeof(digest));
  SHA256(reinterpret_cast<const unsigned char*>(outer.data()), outer.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : digest) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return hex;
}

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

TEST(WebhookSinkTest, EveryEventIsSentUnderItsOwnName) {
  Receiver receiver(HttpResponse::Text(200, ""));
  auto sink = MakeTicketSink(receiver.Options());
  ASSERT_TRUE(sink.ok());
  for (const char* event : {"acknowledged", "reopened", "escalated", "reminder", "resolved"}) {
    OutboxRow row = Row();
    row.event = event;
    ASSERT_TRUE((*sink)->Deliver(row).ok()) << event;
    HttpRequest request = receiver.last();
    EXPECT_EQ(request.Header("x-klaxon-event"), event);
    EXPECT_EQ(request.Header("idempotency-key"), absl::StrCat("klaxon-INC-000042-", event, "-7"));
    nlohmann::json body = nlohmann::json::parse(request.body);
    EXPECT_EQ(body["event"], event);
    EXPECT_EQ(body["incident"]["id"], "INC-000042");
    EXPECT_FALSE(body.contains("postmortem_markdown")) << event;
  }
}

TEST(WebhookSinkTest, APostmortemCarriesTheIncidentsTimelineAndTheRenderedDocument) {
  Receiver receiver(HttpResponse::Json(201, R"({"url": "https://wiki.example.com/pm/42"})"));
  auto sink = MakeTicketSink(receiver.Options());
  ASSERT_TRUE(sink.ok());
  OutboxRow row = Row();
  row.event = "postmortem";
  row.incident.state = IncidentState::kResolved;
  row.incident.resolved_at = absl::FromUnixMillis(1'790'000'630'000);
  row.incident.timeline = {
      {row.incident.first_evidence, "first_evidence", "condition first seen"},
      {absl::FromUnixMillis(1'790'000'100'000), "acknowledged", "acknowledged by alice"},
      {*row.incident.resolved_at, "resolved", "resolved: condition cleared"},
  };
  absl::StatusOr<DeliveryReceipt> receipt = (*sink)->Deliver(row);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "https://wiki.example.com/pm/42");

  HttpRequest request = receiver.last();
  EXPECT_EQ(request.Header("x-klaxon-event"), "postmortem");
  nlohmann::json body = nlohmann::json::parse(request.body);
  EXPECT_EQ(body["event"], "postmortem");
  EXPECT_EQ(body["incident"]["timeline"].size(), 3u);
  ASSERT_TRUE(body["postmortem_markdown"].is_string());
  std::string markdown = body["postmortem_markdown"];
  EXPECT_EQ(markdown, RenderPostmortem(row.incident));
  EXPECT_THAT(markdown, HasSubstr("# Post-mortem: INC-000042 checkout down\n"));
  EXPECT_THAT(markdown,
              HasSubstr("| 2026-09-21 14:15:00 | Acknowledged | acknowledged by alice |"));
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
    for (int i = 0; i < 300 && !release; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
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

TEST(WebhookSinkTest, TheSignatureIsHmacSha256OfTheBody) {
  // RFC 4231, test case 2.
  EXPECT_EQ(WebhookSignature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(WebhookSinkTest, WithASecretTheReceiverCanVerifyTheBody) {
  Receiver receiver(HttpResponse::Json(200, "{}"));
  SinkOptions options = receiver.Options();
  options.secret = "whsec-0123456789";
  auto sink = MakeTicketSink(options);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Deliver(Row()).ok());

  HttpRequest request = receiver.last();
  std::string signature(request.Header("x-klaxon-signature"));
  EXPECT_EQ(signature, "sha256=" + HmacSha256Hex("whsec-0123456789", request.body));
  EXPECT_NE(signature, "sha256=" + HmacSha256Hex("whsec-0123456789", request.body + " "));
  EXPECT_NE(signature, "sha256=" + HmacSha256Hex("other-secret", request.body));
}

TEST(WebhookSinkTest, WithoutASecretThereIsNoSignature) {
  Receiver receiver(HttpResponse::Json(200, "{}"));
  auto sink = MakeTicketSink(receiver.Options());
  ASSERT_TRUE((*sink)->Deliver(Row()).ok());
  EXPECT_EQ(receiver.last().Header("x-klaxon-signature"), "");
}

TEST(WebhookSinkTest, ErrorsNeverShowTheSecretOrTheHeaders) {
  // A receiver that echoes what it was sent.
  auto server = HttpServer::Start("127.0.0.1:0", [](const HttpRequest& request) {
    return HttpResponse::Text(
        403, absl::StrCat("denied: ", request.Header("authorization"), " / ",
                          request.Header("x-klaxon-signature"), " key=whsec-0123456789"));
  });
  ASSERT_TRUE(server.ok());
  SinkOptions options;
  options.name = "hook";
  options.type = "webhook";
  options.url = absl::StrCat("http://", (*server)->address(), "/hook");
  options.headers = {{"Authorization", "Bearer tok-98765"}};
  options.secret = "whsec-0123456789";
  auto sink = MakeTicketSink(options);
  absl::StatusOr<DeliveryReceipt> receipt = (*sink)->Deliver(Row());
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(receipt.status().message(), HasSubstr("HTTP 403: denied: "));
  EXPECT_THAT(receipt.status().message(), HasSubstr("sha256="));  // not a secret
  EXPECT_THAT(receipt.status().message(), Not(HasSubstr("tok-98765")));
  EXPECT_THAT(receipt.status().message(), Not(HasSubstr("whsec-0123456789")));
}

TEST(WebhookSinkTest, TheFactoryNeedsAUrl) {
  SinkOptions options;
  options.name = "hook";
  options.type = "webhook";
  auto sink = MakeTicketSink(options);
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sink.status().message(), HasSubstr("sink \"hook\": a webhook sink needs url"));
}

TEST(WebhookSinkTest, InvalidUtf8InAReasonIsReplacedNotThrown) {
  Receiver receiver(HttpResponse::Json(200, "{}"));
  auto sink = MakeTicketSink(receiver.Options());
  OutboxRow row = Row();
  row.incident.reason = "bad line \xff\xfe end";
  ASSERT_TRUE((*sink)->Deliver(row).ok());
  nlohmann::json body = nlohmann::json::parse(receiver.last().body);
  EXPECT_EQ(body["incident"]["reason"], "bad line \xEF\xBF\xBD\xEF\xBF\xBD end");
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
