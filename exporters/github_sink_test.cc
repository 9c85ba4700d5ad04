#include "exporters/github_sink.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "detector/http_server.h"
#include "exporters/postmortem.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "ghp_Secret0123456789";

OutboxRow Row(const std::string& event = "opened") {
  OutboxRow row;
  row.id = 7;
  row.sink = "gh";
  row.event = event;
  row.incident.number = 42;
  row.incident.rule = "CheckoutDown";
  row.incident.service = "checkout";
  row.incident.severity = "critical";
  row.incident.summary = "checkout down";
  row.incident.labels = Labels{{"alertname", "CheckoutDown"}, {"probe", "home"}};
  row.incident.first_evidence = absl::FromUnixMillis(1'790'000'000'123);
  row.incident.opened_at = absl::FromUnixMillis(1'790'000'030'456);
  row.incident.reason = "connection refused";
  row.created_at = absl::FromUnixMillis(1'790'000'090'000);
  if (event == "resolved") row.incident.resolved_at = absl::FromUnixMillis(1'790'000'630'000);
  return row;
}

// The "postmortem" row of the incident resolved at 2026-09-21T14:23:50Z: it
// carries the timeline.
OutboxRow PostmortemRow() {
  OutboxRow row = Row("resolved");
  row.event = "postmortem";
  row.incident.state = IncidentState::kResolved;
  row.created_at = *row.incident.resolved_at;
  row.incident.timeline = {
      {row.incident.first_evidence, "first_evidence", "condition first seen"},
      {row.incident.opened_at, "opened", "incident opened: checkout down"},
      {*row.incident.resolved_at, "resolved", "resolved: condition cleared"},
  };
  return row;
}

OutboxRow WithTicket(OutboxRow row, const std::string& ref) {
  row.incident.tickets.push_back({"gh", ref});
  return row;
}

// GitHub's issues REST API for one repository (acme/shop) under the prefix
// /api/v3 (as GitHub Enterprise serves it): create, list by label, get, update,
// comment, with GitHub's status codes and shapes. Records every request. The
// list also holds a pull request with the same label, as GitHub's does.
// Thread-safe.
class FakeGitHub {
 public:
  struct Issue {
    int number = 0;
    std::string title;
    std::string body;
    std::string state = "open";
    std::string state_reason;
    std::vector<std::string> labels;
    std::vector<std::string> comments;
    bool pull_request = false;
  };

