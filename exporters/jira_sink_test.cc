#include "exporters/jira_sink.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

constexpr char kToken[] = "jira-token-Zq81x";
constexpr char kUser[] = "ops@example.com";

OutboxRow Row(const std::string& event = "opened") {
  OutboxRow row;
  row.id = 7;
  row.sink = "jira";
  row.event = event;
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
  row.created_at = absl::FromUnixMillis(1'790'000'090'000);
  if (event == "resolved") {
    row.incident.state = IncidentState::kResolved;
    row.incident.resolved_at = absl::FromUnixMillis(1'790'000'630'000);
  }
  return row;
}

// The "postmortem" row of the incident resolved at 2026-09-21T14:23:50Z: it
// carries the timeline.
OutboxRow PostmortemRow() {
  OutboxRow row = Row("resolved");
  row.event = "postmortem";
  row.created_at = *row.incident.resolved_at;
  row.incident.timeline = {
      {row.incident.first_evidence, "first_evidence", "condition first seen"},
      {row.incident.opened_at, "opened", "incident opened: checkout down"},
      {*row.incident.resolved_at, "resolved", "resolved: condition cleared"},
  };
  return row;
}

OutboxRow WithTicket(OutboxRow row, const std::string& ref) {
  row.incident.tickets.push_back({"jira", ref});
  return row;
}

// A Jira REST v2 server on loopback: issues, JQL search by label, comments,
// workflow transitions and issue links, with the status codes and JSON shapes
// of Jira's docs.
// Records every request. `cloud` serves /rest/api/2/search/jql (Jira Cloud
// since 2025); otherwise /rest/api/2/search (Data Center). Thread-safe.
class FakeJira {
 public:
  struct Issue {
    std::string key;
    nlohmann::json fields;
    bool done = false;
    std::vector<std::string> comments;
  };

