#include "exporters/jira_sink.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "detector/log.h"
#include "exporters/internal/http_client.h"
#include "exporters/postmortem.h"

namespace klaxon {

namespace {

using internal::JsonApi;

// A JQL string literal.
std::string JqlQuote(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string IssuePath(absl::string_view key) {
  return absl::StrCat("/rest/api/2/issue/", internal::UrlEncode(key));
}

// The key of an issue in the project with `label`, or "" when there is none.
absl::StatusOr<std::string> SearchLabel(JsonApi& api, const SinkOptions& options,
                                        const std::string& label) {
  std::string jql =
      absl::StrCat("project = ", JqlQuote(options.project), " AND labels = ", JqlQuote(label));
  std::string query = absl::StrCat("?jql=", internal::UrlEncode(jql), "&fields=key&maxResults=1");
  // Jira Cloud has only /search/jql since 2025; Data Center has only /search.
  std::string path = absl::StrCat("/rest/api/2/search/jql", query);
  absl::StatusOr<internal::HttpReply> reply = api.Send("GET", path);
  if (!reply.ok()) return reply.status();
  if (reply->status == 404) {
    path = absl::StrCat("/rest/api/2/search", query);
    reply = api.Send("GET", path);
    if (!reply.ok()) return reply.status();
  }
  if (reply->status < 200 || reply->status > 299) return api.Error("GET", path, *reply);
  nlohmann::json answer = nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  const nlohmann::json* issues = internal::JsonAt(answer, {"issues"});
  if (issues == nullptr || !issues->is_array()) {
    return api.Fail(absl::StatusCode::kUnavailable,
                    absl::StrCat("GET ", api.Url(path), ": HTTP ", reply->status,
                                 " without an issues list: ", reply->body.substr(0, 200)));
  }
  for (const nlohmann::json& issue : *issues) {
    std::string key = internal::JsonText(issue, {"key"});
    if (!key.empty()) return key;
  }
  return std::string();
}

// The key of the issue labeled for `incident`, or "" when there is none.
absl::StatusOr<std::string> Search(JsonApi& api, const SinkOptions& options,
                                   const Incident& incident) {
  return SearchLabel(api, options, internal::IncidentLabel(incident));
}

absl::StatusOr<bool> IsDone(JsonApi& api, const std::string& key) {
  absl::StatusOr<nlohmann::json> issue = api.Call("GET", IssuePath(key) + "?fields=status");
  if (!issue.ok()) return issue.status();
  return internal::JsonText(*issue, {"fields", "status", "statusCategory", "key"}) == "done";
}

absl::StatusOr<DeliveryReceipt> Open(JsonApi& api, const SinkOptions& options,
                                     const OutboxRow& row) {
  const Incident& incident = row.incident;
  if (row.attempts > 0) {
    // The last attempt may have created the issue and lost the answer.
    absl::StatusOr<std::string> found = Search(api, options, incident);
    if (!found.ok()) return found.status();
    if (!found->empty()) return DeliveryReceipt{*found};
  }
  nlohmann::json fields = {
      {"project", {{"key", options.project}}},
      {"issuetype", {{"name", options.issue_type}}},
      {"summary", internal::TicketTitle(incident)},
      {"description", internal::TicketDescription(incident)},
      {"labels", {"klaxon", internal::IncidentLabel(incident)}},
  };
  absl::StatusOr<nlohmann::json> created =
      api.Call("POST", "/rest/api/2/issue", {{"fields", fields}});
  if (!created.ok()) return created.status();
  std::string key = internal::JsonText(*created, {"key"});
  if (key.empty()) {
    return api.Fail(
        absl::StatusCode::kUnavailable,
        absl::StrCat("POST ", api.Url("/rest/api/2/issue"),
                     ": answered without an issue key: ", created->dump().substr(0, 200)));
  }
  return DeliveryReceipt{key};
}

absl::Status Comment(JsonApi& api, const std::string& key, const OutboxRow& row) {
  return api.Call("POST", IssuePath(key) + "/comment", {{"body", internal::TicketNote(row)}})
      .status();
}

absl::Status Resolve(JsonApi& api, const SinkOptions& options, const OutboxRow& row,
                     const std::string& key) {
  std::optional<bool> done;
  if (row.attempts > 0) {
    // The comment comes before the transition, so a done issue has both.
    absl::StatusOr<bool> is_done = IsDone(api, key);
    if (!is_done.ok()) return is_done.status();
    if (*is_done) return absl::OkStatus();
    done = false;
  }
  if (absl::Status commented = Comment(api, key, row); !commented.ok()) return commented;
  std::string path = IssuePath(key) + "/transitions";
  absl::StatusOr<nlohmann::json> answer = api.Call("GET", path);
  if (!answer.ok()) return answer.status();
  std::vector<std::string> names;
  const nlohmann::json* transitions = internal::JsonAt(*answer, {"transitions"});
  if (transitions != nullptr && transitions->is_array()) {
    for (const nlohmann::json& transition : *transitions) {
      std::string name = internal::JsonText(transition, {"name"});
      names.push_back(absl::StrCat("\"", name, "\""));
      if (!absl::EqualsIgnoreCase(name, options.resolve_transition)) continue;
      std::string id = internal::JsonText(transition, {"id"});
      return api.Call("POST", path, {{"transition", {{"id", id}}}}).status();
    }
  }
  // A person may have closed the issue already; then there is nothing to take.
  if (!done) {
    absl::StatusOr<bool> is_done = IsDone(api, key);
    if (!is_done.ok()) return is_done.status();
    if (*is_done) return absl::OkStatus();
  }
  return api.Fail(
      absl::StatusCode::kFailedPrecondition,
      absl::StrCat("jira issue ", key, " has no transition \"", options.resolve_transition,
                   "\" (available: ", names.empty() ? "none" : absl::StrJoin(names, ", "),
                   "); set resolve_transition to one of them"));
}

// The outage issue: the recorded ref, else the issue labeled for the
// incident; "" when neither exists.
absl::StatusOr<std::string> OutageIssue(JsonApi& api, const SinkOptions& options,
                                        const Incident& incident) {
  std::string key = internal::RecordedTicketRef(incident, options.name);
  if (!key.empty()) return key;
  return Search(api, options, incident);
}

// Creates the post-mortem issue; its key.
absl::StatusOr<std::string> CreatePostmortem(JsonApi& api, const SinkOptions& options,
                                             const OutboxRow& row) {
  const Incident& incident = row.incident;
  nlohmann::json fields = {
      {"project", {{"key", options.project}}},
      {"issuetype", {{"name", options.issue_type}}},
      {"summary", PostmortemTitle(incident)},
      {"description", RenderPostmortem(incident)},
      {"labels", {"postmortem", internal::PostmortemLabel(incident)}},
      {"duedate", internal::UtcDate(internal::PostmortemDue(row))},
  };
  const std::string path = "/rest/api/2/issue";
  absl::StatusOr<internal::HttpReply> reply = api.Send("POST", path, {{"fields", fields}});
  if (!reply.ok()) return reply.status();
  // Projects whose create screen lacks "Due date" refuse the whole issue
  // ({"errors":{"duedate":"Field 'duedate' cannot be set..."}}): a post-mortem
  // without a due date is better than none, so ask again without it.
  if (reply->status == 400) {
    nlohmann::json answer = nlohmann::json::parse(reply->body, nullptr, false);
    if (internal::JsonAt(answer, {"errors", "duedate"}) != nullptr) {
      fields.erase("duedate");
      reply = api.Send("POST", path, {{"fields", fields}});
      if (!reply.ok()) return reply.status();
    }
  }
  if (reply->status < 200 || reply->status > 299) return api.Error("POST", path, *reply);
  nlohmann::json created = nlohmann::json::parse(reply->body, nullptr, false);
  std::string key = internal::JsonText(created, {"key"});
  if (key.empty()) {
    return api.Fail(absl::StatusCode::kUnavailable,
                    absl::StrCat("POST ", api.Url(path),
                                 ": answered without an issue key: ", reply->body.substr(0, 200)));
  }
  return key;
}

// Whether `key` already has a link to or from `other`.
absl::StatusOr<bool> IsLinked(JsonApi& api, const std::string& key, const std::string& other) {
  absl::StatusOr<nlohmann::json> issue = api.Call("GET", IssuePath(key) + "?fields=issuelinks");
  if (!issue.ok()) return issue.status();
  const nlohmann::json* links = internal::JsonAt(*issue, {"fields", "issuelinks"});
  if (links == nullptr || !links->is_array()) return false;
  for (const nlohmann::json& link : *links) {
    if (internal::JsonText(link, {"inwardIssue", "key"}) == other ||
        internal::JsonText(link, {"outwardIssue", "key"}) == other) {
      return true;
    }
  }
  return false;
}

// A new issue (same project and type) holding the post-mortem document, due a
// day after resolution, linked "Relates" to the outage issue.
absl::StatusOr<DeliveryReceipt> OpenPostmortem(JsonApi& api, const SinkOptions& options,
                                               const OutboxRow& row) {
  const Incident& incident = row.incident;
  absl::StatusOr<std::string> outage = OutageIssue(api, options, incident);
  if (!outage.ok()) return outage.status();
  std::string key;
  if (row.attempts > 0) {
    // The last attempt may have created the issue and lost the answer, or
    // created it and failed to link it.
    absl::StatusOr<std::string> found =
        SearchLabel(api, options, internal::PostmortemLabel(incident));
    if (!found.ok()) return found.status();
    key = *found;
  }
  const bool found_earlier = !key.empty();
  if (key.empty()) {
    absl::StatusOr<std::string> created = CreatePostmortem(api, options, row);
    if (!created.ok()) return created.status();
    key = *created;
  }
  // Without an outage issue (its creation was given up) the post-mortem stands
  // alone; its title and document name the incident.
  if (outage->empty()) return DeliveryReceipt{key};
  if (found_earlier) {
    absl::StatusOr<bool> linked = IsLinked(api, key, *outage);
    if (!linked.ok()) return linked.status();
    if (*linked) return DeliveryReceipt{key};
  }
  absl::Status link = api.Call("POST", "/rest/api/2/issueLink",
                               {{"type", {{"name", "Relates"}}},
                                {"inwardIssue", {{"key", key}}},
                                {"outwardIssue", {{"key", *outage}}}})
                          .status();
  if (link.code() == absl::StatusCode::kUnavailable) return link;
  // A refused link (no "Relates" link type, linking turned off) would be
  // refused on every retry and hold back this sink's later deliveries; the
  // post-mortem exists, so it counts as delivered and the refusal is logged.
  if (!link.ok()) {
    LogLine(absl::StrCat("sink \"", options.name, "\": post-mortem ", key, " of ", incident.id(),
                         " not linked to ", *outage, ": ", link.message()));
  }
  return DeliveryReceipt{key};
}

}  // namespace

absl::StatusOr<DeliveryReceipt> JiraSink::Deliver(const OutboxRow& row) {
  internal::HttpHeaders headers = options_.headers;
  headers.push_back(
      {"Authorization", options_.user.empty()
                            ? absl::StrCat("Bearer ", options_.api_key)
                            : internal::BasicAuthorization(options_.user, options_.api_key)});
  headers.push_back({"Accept", "application/json"});
  JsonApi api(options_.url, std::move(headers), options_.timeout, internal::SecretsOf(options_));
  if (row.event == "opened") return Open(api, options_, row);
  if (row.event == "postmortem") return OpenPostmortem(api, options_, row);

  std::string key = internal::RecordedTicketRef(row.incident, options_.name);
  if (key.empty()) {
    absl::StatusOr<std::string> found = Search(api, options_, row.incident);
    if (!found.ok()) return found.status();
    key = *found;
  }
  if (key.empty()) {
    absl::Status status = internal::TicketNotFound(
        row, absl::StrCat("no ref recorded and no jira issue in ", options_.project, " has label ",
                          internal::IncidentLabel(row.incident)));
    if (!status.ok()) return status;
    return DeliveryReceipt{};
  }
  // "reopened" is a comment only, though the issue may be done: the
  // transition back has a different name in every workflow ("Reopen", "Reopen
  // Issue", "Back to To Do"), and a wrong guess would fail the delivery and
  // hold back the sink's later ones. The comment notifies the issue's
  // watchers; "escalated" and "reminder" are comments too.
  absl::Status status =
      row.event == "resolved" ? Resolve(api, options_, row, key) : Comment(api, key, row);
  if (!status.ok()) return status;
  return DeliveryReceipt{key};
}

}  // namespace klaxon