  FakeGitHub() {
    auto server =
        HttpServer::Start("127.0.0.1:0", [this](const HttpRequest& r) { return Serve(r); });
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  ~FakeGitHub() {
    Release();
    server_->Stop();
  }

  SinkOptions Options() const {
    SinkOptions options;
    options.name = "gh";
    options.type = "github";
    options.url = absl::StrCat("http://", server_->address(), "/api/v3/");
    options.api_key = kToken;
    options.repository = "acme/shop";
    options.timeout = absl::Seconds(5);
    return options;
  }

  std::vector<HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<std::string> calls() {
    std::vector<std::string> out;
    for (const HttpRequest& r : requests()) out.push_back(absl::StrCat(r.method, " ", r.path));
    return out;
  }
  std::map<int, Issue> issues() {
    std::lock_guard lock(mu_);
    return issues_;
  }
  int AddIssue(Issue issue) {
    std::lock_guard lock(mu_);
    issue.number = next_number_++;
    issues_[issue.number] = issue;
    return issue.number;
  }
  void HoldNextCreate() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool WaitUntilAnswered() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [this] { return !holding_; });
  }

 private:
  static HttpResponse Message(int status, const std::string& message) {
    return HttpResponse::Json(
        status,
        nlohmann::json{{"message", message}, {"documentation_url", "https://docs.github.com/rest"}}
            .dump());
  }

  nlohmann::json ToJson(const Issue& issue) const {
    nlohmann::json labels = nlohmann::json::array();
    for (const std::string& l : issue.labels) labels.push_back({{"name", l}});
    nlohmann::json out = {
        {"id", 9000 + issue.number},
        {"number", issue.number},
        {"html_url", absl::StrCat("https://github.com/acme/shop/issues/", issue.number)},
        {"title", issue.title},
        {"body", issue.body},
        {"state", issue.state},
        {"state_reason",
         issue.state_reason.empty() ? nlohmann::json() : nlohmann::json(issue.state_reason)},
        {"labels", labels}};
    if (issue.pull_request) out["pull_request"] = {{"url", "https://api.github.com/..."}};
    return out;
  }

  HttpResponse Serve(const HttpRequest& r) {
    std::unique_lock lock(mu_);
    requests_.push_back(r);
    if (r.Header("authorization") != absl::StrCat("Bearer ", kToken)) {
      return Message(401, "Bad credentials");
    }
    nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
    std::string repo = "/api/v3/repos/acme/shop/issues";
    if (r.path == repo && r.method == "POST") {
      if (!body.is_object() || !body["title"].is_string()) {
        return HttpResponse::Json(
            422,
            R"({"message":"Validation Failed","errors":[{"resource":"Issue","code":"missing_field","field":"title"}]})");
      }
      Issue issue;
      issue.number = next_number_++;
      issue.title = body["title"];
      issue.body = body.value("body", "");
      for (const auto& l : body["labels"]) issue.labels.push_back(l);
      issues_[issue.number] = issue;
      if (hold_) {
        hold_ = false;
        holding_ = true;
        cv_.wait_for(lock, std::chrono::seconds(10), [this] { return released_; });
        holding_ = false;
        cv_.notify_all();
      }
      return HttpResponse::Json(201, ToJson(issue).dump());
    }
    if (r.path == repo && r.method == "GET") {
      std::string state = r.QueryParam("state");
      nlohmann::json list = nlohmann::json::array();
      for (const auto& [number, issue] : issues_) {
        if (state != "all" && issue.state != (state.empty() ? "open" : state)) continue;
        bool labeled = true;
        for (absl::string_view want :
             absl::StrSplit(r.QueryParam("labels"), ',', absl::SkipEmpty())) {
          labeled = labeled &&
                    std::find(issue.labels.begin(), issue.labels.end(), want) != issue.labels.end();
        }
        if (labeled) list.push_back(ToJson(issue));
      }
      return HttpResponse::Json(200, list.dump());
    }
    if (absl::StartsWith(r.path, repo + "/")) {
      std::vector<std::string> parts = absl::StrSplit(r.path.substr(repo.size() + 1), '/');
      int number = 0;
      if (!absl::SimpleAtoi(parts[0], &number) || !issues_.count(number))
        return Message(404, "Not Found");
      Issue& issue = issues_[number];
      if (parts.size() == 1 && r.method == "GET")
        return HttpResponse::Json(200, ToJson(issue).dump());
      if (parts.size() == 1 && r.method == "PATCH") {
        if (body.contains("state")) issue.state = body["state"];
        if (body.contains("state_reason")) issue.state_reason = body["state_reason"];
        return HttpResponse::Json(200, ToJson(issue).dump());
      }
      if (parts.size() == 2 && parts[1] == "comments" && r.method == "POST") {
        issue.comments.push_back(body["body"]);
        return HttpResponse::Json(201, nlohmann::json{{"id", 1}, {"body", body["body"]}}.dump());
      }
    }
    return Message(404, "Not Found");
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<HttpRequest> requests_;
  std::map<int, Issue> issues_;
  int next_number_ = 1;
  bool hold_ = false;
  bool holding_ = false;
  bool released_ = false;
  std::unique_ptr<HttpServer> server_;
};

FakeGitHub::Issue Labeled(std::vector<std::string> labels, const std::string& state = "open",
                          bool pull_request = false) {
  FakeGitHub::Issue issue;
  issue.labels = std::move(labels);
  issue.state = state;
  issue.pull_request = pull_request;
  return issue;
}

std::unique_ptr<TicketSink> Sink(const SinkOptions& options) {
  auto sink = MakeTicketSink(options);
  EXPECT_TRUE(sink.ok()) << sink.status();
  return sink.ok() ? std::move(*sink) : nullptr;
}