  explicit FakeJira(bool cloud = true) : cloud_(cloud) {
    auto server =
        HttpServer::Start("127.0.0.1:0", [this](const HttpRequest& r) { return Serve(r); });
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  ~FakeJira() {
    Release();
    server_->Stop();
  }

  SinkOptions Options() const {
    SinkOptions options;
    options.name = "jira";
    options.type = "jira";
    options.url = absl::StrCat("http://", server_->address(), "/");
    options.user = kUser;
    options.api_key = kToken;
    options.project = "OPS";
    options.issue_type = "Task";
    options.resolve_transition = "Done";
    options.timeout = absl::Seconds(5);
    return options;
  }

  std::vector<HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // "POST /rest/api/2/issue", ... in order.
  std::vector<std::string> calls() {
    std::vector<std::string> out;
    for (const HttpRequest& r : requests()) out.push_back(absl::StrCat(r.method, " ", r.path));
    return out;
  }
  std::map<std::string, Issue> issues() {
    std::lock_guard lock(mu_);
    return issues_;
  }
  void AddIssue(const std::string& key, const std::string& label, bool done) {
    std::lock_guard lock(mu_);
    issues_[key] = Issue{key, {{"labels", {"klaxon", label}}}, done, {}};
  }
  void set_transitions(std::vector<std::string> names) {
    std::lock_guard lock(mu_);
    transitions_ = std::move(names);
  }
  // Answers the next create only when released (after it made the issue), as
  // a server that is slow to answer after doing the work.
  void HoldNextCreate() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  // Waits (bounded) until a held answer has been sent.
  bool WaitUntilAnswered() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [this] { return !holding_; });
  }
  void set_answer_with(HttpResponse response) {
    std::lock_guard lock(mu_);
    forced_ = std::move(response);
  }
  // The bodies of the links made (POST /rest/api/2/issueLink), in order.
  std::vector<nlohmann::json> links() {
    std::lock_guard lock(mu_);
    return links_;
  }
  void set_link_types(std::vector<std::string> names) {
    std::lock_guard lock(mu_);
    link_types_ = std::move(names);
  }
  // As a project whose create screen has no "Due date" field.
  void refuse_due_dates() {
    std::lock_guard lock(mu_);
    due_dates_ = false;
  }

 private:
  static HttpResponse Error(int status, const std::string& message) {
    return HttpResponse::Json(
        status,
        nlohmann::json{{"errorMessages", {message}}, {"errors", nlohmann::json::object()}}.dump());
  }

  HttpResponse Serve(const HttpRequest& r) {
    std::unique_lock lock(mu_);
    requests_.push_back(r);
    if (forced_) return *forced_;
    std::string expected =
        absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(kUser, ":", kToken)));
    if (r.Header("authorization") != expected) {
      return HttpResponse::Text(401, "Basic authentication failed");
    }
    nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
    if (r.method == "POST" && r.path == "/rest/api/2/issue") {
      const nlohmann::json& fields = body["fields"];
      if (!fields.is_object() || fields["project"]["key"] != "OPS") {
        return HttpResponse::Json(
            400, R"({"errorMessages":[],"errors":{"project":"valid project is required"}})");
      }
      if (fields["issuetype"]["name"] != "Task") {
        return HttpResponse::Json(
            400, R"({"errorMessages":[],"errors":{"issuetype":"Specify a valid issue type"}})");
      }
      if (!due_dates_ && fields.contains("duedate")) {
        return HttpResponse::Json(
            400,
            R"({"errorMessages":[],"errors":{"duedate":"Field 'duedate' cannot be set. It is not on the appropriate screen, or unknown."}})");
      }
      int id = 10000 + static_cast<int>(issues_.size()) + 1;
      std::string key = absl::StrCat("OPS-", issues_.size() + 1);
      issues_[key] = Issue{key, fields, false, {}};
      if (hold_) {
        hold_ = false;
        holding_ = true;
        cv_.wait_for(lock, std::chrono::seconds(10), [this] { return released_; });
        holding_ = false;
        cv_.notify_all();
      }
      return HttpResponse::Json(
          201, nlohmann::json{{"id", absl::StrCat(id)},
                              {"key", key},
                              {"self", absl::StrCat("http://jira/rest/api/2/issue/", id)}}
                   .dump());
    }
    bool search_path = cloud_ ? r.path == "/rest/api/2/search/jql" : r.path == "/rest/api/2/search";
    if (r.method == "GET" && search_path) {
      std::string jql = r.QueryParam("jql");
      std::string prefix = "project = \"OPS\" AND labels = \"";
      if (!absl::StartsWith(jql, prefix) || !absl::EndsWith(jql, "\"")) {
        return Error(400, absl::StrCat("Error in the JQL Query: ", jql));
      }
      std::string label = jql.substr(prefix.size(), jql.size() - prefix.size() - 1);
      nlohmann::json found = nlohmann::json::array();
      for (const auto& [key, issue] : issues_) {
        for (const auto& l : issue.fields["labels"]) {
          if (l == label) found.push_back({{"id", "10001"}, {"key", key}});
        }
      }
      if (cloud_)
        return HttpResponse::Json(200, nlohmann::json{{"issues", found}, {"isLast", true}}.dump());
      return HttpResponse::Json(
          200,
          nlohmann::json{
              {"startAt", 0}, {"maxResults", 1}, {"total", found.size()}, {"issues", found}}
              .dump());
    }
    if (r.method == "POST" && r.path == "/rest/api/2/issueLink") {
      std::string type = body["type"].value("name", "");
      if (std::find(link_types_.begin(), link_types_.end(), type) == link_types_.end()) {
        return Error(404, absl::StrCat("No issue link type with name '", type, "' found."));
      }
      for (const char* side : {"inwardIssue", "outwardIssue"}) {
        if (!issues_.count(body[side].value("key", ""))) {
          return Error(404, "Issue Does Not Exist");
        }
      }
      links_.push_back(body);
      return HttpResponse::Text(201, "");
    }
    std::string issue_prefix = "/rest/api/2/issue/";
    if (absl::StartsWith(r.path, issue_prefix)) {
      std::string rest = r.path.substr(issue_prefix.size());
      std::string key = rest.substr(0, rest.find('/'));
      std::string what = rest.size() > key.size() ? rest.substr(key.size() + 1) : "";
      auto it = issues_.find(key);
      if (it == issues_.end()) {
        return Error(404, "Issue does not exist or you do not have permission to see it.");
      }
      Issue& issue = it->second;
      if (r.method == "GET" && what.empty()) {
        nlohmann::json status = {{"name", issue.done ? "Done" : "To Do"},
                                 {"statusCategory", {{"key", issue.done ? "done" : "new"}}}};
        nlohmann::json issuelinks = nlohmann::json::array();
        for (const nlohmann::json& link : links_) {
          if (link["inwardIssue"]["key"] == key) {
            issuelinks.push_back({{"type", {{"name", link["type"]["name"]}}},
                                  {"outwardIssue", {{"key", link["outwardIssue"]["key"]}}}});
          } else if (link["outwardIssue"]["key"] == key) {
            issuelinks.push_back({{"type", {{"name", link["type"]["name"]}}},
                                  {"inwardIssue", {{"key", link["inwardIssue"]["key"]}}}});
          }
        }
        return HttpResponse::Json(
            200, nlohmann::json{{"id", "10001"},
                                {"key", key},
                                {"fields", {{"status", status}, {"issuelinks", issuelinks}}}}
                     .dump());
      }
      if (r.method == "POST" && what == "comment") {
        if (!body.contains("body")) return Error(400, "Comment body can not be empty!");
        issue.comments.push_back(body["body"]);
        return HttpResponse::Json(201,
                                  nlohmann::json{{"id", "100"}, {"body", body["body"]}}.dump());
      }
      if (what == "transitions") {
        if (r.method == "GET") {
          nlohmann::json list = nlohmann::json::array();
          for (size_t i = 0; i < transitions_.size(); ++i) {
            list.push_back({{"id", absl::StrCat(11 + 10 * i)}, {"name", transitions_[i]}});
          }
          return HttpResponse::Json(
              200, nlohmann::json{{"expand", "transitions"}, {"transitions", list}}.dump());
        }
        if (r.method == "POST") {
          std::string id = body["transition"].value("id", "");
          for (size_t i = 0; i < transitions_.size(); ++i) {
            if (id != absl::StrCat(11 + 10 * i)) continue;
            if (transitions_[i] == "Done") issue.done = true;
            return HttpResponse::Text(204, "");
          }
          return Error(400, "Transition id '" + id + "' is not valid for this issue.");
        }
      }
    }
    return Error(404, "null for uri: " + r.target);
  }

  const bool cloud_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<HttpRequest> requests_;
  std::map<std::string, Issue> issues_;
  std::vector<std::string> transitions_ = {"To Do", "In Progress", "Done"};
  std::vector<nlohmann::json> links_;
  std::vector<std::string> link_types_ = {"Blocks", "Cloners", "Duplicate", "Relates"};
  bool due_dates_ = true;
  bool hold_ = false;
  bool holding_ = false;
  bool released_ = false;
  std::optional<HttpResponse> forced_;
  std::unique_ptr<HttpServer> server_;
};

