#include "exporters/redmine_sink.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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

constexpr char kApiKey[] = "redmine-key-7f3a9c";
constexpr int kField = 5;
constexpr int kResolved = 3;

OutboxRow Row(const std::string& event = "opened", int64_t number = 42) {
  OutboxRow row;
  row.id = 7;
  row.sink = "tickets";
  row.event = event;
  row.incident.number = number;
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
  row.incident.tickets.push_back({"tickets", ref});
  return row;
}

// Redmine's issues REST API (JSON) for project "ops" with custom field 5, as
// Redmine answers: 201 with {"issue": ...} on create, 422 with {"errors": [...]}
// for invalid input, 204 on update, lists filtered by project_id, status_id
// (open by default, * for all), cf_5 and subject (~ for contains); relations
// between issues. Records every request. Thread-safe.
class FakeRedmine {
 public:
  struct Issue {
    int id = 0;
    std::string subject;
    std::string description;
    int status_id = 1;
    std::string incident_field;
    std::string start_date;
    std::string due_date;
    std::vector<std::string> notes;
  };
  struct Relation {
    int issue_id = 0;
    int issue_to_id = 0;
    std::string relation_type;
  };

  FakeRedmine() {
    auto server =
        HttpServer::Start("127.0.0.1:0", [this](const HttpRequest& r) { return Serve(r); });
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  ~FakeRedmine() {
    Release();
    server_->Stop();
  }

  SinkOptions Options() const {
    SinkOptions options;
    options.name = "tickets";
    options.type = "redmine";
    options.url = absl::StrCat("http://", server_->address());
    options.api_key = kApiKey;
    options.project = "ops";
    options.resolved_status_id = kResolved;
    options.incident_field_id = kField;
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
  std::vector<Relation> relations() {
    std::lock_guard lock(mu_);
    return relations_;
  }
  int AddIssue(Issue issue) {
    std::lock_guard lock(mu_);
    issue.id = next_id_++;
    issues_[issue.id] = issue;
    return issue.id;
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
  static nlohmann::json ToJson(const Issue& issue) {
    nlohmann::json out = {
        {"id", issue.id},
        {"project", {{"id", 1}, {"name", "Ops"}}},
        {"tracker", {{"id", 1}, {"name", "Bug"}}},
        {"status",
         {{"id", issue.status_id}, {"name", issue.status_id == kResolved ? "Resolved" : "New"}}},
        {"subject", issue.subject},
        {"description", issue.description},
        {"custom_fields",
         {{{"id", kField}, {"name", "Incident"}, {"value", issue.incident_field}}}},
    };
    return out;
  }

  HttpResponse Serve(const HttpRequest& r) {
    std::unique_lock lock(mu_);
    requests_.push_back(r);
    if (r.Header("x-redmine-api-key") != kApiKey) return HttpResponse::Text(401, "");
    nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
    if (r.path == "/issues.json" && r.method == "POST") {
      const nlohmann::json& in = body["issue"];
      std::vector<std::string> errors;
      if (!in.is_object() || in["project_id"] != "ops") errors.push_back("Project cannot be blank");
      if (!in.is_object() || !in["subject"].is_string())
        errors.push_back("Subject cannot be blank");
      if (!errors.empty())
        return HttpResponse::Json(422, nlohmann::json{{"errors", errors}}.dump());
      Issue issue;
      issue.id = next_id_++;
      issue.subject = in["subject"];
      issue.description = in.value("description", "");
      issue.start_date = in.value("start_date", "");
      issue.due_date = in.value("due_date", "");
      if (in.contains("custom_fields")) {
        for (const auto& field : in["custom_fields"]) {
          if (field["id"] == kField) issue.incident_field = field["value"];
        }
      }
      issues_[issue.id] = issue;
      if (hold_) {
        hold_ = false;
        holding_ = true;
        cv_.wait_for(lock, std::chrono::seconds(10), [this] { return released_; });
        holding_ = false;
        cv_.notify_all();
      }
      return HttpResponse::Json(201, nlohmann::json{{"issue", ToJson(issue)}}.dump());
    }
    if (r.path == "/issues.json" && r.method == "GET") {
      if (r.QueryParam("project_id") != "ops") return HttpResponse::Text(404, "");
      std::string status = r.QueryParam("status_id");
      std::string field = r.QueryParam(absl::StrCat("cf_", kField));
      std::string subject = r.QueryParam("subject");
      nlohmann::json list = nlohmann::json::array();
      for (const auto& [id, issue] : issues_) {
        if (status.empty() && issue.status_id == kResolved) continue;  // open ones only
        if (!field.empty() && issue.incident_field != field) continue;
        if (absl::StartsWith(subject, "~") && !absl::StrContains(issue.subject, subject.substr(1)))
          continue;
        list.push_back(ToJson(issue));
      }
      return HttpResponse::Json(
          200,
          nlohmann::json{
              {"issues", list}, {"total_count", list.size()}, {"offset", 0}, {"limit", 25}}
              .dump());
    }
    int id = 0;
    if (absl::StartsWith(r.path, "/issues/") && absl::EndsWith(r.path, "/relations.json") &&
        absl::SimpleAtoi(r.path.substr(8, r.path.size() - 8 - 15), &id)) {
      if (!issues_.count(id)) return HttpResponse::Text(404, "");
      if (r.method == "GET") {
        nlohmann::json list = nlohmann::json::array();
        for (const Relation& relation : relations_) {
          if (relation.issue_id != id && relation.issue_to_id != id) continue;
          list.push_back({{"id", 1},
                          {"issue_id", relation.issue_id},
                          {"issue_to_id", relation.issue_to_id},
                          {"relation_type", relation.relation_type},
                          {"delay", nullptr}});
        }
        return HttpResponse::Json(200, nlohmann::json{{"relations", list}}.dump());
      }
      if (r.method == "POST") {
        const nlohmann::json& in = body["relation"];
        if (!in.is_object() || !in["issue_to_id"].is_number_integer() ||
            !issues_.count(in["issue_to_id"].get<int>())) {
          return HttpResponse::Json(422, R"({"errors":["Related issue cannot be blank"]})");
        }
        Relation relation{id, in["issue_to_id"].get<int>(), in.value("relation_type", "")};
        for (const Relation& other : relations_) {
          if (other.issue_id == id && other.issue_to_id == relation.issue_to_id) {
            return HttpResponse::Json(422,
                                      R"({"errors":["Related issue has already been taken"]})");
          }
        }
        relations_.push_back(relation);
        return HttpResponse::Json(201, nlohmann::json{{"relation",
                                                       {{"id", relations_.size()},
                                                        {"issue_id", id},
                                                        {"issue_to_id", relation.issue_to_id},
                                                        {"relation_type", relation.relation_type}}}}
                                           .dump());
      }
    }
    if (absl::StartsWith(r.path, "/issues/") && absl::EndsWith(r.path, ".json") &&
        absl::SimpleAtoi(r.path.substr(8, r.path.size() - 13), &id)) {
      if (!issues_.count(id)) return HttpResponse::Text(404, "");
      Issue& issue = issues_[id];
      if (r.method == "GET")
        return HttpResponse::Json(200, nlohmann::json{{"issue", ToJson(issue)}}.dump());
      if (r.method == "PUT") {
        const nlohmann::json& in = body["issue"];
        if (in.contains("notes")) issue.notes.push_back(in["notes"]);
        if (in.contains("status_id")) issue.status_id = in["status_id"];
        return HttpResponse::Text(204, "");
      }
    }
    return HttpResponse::Text(404, "");
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<HttpRequest> requests_;
  std::map<int, Issue> issues_;
  std::vector<Relation> relations_;
  int next_id_ = 1;
  bool hold_ = false;
  bool holding_ = false;
  bool released_ = false;
  std::unique_ptr<HttpServer> server_;
};

FakeRedmine::Issue Existing(const std::string& subject, int status_id,
                            const std::string& incident_field) {
  FakeRedmine::Issue issue;
  issue.subject = subject;
  issue.status_id = status_id;
  issue.incident_field = incident_field;
  return issue;
}

std::unique_ptr<TicketSink> Sink(const SinkOptions& options) {
  auto sink = MakeTicketSink(options);
  EXPECT_TRUE(sink.ok()) << sink.status();
  return sink.ok() ? std::move(*sink) : nullptr;
}

TEST(RedmineSinkTest, OpenedCreatesOneIssueWithTheIncidentFieldAndReturnsItsId) {
  FakeRedmine redmine;
  auto sink = Sink(redmine.Options());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row());
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "1");

  std::vector<HttpRequest> requests = redmine.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/issues.json");
  EXPECT_EQ(requests[0].Header("x-redmine-api-key"), kApiKey);
  EXPECT_EQ(requests[0].Header("content-type"), "application/json");
  nlohmann::json issue = nlohmann::json::parse(requests[0].body)["issue"];
  EXPECT_EQ(issue["project_id"], "ops");
  EXPECT_EQ(issue["subject"], "[INC-000042] checkout down");
  EXPECT_EQ(issue["custom_fields"], nlohmann::json::parse(R"([{"id": 5, "value": "INC-000042"}])"));
  EXPECT_THAT(issue["description"].get<std::string>(), HasSubstr("Severity: critical"));
}

TEST(RedmineSinkTest, WithoutAnIncidentFieldNoCustomFieldIsSent) {
  FakeRedmine redmine;
  SinkOptions options = redmine.Options();
  options.incident_field_id = 0;
  ASSERT_TRUE(Sink(options)->Deliver(Row()).ok());
  nlohmann::json issue = nlohmann::json::parse(redmine.requests()[0].body)["issue"];
  EXPECT_FALSE(issue.contains("custom_fields"));
}

TEST(RedmineSinkTest, ResolvedAddsANoteAndSetsTheResolvedStatusInOneUpdate) {
  FakeRedmine redmine;
  auto sink = Sink(redmine.Options());
  ASSERT_TRUE(sink->Deliver(Row()).ok());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(WithTicket(Row("resolved"), "1"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "1");
  EXPECT_THAT(redmine.calls(), ElementsAre("POST /issues.json", "PUT /issues/1.json"));
  nlohmann::json update = nlohmann::json::parse(redmine.requests()[1].body)["issue"];
  EXPECT_EQ(update["status_id"], kResolved);
  EXPECT_THAT(update["notes"].get<std::string>(), HasSubstr("klaxon resolved INC-000042"));
  EXPECT_EQ(redmine.issues()[1].status_id, kResolved);
}

TEST(RedmineSinkTest, OtherEventsAddANoteOnly) {
  FakeRedmine redmine;
  int id = redmine.AddIssue(Existing("[INC-000042] checkout down", 1, "INC-000042"));
  auto sink = Sink(redmine.Options());
  absl::StatusOr<DeliveryReceipt> receipt =
      sink->Deliver(WithTicket(Row("acknowledged"), absl::StrCat(id)));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  nlohmann::json update = nlohmann::json::parse(redmine.requests()[0].body)["issue"];
  EXPECT_FALSE(update.contains("status_id"));
  EXPECT_THAT(update["notes"].get<std::string>(), HasSubstr("INC-000042 acknowledged"));
  EXPECT_EQ(redmine.issues()[id].status_id, 1);
}

TEST(RedmineSinkTest, ARetriedResolveOfAResolvedIssueWritesNothingTwice) {
  FakeRedmine redmine;
  int id = redmine.AddIssue(Existing("[INC-000042] checkout down", kResolved, "INC-000042"));
  auto sink = Sink(redmine.Options());
  OutboxRow row = WithTicket(Row("resolved"), absl::StrCat(id));
  row.attempts = 1;
  ASSERT_TRUE(sink->Deliver(row).ok());
  EXPECT_THAT(redmine.calls(), ElementsAre("GET /issues/1.json"));
}

void ExpectARetryFindsTheIssueCreatedByATimedOutAttempt(int incident_field_id) {
  FakeRedmine redmine;
  // An incident whose id contains this one's must not be taken for it.
  redmine.AddIssue(Existing("[INC-0000421] other", 1, "INC-0000421"));
  SinkOptions options = redmine.Options();
  options.incident_field_id = incident_field_id;
  options.timeout = absl::Milliseconds(500);
  auto sink = Sink(options);
  redmine.HoldNextCreate();
  absl::StatusOr<DeliveryReceipt> first = sink->Deliver(Row());
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  redmine.Release();
  ASSERT_TRUE(redmine.WaitUntilAnswered());
  ASSERT_EQ(redmine.issues().size(), 2u);

  OutboxRow retry = Row();
  retry.attempts = 1;
  absl::StatusOr<DeliveryReceipt> second = sink->Deliver(retry);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->ticket_ref, "2");
  EXPECT_EQ(redmine.issues().size(), 2u);
  HttpRequest search = redmine.requests().back();
  EXPECT_EQ(search.method, "GET");
  EXPECT_EQ(search.path, "/issues.json");
  EXPECT_EQ(search.QueryParam("project_id"), "ops");
  EXPECT_EQ(search.QueryParam("status_id"), "*");
  if (incident_field_id > 0) {
    EXPECT_EQ(search.QueryParam("cf_5"), "INC-000042");
  } else {
    EXPECT_EQ(search.QueryParam("subject"), "~INC-000042");
  }
}

TEST(RedmineSinkTest, ARetryAfterAnAmbiguousTimeoutFindsTheIssueByItsIncidentField) {
  ExpectARetryFindsTheIssueCreatedByATimedOutAttempt(kField);
}

TEST(RedmineSinkTest, ARetryAfterAnAmbiguousTimeoutFindsTheIssueByItsSubject) {
  ExpectARetryFindsTheIssueCreatedByATimedOutAttempt(0);
}

TEST(RedmineSinkTest, AResolveWithoutARecordedRefFindsTheIssueEvenWhenClosed) {
  FakeRedmine redmine;
  int id = redmine.AddIssue(Existing("[INC-000042] checkout down", 5, "INC-000042"));
  auto sink = Sink(redmine.Options());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row("resolved"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, absl::StrCat(id));
  EXPECT_EQ(redmine.issues()[id].status_id, kResolved);
}

TEST(RedmineSinkTest, AResolveWithNoIssueAnywhereFailsAFewTimesThenGivesUp) {
  FakeRedmine redmine;
  auto sink = Sink(redmine.Options());
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(Row("resolved"));
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(receipt.status().message(), HasSubstr("no issue in project ops holds INC-000042"));
  OutboxRow late = Row("resolved");
  late.attempts = 5;
  EXPECT_TRUE(sink->Deliver(late).ok());
}

TEST(RedmineSinkTest, ReopenedSetsTheIssueBackToNewWithANote) {
  FakeRedmine redmine;
  int id = redmine.AddIssue(Existing("[INC-000042] checkout down", kResolved, "INC-000042"));
  auto sink = Sink(redmine.Options());
  OutboxRow row = WithTicket(Row("reopened"), absl::StrCat(id));
  row.created_at = absl::FromUnixMillis(1'790'000'810'000);
  row.incident.reopens = 2;
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(row);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, absl::StrCat(id));
  EXPECT_THAT(redmine.calls(), ElementsAre("PUT /issues/1.json"));
  FakeRedmine::Issue issue = redmine.issues()[id];
  EXPECT_EQ(issue.status_id, 1);
  ASSERT_EQ(issue.notes.size(), 1u);
  EXPECT_EQ(issue.notes[0],
            "klaxon reopened INC-000042 at 2026-09-21T14:26:50.000Z: the condition came back "
            "within the reopen window (reopen 2).\nReason: connection refused");

  // A retry after a lost answer sees the issue open again and writes nothing.
  row.attempts = 1;
  ASSERT_TRUE(sink->Deliver(row).ok());
  EXPECT_THAT(redmine.calls(), ElementsAre("PUT /issues/1.json", "GET /issues/1.json"));
  EXPECT_EQ(redmine.issues()[id].notes.size(), 1u);
}

TEST(RedmineSinkTest, EscalatedAndReminderAddNotesOnly) {
  FakeRedmine redmine;
  int id = redmine.AddIssue(Existing("[INC-000042] checkout down", 2, "INC-000042"));
  auto sink = Sink(redmine.Options());
  for (const char* event : {"escalated", "reminder"}) {
    ASSERT_TRUE(sink->Deliver(WithTicket(Row(event), absl::StrCat(id))).ok()) << event;
  }
  for (const HttpRequest& request : redmine.requests()) {
    EXPECT_FALSE(nlohmann::json::parse(request.body)["issue"].contains("status_id"));
  }
  FakeRedmine::Issue issue = redmine.issues()[id];
  EXPECT_EQ(issue.status_id, 2);
  ASSERT_EQ(issue.notes.size(), 2u);
  EXPECT_THAT(issue.notes[0], HasSubstr("klaxon escalated INC-000042"));
  EXPECT_THAT(issue.notes[1], HasSubstr("INC-000042 is acknowledged but still open"));
}

TEST(RedmineSinkTest, APostmortemIsANewIssueDueTheDayAfterResolutionRelatedToTheOutage) {
  FakeRedmine redmine;
  auto sink = Sink(redmine.Options());
  ASSERT_TRUE(sink->Deliver(Row()).ok());  // #1, the outage
  OutboxRow row = WithTicket(PostmortemRow(), "1");
  absl::StatusOr<DeliveryReceipt> receipt = sink->Deliver(row);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->ticket_ref, "2");
  EXPECT_THAT(redmine.calls(), ElementsAre("POST /issues.json", "POST /issues.json",
                                           "POST /issues/2/relations.json"));