TEST(GitHubSinkTest, OpenedCreatesOneLabeledIssueAndReturnsItsNumber) {
  FakeGitHub github;
  auto sink = Sink(github.Options());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row());
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "1");

  std::vector<HttpRequest> requests = github.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/api/v3/repos/acme/shop/issues");
  EXPECT_EQ(requests[0].Header("authorization"), "Bearer ghp_Secret0123456789");
  EXPECT_EQ(requests[0].Header("accept"), "application/vnd.github+json");
  EXPECT_EQ(requests[0].Header("x-github-api-version"), "2022-11-28");
  nlohmann::json body = nlohmann::json::parse(requests[0].body);
  EXPECT_EQ(body["title"], "[INC-000042] checkout down");
  EXPECT_EQ(body["labels"], nlohmann::json({"klaxon", "klaxon-INC-000042"}));
  EXPECT_THAT(body["body"].get<std::string>(), HasSubstr("Service: checkout"));
  EXPECT_THAT(body["body"].get<std::string>(), HasSubstr("Reason: connection refused"));
}

TEST(GitHubSinkTest, ResolvedCommentsThenClosesTheIssue) {
  FakeGitHub github;
  auto sink = Sink(github.Options());
  ASSERT_TRUE(sink->Deliver(Row()).ok());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(WithTicket(Row("resolved"), "1"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "1");
  EXPECT_THAT(github.calls(), ElementsAre("POST /api/v3/repos/acme/shop/issues",
                                          "POST /api/v3/repos/acme/shop/issues/1/comments",
                                          "PATCH /api/v3/repos/acme/shop/issues/1"));
  EXPECT_EQ(nlohmann::json::parse(github.requests().back().body),
            nlohmann::json({{"state", "closed"}, {"state_reason", "completed"}}));
  FakeGitHub::Issue issue = github.issues()[1];
  EXPECT_EQ(issue.state, "closed");
  ASSERT_EQ(issue.comments.size(), 1u);
  EXPECT_THAT(issue.comments[0], HasSubstr("klaxon resolved INC-000042"));
}

TEST(GitHubSinkTest, ReopenedCommentsAndReopens) {
  FakeGitHub github;
  int number = github.AddIssue(Labeled({"klaxon", "klaxon-INC-000042"}, "closed"));
  auto sink = Sink(github.Options());
  absl::StatusOr<DeliveryReceipt> receipt =
      sink->Deliver(WithTicket(Row("reopened"), absl::StrCat(number)));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(github.issues()[number].state, "open");
  EXPECT_THAT(github.issues()[number].comments[0],
              HasSubstr("klaxon reopened INC-000042 at 2026-09-21T14:14:50.000Z: the condition "
                        "came back"));
}

TEST(GitHubSinkTest, ARetriedResolveOfAClosedIssueWritesNothingTwice) {
  FakeGitHub github;
  int number = github.AddIssue(Labeled({"klaxon", "klaxon-INC-000042"}, "closed"));
  auto sink = Sink(github.Options());
  OutboxRow row = WithTicket(Row("resolved"), absl::StrCat(number));
  row.attempts = 3;
  ASSERT_TRUE(sink->Deliver(row).ok());
  EXPECT_THAT(github.calls(), ElementsAre("GET /api/v3/repos/acme/shop/issues/1"));
  EXPECT_TRUE(github.issues()[number].comments.empty());
}

TEST(GitHubSinkTest, ARetryAfterAnAmbiguousTimeoutFindsTheIssueInsteadOfMakingASecond) {
  FakeGitHub github;
  // A pull request carrying the same label is not the incident's issue.
  github.AddIssue(Labeled({"klaxon-INC-000042"}, "open", /*pull_request=*/true));
  SinkOptions options = github.Options();
  options.timeout = absl::Milliseconds(500);
  auto sink = Sink(options);
  github.HoldNextCreate();
  absl::StatusOr<DeliveryReceipt> first = sink->Deliver(Row());
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  github.Release();
  ASSERT_TRUE(github.WaitUntilAnswered());
  ASSERT_EQ(github.issues().size(), 2u);

  OutboxRow retry = Row();
  retry.attempts = 1;
  absl::StatusOr<DeliveryReceipt> second = sink->Deliver(retry);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->ticket_ref, "2");
  EXPECT_EQ(github.issues().size(), 2u);
  HttpRequest search = github.requests().back();
  EXPECT_EQ(search.method, "GET");
  EXPECT_EQ(search.path, "/api/v3/repos/acme/shop/issues");
  EXPECT_EQ(search.QueryParam("labels"), "klaxon-INC-000042");
  EXPECT_EQ(search.QueryParam("state"), "all");
}

