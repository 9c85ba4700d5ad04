#include "exporters/github_sink.h"

#include "absl/strings/str_cat.h"
#include "exporters/internal/http_client.h"
#include "exporters/postmortem.h"

namespace klaxon {

namespace {

using internal::JsonApi;

// "/repos/owner/name"; each part encoded, the slash between them kept.
std::string RepoPath(const SinkOptions& options) {
  size_t slash = options.repository.find('/');
  return absl::StrCat("/repos/", internal::UrlEncode(options.repository.substr(0, slash)), "/",
                      internal::UrlEncode(options.repository.substr(slash + 1)));
}

// The number of an issue (not a pull request) with `label`, or "" when there
// is none.
absl::StatusOr<std::string> SearchLabel(JsonApi& api, const SinkOptions& options,
                                        const std::string& label) {
  std::string path =
      absl::StrCat(RepoPath(options), "/issues?labels=", internal::UrlEncode(label), "&state=all");
  absl::StatusOr<nlohmann::json> issues = api.Call("GET", path);
  if (!issues.ok()) return issues.status();
  if (!issues->is_array()) {
    return api.Fail(absl::StatusCode::kUnavailable,
                    absl::StrCat("GET ", api.Url(path), ": answered without an issue list: ",
                                 issues->dump().substr(0, 200)));
  }
  for (const nlohmann::json& issue : *issues) {
    // The issues API lists pull requests too.
    if (internal::JsonAt(issue, {"pull_request"}) != nullptr) continue;
    std::string number = internal::JsonText(issue, {"number"});
    if (!number.empty()) return number;
  }
  return std::string();
}

// The number of the issue labeled for `incident`, or "" when there is none.
absl::StatusOr<std::string> Search(JsonApi& api, const SinkOptions& options,
                                   const Incident& incident) {
  return SearchLabel(api, options, internal::IncidentLabel(incident));
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
  std::string path = RepoPath(options) + "/issues";
  absl::StatusOr<nlohmann::json> created =
      api.Call("POST", path,
               {{"title", internal::TicketTitle(incident)},
                {"body", internal::TicketDescription(incident)},
                {"labels", {"klaxon", internal::IncidentLabel(incident)}}});
  if (!created.ok()) return created.status();
  std::string number = internal::JsonText(*created, {"number"});
  if (number.empty()) {
    return api.Fail(absl::StatusCode::kUnavailable,
                    absl::StrCat("POST ", api.Url(path), ": answered without an issue number: ",
                                 created->dump().substr(0, 200)));
  }
  return DeliveryReceipt{number};
}

// Comments, then sets the issue's state ("closed" or "open").
absl::Status Transition(JsonApi& api, const SinkOptions& options, const OutboxRow& row,
                        const std::string& issue, const std::string& state) {
  std::string path = absl::StrCat(RepoPath(options), "/issues/", internal::UrlEncode(issue));
  if (row.attempts > 0) {
    // The comment comes before the state change, so an issue in `state` has both.
    absl::StatusOr<nlohmann::json> current = api.Call("GET", path);
    if (!current.ok()) return current.status();
    if (internal::JsonText(*current, {"state"}) == state) return absl::OkStatus();
  }
  absl::Status commented =
      api.Call("POST", path + "/comments", {{"body", internal::TicketNote(row)}}).status();
  if (!commented.ok()) return commented;
  nlohmann::json change = {{"state", state}};
  if (state == "closed") change["state_reason"] = "completed";
  return api.Call("PATCH", path, change).status();
}

// A new issue holding the post-mortem document. GitHub has no due dates or
// typed links: the body names the outage issue as "#N", which GitHub turns
// into a link and a back-reference on that issue, and says when it is due.
absl::StatusOr<DeliveryReceipt> OpenPostmortem(JsonApi& api, const SinkOptions& options,
                                               const OutboxRow& row) {
  const Incident& incident = row.incident;
  if (row.attempts > 0) {
    // The last attempt may have created the issue and lost the answer.
    absl::StatusOr<std::string> found =
        SearchLabel(api, options, internal::PostmortemLabel(incident));
    if (!found.ok()) return found.status();
    if (!found->empty()) return DeliveryReceipt{*found};
  }
  std::string outage = internal::RecordedTicketRef(incident, options.name);
  if (outage.empty()) {
    absl::StatusOr<std::string> found = Search(api, options, incident);
    if (!found.ok()) return found.status();
    outage = *found;
  }
  std::string of =
      outage.empty() ? incident.id() : absl::StrCat("#", outage, " (", incident.id(), ")");
  std::string body =
      absl::StrCat("Post-mortem of ", of, ".\nDue: ", FormatTimestamp(internal::PostmortemDue(row)),
                   "\n\n", RenderPostmortem(incident));
  std::string path = RepoPath(options) + "/issues";
  // Not labeled "klaxon": that label lists klaxon's outage issues.
  absl::StatusOr<nlohmann::json> created =
      api.Call("POST", path,
               {{"title", PostmortemTitle(incident)},
                {"body", body},
                {"labels", {"postmortem", internal::PostmortemLabel(incident)}}});
  if (!created.ok()) return created.status();
  std::string number = internal::JsonText(*created, {"number"});
  if (number.empty()) {
    return api.Fail(absl::StatusCode::kUnavailable,
                    absl::StrCat("POST ", api.Url(path), ": answered without an issue number: ",
                                 created->dump().substr(0, 200)));
  }
  return DeliveryReceipt{number};
}

}  // namespace

GitHubSink::GitHubSink(SinkOptions options) : options_(std::move(options)) {
  if (options_.url.empty()) options_.url = kGitHubApiUrl;
}

absl::StatusOr<DeliveryReceipt> GitHubSink::Deliver(const OutboxRow& row) {
  internal::HttpHeaders headers = options_.headers;
  headers.push_back({"Authorization", absl::StrCat("Bearer ", options_.api_key)});
  headers.push_back({"Accept", "application/vnd.github+json"});
  headers.push_back({"X-GitHub-Api-Version", "2022-11-28"});
  JsonApi api(options_.url, std::move(headers), options_.timeout, internal::SecretsOf(options_));
  if (row.event == "opened") return Open(api, options_, row);
  if (row.event == "postmortem") return OpenPostmortem(api, options_, row);

  std::string issue = internal::RecordedTicketRef(row.incident, options_.name);
  if (issue.empty()) {
    absl::StatusOr<std::string> found = Search(api, options_, row.incident);
    if (!found.ok()) return found.status();
    issue = *found;
  }
  if (issue.empty()) {
    absl::Status status = internal::TicketNotFound(
        row, absl::StrCat("no ref recorded and no issue in ", options_.repository, " has label ",
                          internal::IncidentLabel(row.incident)));
    if (!status.ok()) return status;
    return DeliveryReceipt{};
  }
  absl::Status status;
  if (row.event == "resolved") {
    status = Transition(api, options_, row, issue, "closed");
  } else if (row.event == "reopened") {
    status = Transition(api, options_, row, issue, "open");
  } else {
    // "acknowledged", "escalated", "reminder": a comment, which notifies the
    // issue's participants.
    std::string path =
        absl::StrCat(RepoPath(options_), "/issues/", internal::UrlEncode(issue), "/comments");
    status = api.Call("POST", path, {{"body", internal::TicketNote(row)}}).status();
  }
  if (!status.ok()) return status;
  return DeliveryReceipt{issue};
}

}  // namespace klaxon