  nlohmann::json sent = nlohmann::json::parse(redmine.requests()[1].body)["issue"];
  EXPECT_EQ(sent["project_id"], "ops");
  EXPECT_EQ(sent["subject"], "[INC-000042 post-mortem] checkout down");
  EXPECT_EQ(sent["description"], RenderPostmortem(row.incident));
  EXPECT_EQ(sent["start_date"], "2026-09-21");
  EXPECT_EQ(sent["due_date"], "2026-09-22");
  EXPECT_EQ(sent["custom_fields"],
            nlohmann::json::parse(R"([{"id": 5, "value": "INC-000042-postmortem"}])"));
  EXPECT_EQ(
      nlohmann::json::parse(redmine.requests()[2].body),
      nlohmann::json::parse(R"({"relation": {"issue_to_id": 1, "relation_type": "relates"}})"));
  ASSERT_EQ(redmine.relations().size(), 1u);
  EXPECT_EQ(redmine.relations()[0].issue_id, 2);
  EXPECT_EQ(redmine.relations()[0].issue_to_id, 1);
}

void ExpectARetriedPostmortemFindsItsIssueAndRelatesItOnce(int incident_field_id) {
  FakeRedmine redmine;
  int outage = redmine.AddIssue(Existing("[INC-000042] checkout down", kResolved, "INC-000042"));
  SinkOptions options = redmine.Options();
  options.incident_field_id = incident_field_id;
  options.timeout = absl::Milliseconds(500);
  auto sink = Sink(options);
  redmine.HoldNextCreate();
  absl::StatusOr<DeliveryReceipt> first =
      sink->Deliver(WithTicket(PostmortemRow(), absl::StrCat(outage)));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  redmine.Release();
  ASSERT_TRUE(redmine.WaitUntilAnswered());
  ASSERT_EQ(redmine.issues().size(), 2u);
  EXPECT_TRUE(redmine.relations().empty());

  OutboxRow retry = WithTicket(PostmortemRow(), absl::StrCat(outage));
  retry.attempts = 1;
  absl::StatusOr<DeliveryReceipt> second = sink->Deliver(retry);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->ticket_ref, "2");
  EXPECT_EQ(redmine.issues().size(), 2u);
  EXPECT_EQ(redmine.relations().size(), 1u);
  HttpRequest search = redmine.requests()[1];
  EXPECT_EQ(search.path, "/issues.json");
  if (incident_field_id > 0) {
    EXPECT_EQ(search.QueryParam("cf_5"), "INC-000042-postmortem");
  } else {
    EXPECT_EQ(search.QueryParam("subject"), "~INC-000042 post-mortem");
  }

  retry.attempts = 2;
  ASSERT_TRUE(sink->Deliver(retry).ok());
  EXPECT_EQ(redmine.issues().size(), 2u);
  EXPECT_EQ(redmine.relations().size(), 1u);
  EXPECT_EQ(redmine.calls().back(), "GET /issues/2/relations.json");
}