std::unique_ptr<TicketSink> Sink(const SinkOptions& options) {
  auto sink = MakeTicketSink(options);
  EXPECT_TRUE(sink.ok()) << sink.status();
  return sink.ok() ? std::move(*sink) : nullptr;
}

TEST(JiraSinkTest, OpenedCreatesOneLabeledIssueAndReturnsItsKey) {
  FakeJira jira;
  auto sink = Sink(jira.Options());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row());
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "OPS-1");

  std::vector<HttpRequest> requests = jira.requests();
  ASSERT_EQ(requests.size(), 1u);  // no search on a first attempt
  const HttpRequest& create = requests[0];
  EXPECT_EQ(create.method, "POST");
  EXPECT_EQ(create.path, "/rest/api/2/issue");
  EXPECT_EQ(create.Header("authorization"),
            "Basic " + absl::Base64Escape("ops@example.com:jira-token-Zq81x"));
  EXPECT_EQ(create.Header("content-type"), "application/json");
  nlohmann::json fields = nlohmann::json::parse(create.body)["fields"];
  EXPECT_EQ(fields["project"], nlohmann::json({{"key", "OPS"}}));
  EXPECT_EQ(fields["issuetype"], nlohmann::json({{"name", "Task"}}));
  EXPECT_EQ(fields["summary"], "[INC-000042] checkout down");
  EXPECT_EQ(fields["labels"], nlohmann::json({"klaxon", "klaxon-INC-000042"}));
  std::string description = fields["description"];
  EXPECT_THAT(description, HasSubstr("Service: checkout"));
  EXPECT_THAT(description, HasSubstr("Severity: critical"));
  EXPECT_THAT(description, HasSubstr("First evidence: 2026-09-21T14:13:20.123Z"));
  EXPECT_THAT(description, HasSubstr("Reason: connection refused"));
  EXPECT_THAT(description, HasSubstr("probe=\"home\""));
  EXPECT_THAT(description, Not(HasSubstr("{")));  // a Jira macro
}