TEST(GitHubSinkTest, AResolveWithoutARecordedRefFindsTheIssueByLabel) {
  FakeGitHub github;
  github.AddIssue(Labeled({"klaxon", "klaxon-INC-000041"}));
  int number = github.AddIssue(Labeled({"klaxon", "klaxon-INC-000042"}));
  auto sink = Sink(github.Options());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row("resolved"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, absl::StrCat(number));
  EXPECT_EQ(github.issues()[number].state, "closed");
  EXPECT_EQ(github.issues()[1].state, "open");
}

TEST(GitHubSinkTest, AResolveWithNoIssueAnywhereFailsAFewTimesThenGivesUp) {
  FakeGitHub github;
  auto sink = Sink(github.Options());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row("resolved"));
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(receipt.status().message(),
              HasSubstr("no issue in acme/shop has label klaxon-INC-000042"));
  OutboxRow late = Row("resolved");
  late.attempts = 5;
  EXPECT_TRUE(sink->Deliver(late).ok());
}

TEST(GitHubSinkTest, AnEventItDoesNotKnowBecomesAComment) {
  FakeGitHub github;
  int number = github.AddIssue(Labeled({"klaxon", "klaxon-INC-000042"}));
  auto sink = Sink(github.Options());
  absl::StatusOr<DeliveryReceipt> receipt =
      sink->Deliver(WithTicket(Row("updated"), absl::StrCat(number)));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_THAT(github.calls(), ElementsAre("POST /api/v3/repos/acme/shop/issues/1/comments"));
  EXPECT_THAT(github.issues()[number].comments[0], HasSubstr("INC-000042 updated"));
  EXPECT_EQ(github.issues()[number].state, "open");
}

TEST(GitHubSinkTest, EscalatedAndReminderAreComments) {
  FakeGitHub github;
  int number = github.AddIssue(Labeled({"klaxon", "klaxon-INC-000042"}));
  auto sink = Sink(github.Options());
  for (const char* event : {"escalated", "reminder"}) {
    OutboxRow row = WithTicket(Row(event), absl::StrCat(number));
    row.incident.escalations = 2;
    absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(row);
    ASSERT_TRUE(receipt.ok()) << event << ": " << receipt.status();
    EXPECT_EQ(receipt->ticket_ref, absl::StrCat(number));
  }
  EXPECT_THAT(github.calls(), ElementsAre("POST /api/v3/repos/acme/shop/issues/1/comments",
                                          "POST /api/v3/repos/acme/shop/issues/1/comments"));
  FakeGitHub::Issue issue = github.issues()[number];
  ASSERT_EQ(issue.comments.size(), 2u);
  EXPECT_EQ(issue.comments[0],
            "klaxon escalated INC-000042 at 2026-09-21T14:14:50.000Z: nobody has acknowledged it "
            "59s after it opened (escalation step 2).");
  EXPECT_THAT(issue.comments[1], HasSubstr("INC-000042 is acknowledged but still open"));
  EXPECT_EQ(issue.state, "open");
}

TEST(GitHubSinkTest, APostmortemIsANewIssueThatNamesTheOutageIssueAndItsDueDate) {
  FakeGitHub github;
  auto sink = Sink(github.Options());
  ASSERT_TRUE(sink->Deliver(Row()).ok());  // #1, the outage
  OutboxRow row = WithTicket(PostmortemRow(), "1");
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(row);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "2");
  EXPECT_THAT(github.calls(), ElementsAre("POST /api/v3/repos/acme/shop/issues",
                                          "POST /api/v3/repos/acme/shop/issues"));

  FakeGitHub::Issue issue = github.issues()[2];
  EXPECT_EQ(issue.title, "Post-mortem: INC-000042 checkout down");
  EXPECT_EQ(issue.body, absl::StrCat("Post-mortem of #1 (INC-000042).\n"
                                     "Due: 2026-09-22T14:23:50.000Z\n\n",
                                     RenderPostmortem(row.incident)));
  EXPECT_THAT(issue.body, HasSubstr("| 2026-09-21 14:23:50 | Resolved | resolved: condition "
                                    "cleared |"));
  EXPECT_THAT(issue.labels, ElementsAre("postmortem", "klaxon-INC-000042-postmortem"));
  EXPECT_EQ(issue.state, "open");

  // The outage issue is still the one later deliveries find by label.
  ASSERT_TRUE(sink->Deliver(Row("reopened")).ok());
  EXPECT_EQ(github.issues()[1].comments.size(), 1u);
  EXPECT_TRUE(github.issues()[2].comments.empty());
}