TEST(RedmineSinkTest, ARetriedPostmortemFindsItsIssueByItsIncidentField) {
  ExpectARetriedPostmortemFindsItsIssueAndRelatesItOnce(kField);
}

TEST(RedmineSinkTest, ARetriedPostmortemFindsItsIssueByItsSubject) {
  ExpectARetriedPostmortemFindsItsIssueAndRelatesItOnce(0);
}

TEST(RedmineSinkTest, TheOutageIssueSearchNeverTakesThePostmortemForIt) {
  for (int field : {kField, 0}) {
    FakeRedmine redmine;
    redmine.AddIssue(
        Existing("[INC-000042 post-mortem] checkout down", 1, "INC-000042-postmortem"));
    int outage = redmine.AddIssue(Existing("[INC-000042] checkout down", kResolved, "INC-000042"));
    SinkOptions options = redmine.Options();
    options.incident_field_id = field;
    absl::StatusOr<DeliveryReceipt> receipt = Sink(options)->Deliver(Row("reopened"));
    ASSERT_TRUE(receipt.ok()) << receipt.status();
    EXPECT_EQ(receipt->ticket_ref, absl::StrCat(outage)) << "incident_field_id " << field;
    EXPECT_EQ(redmine.issues()[outage].status_id, 1);
    EXPECT_TRUE(redmine.issues()[1].notes.empty());
  }
}