TEST(JiraSinkTest, ResolvedCommentsThenTakesTheResolveTransition) {
  FakeJira jira;
  auto sink = Sink(jira.Options());
  ASSERT_TRUE(sink->Deliver(Row()).ok());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(WithTicket(Row("resolved"), "OPS-1"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "OPS-1");

  EXPECT_THAT(jira.calls(),
              ElementsAre("POST /rest/api/2/issue", "POST /rest/api/2/issue/OPS-1/comment",
                          "GET /rest/api/2/issue/OPS-1/transitions",
                          "POST /rest/api/2/issue/OPS-1/transitions"));
  nlohmann::json transition = nlohmann::json::parse(jira.requests().back().body);
  EXPECT_EQ(transition, nlohmann::json({{"transition", {{"id", "31"}}}}));
  FakeJira::Issue issue = jira.issues()["OPS-1"];
  EXPECT_TRUE(issue.done);
  ASSERT_EQ(issue.comments.size(), 1u);
  EXPECT_THAT(issue.comments[0],
              HasSubstr("klaxon resolved INC-000042 at 2026-09-21T14:23:50.000Z"));
  EXPECT_THAT(issue.comments[0], HasSubstr("10m29s after first evidence"));
}

TEST(JiraSinkTest, AMissingTransitionIsAnErrorNamingTheAvailableOnes) {
  FakeJira jira;
  SinkOptions options = jira.Options();
  options.resolve_transition = "Close Issue";
  auto sink = Sink(options);
  ASSERT_TRUE(sink->Deliver(Row()).ok());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(WithTicket(Row("resolved"), "OPS-1"));
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(receipt.status().message(),
              HasSubstr("jira issue OPS-1 has no transition \"Close Issue\" (available: "
                        "\"To Do\", \"In Progress\", \"Done\")"));
  EXPECT_FALSE(jira.issues()["OPS-1"].done);
}

TEST(JiraSinkTest, AnIssueAPersonClosedIsResolvedWithoutATransition) {
  FakeJira jira;
  jira.AddIssue("OPS-9", "klaxon-INC-000042", /*done=*/true);
  jira.set_transitions({"Reopen"});  // what a done issue offers
  auto sink = Sink(jira.Options());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(WithTicket(Row("resolved"), "OPS-9"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_THAT(jira.calls(), ElementsAre("POST /rest/api/2/issue/OPS-9/comment",
                                        "GET /rest/api/2/issue/OPS-9/transitions",
                                        "GET /rest/api/2/issue/OPS-9"));
}

TEST(JiraSinkTest, ARetriedResolveOfADoneIssueWritesNothingTwice) {
  FakeJira jira;
  jira.AddIssue("OPS-3", "klaxon-INC-000042", /*done=*/true);
  auto sink = Sink(jira.Options());
  OutboxRow row = WithTicket(Row("resolved"), "OPS-3");
  row.attempts = 1;
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(row);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_THAT(jira.calls(), ElementsAre("GET /rest/api/2/issue/OPS-3"));
  EXPECT_EQ(jira.requests()[0].QueryParam("fields"), "status");
  EXPECT_TRUE(jira.issues()["OPS-3"].comments.empty());
}

void ExpectARetryFindsTheIssueCreatedByATimedOutAttempt(bool cloud) {
  FakeJira jira(cloud);
  SinkOptions options = jira.Options();
  options.timeout = absl::Milliseconds(500);
  auto sink = Sink(options);
  jira.HoldNextCreate();
  absl::StatusOr<DeliveryReceipt> first = sink->Deliver(Row());
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  jira.Release();
  ASSERT_TRUE(jira.WaitUntilAnswered());
  ASSERT_EQ(jira.issues().size(), 1u);  // the server made it all the same

  OutboxRow retry = Row();
  retry.attempts = 1;
  absl::StatusOr<DeliveryReceipt> second = sink->Deliver(retry);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->ticket_ref, "OPS-1");
  EXPECT_EQ(jira.issues().size(), 1u);
  HttpRequest search = jira.requests().back();
  EXPECT_EQ(search.method, "GET");
  EXPECT_EQ(search.QueryParam("jql"), "project = \"OPS\" AND labels = \"klaxon-INC-000042\"");
}

TEST(JiraSinkTest, ARetryAfterAnAmbiguousTimeoutFindsTheIssueInsteadOfMakingASecond) {
  ExpectARetryFindsTheIssueCreatedByATimedOutAttempt(/*cloud=*/true);
}

TEST(JiraSinkTest, ARetryOnDataCenterSearchesWithTheOlderEndpoint) {
  ExpectARetryFindsTheIssueCreatedByATimedOutAttempt(/*cloud=*/false);
}

TEST(JiraSinkTest, ARetryThatFindsNothingCreatesTheIssue) {
  FakeJira jira;
  auto sink = Sink(jira.Options());
  OutboxRow row = Row();
  row.attempts = 2;  // e.g. the server was down
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(row);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "OPS-1");
  EXPECT_THAT(jira.calls(), ElementsAre("GET /rest/api/2/search/jql", "POST /rest/api/2/issue"));
}

TEST(JiraSinkTest, AResolveWithoutARecordedRefFindsTheIssueByLabel) {
  FakeJira jira;
  jira.AddIssue("OPS-5", "klaxon-INC-000042", /*done=*/false);
  auto sink = Sink(jira.Options());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row("resolved"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "OPS-5");
  EXPECT_TRUE(jira.issues()["OPS-5"].done);
}

TEST(JiraSinkTest, AResolveWithNoIssueAnywhereFailsAFewTimesThenGivesUp) {
  FakeJira jira;
  auto sink = Sink(jira.Options());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row("resolved"));
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(receipt.status().message(), HasSubstr("no ticket found for INC-000042"));
  EXPECT_THAT(receipt.status().message(), HasSubstr("label klaxon-INC-000042"));

  // The outbox delivers a sink's rows in order: this one must not block it forever.
  OutboxRow late = Row("resolved");
  late.attempts = 5;
  receipt = sink->Deliver(late);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "");
}