TEST(GitHubSinkTest, ARetriedPostmortemFindsItsIssueInsteadOfMakingASecond) {
  FakeGitHub github;
  int outage = github.AddIssue(Labeled({"klaxon", "klaxon-INC-000042"}, "closed"));
  SinkOptions options = github.Options();
  options.timeout = absl::Milliseconds(500);
  auto sink = Sink(options);
  github.HoldNextCreate();
  absl::StatusOr<DeliveryReceipt> first =
      sink->Deliver(WithTicket(PostmortemRow(), absl::StrCat(outage)));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  github.Release();
  ASSERT_TRUE(github.WaitUntilAnswered());
  ASSERT_EQ(github.issues().size(), 2u);

  OutboxRow retry = WithTicket(PostmortemRow(), absl::StrCat(outage));
  retry.attempts = 1;
  absl::StatusOr<DeliveryReceipt> second = sink->Deliver(retry);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->ticket_ref, "2");
  EXPECT_EQ(github.issues().size(), 2u);
  HttpRequest search = github.requests().back();
  EXPECT_EQ(search.method, "GET");
  EXPECT_EQ(search.QueryParam("labels"), "klaxon-INC-000042-postmortem");
  EXPECT_EQ(search.QueryParam("state"), "all");
}

TEST(GitHubSinkTest, APostmortemWithoutAnOutageIssueNamesTheIncident) {
  FakeGitHub github;
  absl::StatusOr<DeliveryReceipt> receipt = Sink(github.Options())->Deliver(PostmortemRow());
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_THAT(github.issues()[1].body,
              ::testing::StartsWith("Post-mortem of INC-000042.\nDue: 2026-09-22T14:23:50.000Z\n"));
}

TEST(GitHubSinkTest, ErrorsSayWhatGitHubAnsweredAndNeverTheToken) {
  FakeGitHub github;
  SinkOptions options = github.Options();
  options.api_key = "ghp_WrongToken999";
  auto sink = Sink(options);
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row());
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(receipt.status().message(), HasSubstr("/api/v3/repos/acme/shop/issues: HTTP 401"));
  EXPECT_THAT(receipt.status().message(), HasSubstr("Bad credentials"));
  EXPECT_THAT(receipt.status().message(), Not(HasSubstr("ghp_WrongToken999")));

  options = github.Options();
  options.repository = "acme/gone";
  receipt = Sink(options)->Deliver(WithTicket(Row("resolved"), "1"));
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(receipt.status().message(), HasSubstr("repos/acme/gone/issues/1/comments: HTTP 404"));
}

TEST(GitHubSinkTest, TheFactoryRefusesOptionsGitHubCannotWorkWith) {
  SinkOptions options;
  options.name = "gh";
  options.type = "github";
  options.api_key = kToken;
  auto no_repository = MakeTicketSink(options);
  ASSERT_FALSE(no_repository.ok());
  EXPECT_EQ(no_repository.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_repository.status().message(), HasSubstr("a github sink needs repository"));

  for (const char* bad : {"shop", "acme/", "/shop", "acme/shop/x"}) {
    options.repository = bad;
    auto sink = MakeTicketSink(options);
    ASSERT_FALSE(sink.ok()) << bad;
    EXPECT_THAT(sink.status().message(), HasSubstr("is not \"owner/name\""));
  }
  options.repository = "acme/shop";
  options.api_key = "";
  auto no_key = MakeTicketSink(options);
  ASSERT_FALSE(no_key.ok());
  EXPECT_THAT(no_key.status().message(), HasSubstr("needs api_key"));

  options.api_key = kToken;
  EXPECT_TRUE(MakeTicketSink(options).ok());  // url defaults to https://api.github.com
}

}  // namespace
}  // namespace klaxon