TEST(RedmineSinkTest, ErrorsSayWhatRedmineAnsweredAndNeverTheKey) {
  FakeRedmine redmine;
  SinkOptions options = redmine.Options();
  options.project = "nope";
  absl::StatusOr<DeliveryReceipt> receipt = Sink(options)->Deliver(Row());
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(receipt.status().message(), HasSubstr("/issues.json: HTTP 422"));
  EXPECT_THAT(receipt.status().message(), HasSubstr("Project cannot be blank"));

  options = redmine.Options();
  options.api_key = "wrong-key-0000";
  receipt = Sink(options)->Deliver(Row());
  ASSERT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(receipt.status().message(), HasSubstr("HTTP 401"));
  EXPECT_THAT(receipt.status().message(), Not(HasSubstr("wrong-key-0000")));
}

TEST(RedmineSinkTest, TheFactoryRefusesOptionsRedmineCannotWorkWith) {
  SinkOptions options;
  options.name = "tickets";
  options.type = "redmine";
  options.url = "https://redmine.example.com";
  options.api_key = kApiKey;
  auto no_project = MakeTicketSink(options);
  ASSERT_FALSE(no_project.ok());
  EXPECT_EQ(no_project.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_project.status().message(), HasSubstr("a redmine sink needs project"));

  options.project = "ops";
  options.api_key = "";
  auto no_key = MakeTicketSink(options);
  ASSERT_FALSE(no_key.ok());
  EXPECT_THAT(no_key.status().message(), HasSubstr("needs api_key"));

  options.api_key = kApiKey;
  options.resolved_status_id = 0;
  auto no_status = MakeTicketSink(options);
  ASSERT_FALSE(no_status.ok());
  EXPECT_THAT(no_status.status().message(), HasSubstr("resolved_status_id"));

  options.resolved_status_id = 3;
  options.incident_field_id = -1;
  auto bad_field = MakeTicketSink(options);
  ASSERT_FALSE(bad_field.ok());
  EXPECT_THAT(bad_field.status().message(), HasSubstr("incident_field_id"));

  options.incident_field_id = 0;
  EXPECT_TRUE(MakeTicketSink(options).ok());
}

}  // namespace
}  // namespace klaxon