TEST(JiraSinkTest, AnEventItDoesNotKnowBecomesAComment) {
  FakeJira jira;
  jira.AddIssue("OPS-2", "klaxon-INC-000042", /*done=*/false);
  auto sink = Sink(jira.Options());
  OutboxRow row = WithTicket(Row("acknowledged"), "OPS-2");
  row.incident.timeline.push_back(
      {absl::FromUnixMillis(1'790'000'100'000), "acknowledged", "acknowledged by alice"});
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(row);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_THAT(jira.calls(), ElementsAre("POST /rest/api/2/issue/OPS-2/comment"));
  FakeJira::Issue issue = jira.issues()["OPS-2"];
  ASSERT_EQ(issue.comments.size(), 1u);
  EXPECT_THAT(issue.comments[0], HasSubstr("INC-000042 acknowledged"));
  EXPECT_THAT(issue.comments[0], HasSubstr("acknowledged by alice"));
  EXPECT_FALSE(issue.done);
}

TEST(JiraSinkTest, ReopenedEscalatedAndReminderAreCommentsOnly) {
  FakeJira jira;
  jira.AddIssue("OPS-2", "klaxon-INC-000042", /*done=*/true);
  auto sink = Sink(jira.Options());
  OutboxRow reopened = WithTicket(Row("reopened"), "OPS-2");
  reopened.incident.resolved_at = absl::FromUnixMillis(1'790'000'630'000);
  reopened.created_at = absl::FromUnixMillis(1'790'000'810'000);
  ASSERT_TRUE(sink->Deliver(reopened).ok());
  OutboxRow escalated = WithTicket(Row("escalated"), "OPS-2");
  escalated.created_at = absl::FromUnixMillis(1'790'000'930'456);
  ASSERT_TRUE(sink->Deliver(escalated).ok());
  OutboxRow reminder = WithTicket(Row("reminder"), "OPS-2");
  reminder.created_at = absl::FromUnixMillis(1'790'003'630'456);
  reminder.incident.clocks.push_back({"time_to_acknowledge", reminder.incident.first_evidence,
                                      absl::FromUnixMillis(1'790'000'900'123), ClockState::kMet,
                                      absl::FromUnixMillis(1'790'001'830'456)});
  ASSERT_TRUE(sink->Deliver(reminder).ok());

  EXPECT_THAT(jira.calls(), ElementsAre("POST /rest/api/2/issue/OPS-2/comment",
                                        "POST /rest/api/2/issue/OPS-2/comment",
                                        "POST /rest/api/2/issue/OPS-2/comment"));
  FakeJira::Issue issue = jira.issues()["OPS-2"];
  EXPECT_TRUE(issue.done);  // see Deliver(): reopening is left to a person
  ASSERT_EQ(issue.comments.size(), 3u);
  EXPECT_EQ(issue.comments[0],
            "klaxon reopened INC-000042 at 2026-09-21T14:26:50.000Z: the condition came back 3m "
            "after it was resolved at 2026-09-21T14:23:50.000Z.\nReason: connection refused");
  EXPECT_EQ(issue.comments[1],
            "klaxon escalated INC-000042 at 2026-09-21T14:28:50.456Z: nobody has acknowledged it "
            "15m after it opened.");
  EXPECT_EQ(issue.comments[2],
            "klaxon reminder at 2026-09-21T15:13:50.456Z: INC-000042 is acknowledged but still "
            "open, 1h after it opened and 30m after it was acknowledged.");
}

