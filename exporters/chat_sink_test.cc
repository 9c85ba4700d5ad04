#include "exporters/chat_sink.h"

#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "detector/http_server.h"
#include "exporters/sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace klaxon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::string_view kDash = "\xE2\x80\x94";  // the em dash between title and detail

OutboxRow Row(const std::string& event) {
  OutboxRow row;
  row.id = 9;
  row.sink = "chat";
  row.event = event;
  row.incident.number = 42;
  row.incident.rule = "CheckoutDown";
  row.incident.service = "checkout";
  row.incident.severity = "critical";
  row.incident.summary = "checkout health probe failing";
  row.incident.labels = Labels{{"alertname", "CheckoutDown"}};
  row.incident.first_evidence = absl::FromUnixSeconds(1'790'000'000);
  row.incident.opened_at = row.incident.first_evidence + absl::Seconds(30);
  row.incident.reason = "connection refused";
  row.created_at = row.incident.opened_at;
  return row;
}

// A Slack-like incoming webhook on loopback: records each request and answers
// as told ("ok", as Slack does, unless the test says otherwise).
class ChatReceiver {
 public:
  explicit ChatReceiver(HttpResponse answer = HttpResponse::Text(200, "ok"))
      : answer_(std::move(answer)) {
    auto server = HttpServer::Start("127.0.0.1:0", [this](const HttpRequest& request) {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
      return answer_;
    });
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  // The path holds the webhook's key, as Slack's and Mattermost's do.
  SinkOptions Options() const {
    SinkOptions options;
    options.name = "chat";
    options.type = "chat";
    options.url = absl::StrCat("http://", server_->address(), "/hooks/T0001/B0002/k3y-zzyzx");
    return options;
  }
  std::vector<HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // The "text" of the last message; fails the test unless it is the only field.
  std::string LastText() {
    std::vector<HttpRequest> all = requests();
    if (all.empty()) return "(nothing received)";
    nlohmann::json body = nlohmann::json::parse(all.back().body, nullptr, false);
    EXPECT_TRUE(body.is_object() && body.size() == 1 && body.contains("text")) << all.back().body;
    return body.value("text", "");
  }

 private:
  HttpResponse answer_;
  std::mutex mu_;
  std::vector<HttpRequest> requests_;
  std::unique_ptr<HttpServer> server_;
};

std::string Deliver(ChatReceiver& receiver, const OutboxRow& row, SinkOptions options) {
  auto sink = MakeTicketSink(options);
  EXPECT_TRUE(sink.ok()) << sink.status();
  if (!sink.ok()) return "";
  absl::StatusOr<DeliveryReceipt> receipt = (*sink)->Deliver(row);
  EXPECT_TRUE(receipt.ok()) << receipt.status();
  if (receipt.ok()) {
    EXPECT_EQ(receipt->ticket_ref, "");  // a chat line is no ticket
  }
  return receiver.LastText();
}

TEST(ChatSinkTest, PostsOneLineAsJsonText) {
  ChatReceiver receiver;
  OutboxRow row = Row("opened");
  row.recipients = {"@alice", "bob"};
  EXPECT_EQ(Deliver(receiver, row, receiver.Options()),
            absl::StrCat("[OPEN] INC-000042 critical checkout: checkout health probe failing ",
                         kDash, " connection refused cc @alice @bob"));
  HttpRequest request = receiver.requests().back();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/hooks/T0001/B0002/k3y-zzyzx");
  EXPECT_EQ(request.Header("content-type"), "application/json");
}

TEST(ChatSinkTest, EachEventHasItsMarkerAndItsOwnDetail) {
  ChatReceiver receiver;
  SinkOptions options = receiver.Options();
  const std::string title = "INC-000042 critical checkout: checkout health probe failing";

  OutboxRow ack = Row("acknowledged");
  ack.incident.state = IncidentState::kAcknowledged;
  ack.incident.timeline = {
      {ack.incident.opened_at + absl::Minutes(3), "acknowledged", "acknowledged by alice: on it"}};
  EXPECT_EQ(Deliver(receiver, ack, options),
            absl::StrCat("[ACK] ", title, " ", kDash, " acknowledged by alice: on it"));

  OutboxRow escalated = Row("escalated");
  escalated.created_at = escalated.incident.opened_at + absl::Minutes(15) + absl::Milliseconds(300);
  escalated.recipients = {"@bob"};
  EXPECT_EQ(Deliver(receiver, escalated, options),
            absl::StrCat("[ESCALATED] ", title, " ", kDash, " nobody acknowledged in 15m cc @bob"));

  OutboxRow resolved = Row("resolved");
  resolved.incident.state = IncidentState::kResolved;
  resolved.incident.resolved_at =
      resolved.incident.first_evidence + absl::Seconds(4 * 60 + 12) + absl::Milliseconds(700);
  EXPECT_EQ(Deliver(receiver, resolved, options),
            absl::StrCat("[RESOLVED] ", title, " ", kDash, " after 4m12s"));

  OutboxRow reopened = Row("reopened");
  reopened.incident.reason = "status 503 (expected 200)";
  EXPECT_EQ(Deliver(receiver, reopened, options),
            absl::StrCat("[REOPENED] ", title, " ", kDash, " status 503 (expected 200)"));

  OutboxRow reminder = Row("reminder");
  reminder.incident.state = IncidentState::kAcknowledged;
  absl::Time acked = reminder.incident.opened_at + absl::Minutes(2);
  reminder.incident.timeline = {{acked, "acknowledged", "acknowledged by alice"}};
  reminder.created_at = acked + absl::Minutes(30);
  EXPECT_EQ(Deliver(receiver, reminder, options),
            absl::StrCat("[REMINDER] ", title, " ", kDash, " acknowledged 30m ago, still open"));

  OutboxRow postmortem = Row("postmortem");
  postmortem.incident.state = IncidentState::kResolved;
  postmortem.incident.tickets = {
      {"tickets", "OPS-12"}, {"hook", ""}, {"gh", "https://github.com/acme/ops/issues/7"}};
  EXPECT_EQ(Deliver(receiver, postmortem, options),
            absl::StrCat("[POST-MORTEM] ", title, " ", kDash,
                         " tickets: OPS-12 https://github.com/acme/ops/issues/7"));
}

TEST(ChatSinkTest, RecipientsAreMentionedAsGivenAndTheSinksOwnWhenTheRowHasNone) {
  ChatReceiver receiver;
  SinkOptions options = receiver.Options();
  options.to = {"oncall"};
  OutboxRow row = Row("opened");
  row.incident.reason = "";
  row.recipients = {"@alice", "bob", "<@U024BE7LH>", " "};
  EXPECT_EQ(Deliver(receiver, row, options),
            "[OPEN] INC-000042 critical checkout: checkout health probe failing "
            "cc @alice @bob <@U024BE7LH>");

  row.recipients.clear();
  EXPECT_EQ(Deliver(receiver, row, options),
            "[OPEN] INC-000042 critical checkout: checkout health probe failing cc @oncall");

  options.to.clear();
  EXPECT_EQ(Deliver(receiver, row, options),
            "[OPEN] INC-000042 critical checkout: checkout health probe failing");
}

TEST(ChatSinkTest, IncidentTextStaysOnOneLineAndCannotPingTheChannel) {
  ChatReceiver receiver;
  OutboxRow row = Row("opened");
  row.incident.summary = "p99 < 2s & error rate > 1%";
  row.incident.reason = "GET /x: \"<!channel> deploy broke\"\nsecond line";
  EXPECT_EQ(Deliver(receiver, row, receiver.Options()),
            absl::StrCat("[OPEN] INC-000042 critical checkout: p99 &lt; 2s &amp; error rate &gt; "
                         "1% ",
                         kDash, " GET /x: \"&lt;!channel&gt; deploy broke\" second line"));
}

TEST(ChatSinkTest, ALongReasonIsCutShort) {
  ChatReceiver receiver;
  OutboxRow row = Row("opened");
  row.incident.reason = std::string(5000, 'x');
  std::string text = Deliver(receiver, row, receiver.Options());
  EXPECT_LT(text.size(), 500u);
  EXPECT_THAT(text, HasSubstr("xxx..."));
}

TEST(ChatSinkTest, ANon2xxAnswerIsAnErrorWithTheReasonAndNoSecret) {
  ChatReceiver receiver(HttpResponse::Text(500, "rollup_error: k3y-zzyzx is overloaded"));
  SinkOptions options = receiver.Options();
  options.headers = {{"Authorization", "Bearer tok-98765"}};
  auto sink = MakeTicketSink(options);
  ASSERT_TRUE(sink.ok()) << sink.status();
  absl::StatusOr<DeliveryReceipt> receipt = (*sink)->Deliver(Row("opened"));
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(receipt.status().message(), HasSubstr("HTTP 500"));
  EXPECT_THAT(receipt.status().message(), HasSubstr("rollup_error"));
  EXPECT_THAT(receipt.status().message(), HasSubstr("127.0.0.1"));
  // The webhook URL's path is its key.
  EXPECT_THAT(receipt.status().message(), Not(HasSubstr("k3y-zzyzx")));
  EXPECT_THAT(receipt.status().message(), Not(HasSubstr("tok-98765")));
}

TEST(ChatSinkTest, ARejectedWebhookIsNotRetriedAsIfTheServerWereDown) {
  ChatReceiver receiver(HttpResponse::Text(404, "no_service"));
  auto sink = MakeTicketSink(receiver.Options());
  ASSERT_TRUE(sink.ok());
  absl::StatusOr<DeliveryReceipt> receipt = (*sink)->Deliver(Row("opened"));
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(receipt.status().message(), HasSubstr("HTTP 404: no_service"));
}

TEST(ChatSinkTest, AReceiverThatIsDownIsAnErrorToRetryWithoutTheKey) {
  SinkOptions options;
  {
    ChatReceiver gone;
    options = gone.Options();
  }  // the port is closed now
  auto sink = MakeTicketSink(options);
  ASSERT_TRUE(sink.ok());
  absl::StatusOr<DeliveryReceipt> receipt = (*sink)->Deliver(Row("opened"));
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(receipt.status().message(), Not(HasSubstr("k3y-zzyzx")));
}

TEST(ChatSinkTest, TheFactoryNeedsAnHttpUrl) {
  SinkOptions options;
  options.name = "chat";
  options.type = "chat";
  auto missing = MakeTicketSink(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("sink \"chat\": a chat sink needs url"));
  options.url = "smtp://127.0.0.1:25";
  auto wrong = MakeTicketSink(options);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("is not http:// or https://"));
}

}  // namespace
}  // namespace klaxon