TEST(JiraSinkTest, APostmortemIsANewIssueDueADayAfterResolutionLinkedToTheOutage) {
  FakeJira jira;
  auto sink = Sink(jira.Options());
  ASSERT_TRUE(sink->Deliver(Row()).ok());  // OPS-1, the outage
  OutboxRow row = WithTicket(PostmortemRow(), "OPS-1");
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(row);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "OPS-2");

  EXPECT_THAT(jira.calls(), ElementsAre("POST /rest/api/2/issue", "POST /rest/api/2/issue",
                                        "POST /rest/api/2/issueLink"));
  nlohmann::json fields = jira.issues()["OPS-2"].fields;
  EXPECT_EQ(fields["project"], nlohmann::json({{"key", "OPS"}}));
  EXPECT_EQ(fields["issuetype"], nlohmann::json({{"name", "Task"}}));
  EXPECT_EQ(fields["summary"], "Post-mortem: INC-000042 checkout down");
  EXPECT_EQ(fields["description"], RenderPostmortem(row.incident));
  EXPECT_THAT(fields["description"].get<std::string>(), HasSubstr("## Timeline"));
  EXPECT_EQ(fields["duedate"], "2026-09-22");
  EXPECT_EQ(fields["labels"], nlohmann::json({"postmortem", "klaxon-INC-000042-postmortem"}));
  ASSERT_EQ(jira.links().size(), 1u);
  EXPECT_EQ(jira.links()[0], nlohmann::json({{"type", {{"name", "Relates"}}},
                                             {"inwardIssue", {{"key", "OPS-2"}}},
                                             {"outwardIssue", {{"key", "OPS-1"}}}}));

  // The outage issue is still the one later deliveries find by label.
  OutboxRow reopened = Row("reopened");
  ASSERT_TRUE(sink->Deliver(reopened).ok());
  EXPECT_EQ(jira.issues()["OPS-1"].comments.size(), 1u);
  EXPECT_TRUE(jira.issues()["OPS-2"].comments.empty());
}

TEST(JiraSinkTest, ARetriedPostmortemFindsItsIssueAndLinksItOnce) {
  FakeJira jira;
  jira.AddIssue("OPS-1", "klaxon-INC-000042", /*done=*/true);
  SinkOptions options = jira.Options();
  options.timeout = absl::Milliseconds(500);
  auto sink = Sink(options);
  jira.HoldNextCreate();
  absl::StatusOr<DeliveryReceipt> first = sink->Deliver(WithTicket(PostmortemRow(), "OPS-1"));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  jira.Release();
  ASSERT_TRUE(jira.WaitUntilAnswered());
  ASSERT_EQ(jira.issues().size(), 2u);  // made all the same, not linked
  EXPECT_TRUE(jira.links().empty());

  OutboxRow retry = WithTicket(PostmortemRow(), "OPS-1");
  retry.attempts = 1;
  absl::StatusOr<DeliveryReceipt> second = sink->Deliver(retry);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->ticket_ref, "OPS-2");
  EXPECT_EQ(jira.issues().size(), 2u);
  ASSERT_EQ(jira.links().size(), 1u);
  HttpRequest search = jira.requests()[1];
  EXPECT_EQ(search.QueryParam("jql"),
            "project = \"OPS\" AND labels = \"klaxon-INC-000042-postmortem\"");

  // Its answer lost too: the next retry finds the issue and its link.
  retry.attempts = 2;
  absl::StatusOr<DeliveryReceipt> third = sink->Deliver(retry);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->ticket_ref, "OPS-2");
  EXPECT_EQ(jira.issues().size(), 2u);
  EXPECT_EQ(jira.links().size(), 1u);
  EXPECT_EQ(jira.calls().back(), "GET /rest/api/2/issue/OPS-2");
}

TEST(JiraSinkTest, AProjectWithoutDueDatesGetsThePostmortemWithoutOne) {
  FakeJira jira;
  jira.AddIssue("OPS-1", "klaxon-INC-000042", /*done=*/true);
  jira.refuse_due_dates();
  absl::StatusOr<DeliveryReceipt> receipt =
      Sink(jira.Options())->Deliver(WithTicket(PostmortemRow(), "OPS-1"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "OPS-2");
  EXPECT_FALSE(jira.issues()["OPS-2"].fields.contains("duedate"));
  EXPECT_EQ(jira.links().size(), 1u);
}

TEST(JiraSinkTest, ALinkJiraRefusesStillDeliversThePostmortem) {
  FakeJira jira;
  jira.AddIssue("OPS-1", "klaxon-INC-000042", /*done=*/true);
  jira.set_link_types({"Blocks"});
  absl::StatusOr<DeliveryReceipt> receipt =
      Sink(jira.Options())->Deliver(WithTicket(PostmortemRow(), "OPS-1"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "OPS-2");
  EXPECT_TRUE(jira.links().empty());
}

TEST(JiraSinkTest, APostmortemWithoutAnOutageIssueStandsAlone) {
  FakeJira jira;
  absl::StatusOr<DeliveryReceipt> receipt = Sink(jira.Options())->Deliver(PostmortemRow());
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "OPS-1");
  EXPECT_THAT(jira.calls(), ElementsAre("GET /rest/api/2/search/jql", "POST /rest/api/2/issue"));
  EXPECT_TRUE(jira.links().empty());
}

TEST(JiraSinkTest, ErrorsSayWhatJiraAnsweredAndNeverTheToken) {
  FakeJira jira;
  SinkOptions options = jira.Options();
  options.issue_type = "Bug";
  auto sink = Sink(options);
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row());
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(receipt.status().message(), HasSubstr("POST http://"));
  EXPECT_THAT(receipt.status().message(), HasSubstr("/rest/api/2/issue: HTTP 400"));
  EXPECT_THAT(receipt.status().message(), HasSubstr("Specify a valid issue type"));

  // A proxy that echoes the request's credentials back.
  std::string basic = absl::Base64Escape(absl::StrCat(kUser, ":", kToken));
  jira.set_answer_with(HttpResponse::Text(
      502, absl::StrCat("bad gateway for Authorization: Basic ", basic, " token=", kToken)));
  receipt = sink->Deliver(Row());
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(receipt.status().message(), HasSubstr("HTTP 502: bad gateway"));
  EXPECT_THAT(receipt.status().message(), Not(HasSubstr(kToken)));
  EXPECT_THAT(receipt.status().message(), Not(HasSubstr(basic)));
}

TEST(JiraSinkTest, InvalidUtf8InTheIncidentIsReplacedNotThrown) {
  FakeJira jira;
  OutboxRow row = Row();
  row.incident.summary = "checkout \xc3";
  absl::StatusOr<DeliveryReceipt> receipt = Sink(jira.Options())->Deliver(row);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(jira.issues()["OPS-1"].fields["summary"], "[INC-000042] checkout \xEF\xBF\xBD");
}

TEST(JiraSinkTest, WithoutAUserTheTokenIsSentAsABearerToken) {
  FakeJira jira;
  SinkOptions options = jira.Options();
  options.user = "";  // a Data Center personal access token
  auto sink = Sink(options);
  EXPECT_FALSE(sink->Deliver(Row()).ok());  // the fake wants Basic
  EXPECT_EQ(jira.requests()[0].Header("authorization"), absl::StrCat("Bearer ", kToken));
}

TEST(JiraSinkTest, TheFactoryRefusesOptionsJiraCannotWorkWith) {
  SinkOptions options;
  options.name = "tickets";
  options.type = "jira";
  options.url = "https://jira.example.com";
  options.user = kUser;
  options.api_key = kToken;
  auto no_project = MakeTicketSink(options);
  ASSERT_FALSE(no_project.ok());
  EXPECT_EQ(no_project.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_project.status().message(),
              HasSubstr("sink \"tickets\": a jira sink needs project"));

  options.project = "OPS";
  options.api_key = "";
  auto no_key = MakeTicketSink(options);
  ASSERT_FALSE(no_key.ok());
  EXPECT_THAT(no_key.status().message(), HasSubstr("needs api_key"));

  options.api_key = kToken;
  options.url = "";
  auto no_url = MakeTicketSink(options);
  ASSERT_FALSE(no_url.ok());
  EXPECT_THAT(no_url.status().message(), HasSubstr("needs url"));

  options.url = "jira.example.com";
  auto bad_url = MakeTicketSink(options);
  ASSERT_FALSE(bad_url.ok());
  EXPECT_THAT(bad_url.status().message(), HasSubstr("is not http:// or https://"));

  options.url = "https://jira.example.com";
  EXPECT_TRUE(MakeTicketSink(options).ok());
}

}  // namespace
}  // namespace klaxon
