#include "exporters/redmine_sink.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "detector/log.h"
#include "exporters/internal/http_client.h"
#include "exporters/postmortem.h"

namespace klaxon {

namespace {

using internal::JsonApi;

// The status a reopened incident's issue goes back to: 1, "New" in Redmine's
// default data, the status the issue had when klaxon opened it. Not an option:
// the outage is back as it began, and nobody has taken it again yet (a person
// moves it on, as after the first opening). A workflow that forbids the
// change makes Redmine ignore status_id, and the note still lands.
constexpr int kReopenedStatusId = 1;

// The id of the issue marked `field_value` in the incident field when there
// is one, else with "[`subject_tag`]" in its subject; "" when there is none.
absl::StatusOr<std::string> SearchMarked(JsonApi& api, const SinkOptions& options,
                                         const std::string& field_value,
                                         const std::string& subject_tag) {
  std::string path = absl::StrCat("/issues.json?project_id=", internal::UrlEncode(options.project),
                                  "&status_id=*&limit=25");
  if (options.incident_field_id > 0) {
    absl::StrAppend(&path, "&cf_", options.incident_field_id, "=",
                    internal::UrlEncode(field_value));
  } else {
    // "~" is Redmine's "contains" operator.
    absl::StrAppend(&path, "&subject=", internal::UrlEncode(absl::StrCat("~", subject_tag)));
  }
  absl::StatusOr<nlohmann::json> answer = api.Call("GET", path);
  if (!answer.ok()) return answer.status();
  const nlohmann::json* issues = internal::JsonAt(*answer, {"issues"});
  if (issues == nullptr || !issues->is_array()) {
    return api.Fail(absl::StatusCode::kUnavailable,
                    absl::StrCat("GET ", api.Url(path), ": answered without an issue list: ",
                                 answer->dump().substr(0, 200)));
  }
  // "INC-000042" is contained in "INC-0000421"'s subject too; the brackets are not.
  std::string marker = absl::StrCat("[", subject_tag, "]");
  for (const nlohmann::json& issue : *issues) {
    if (options.incident_field_id <= 0 &&
        !absl::StrContains(internal::JsonText(issue, {"subject"}), marker)) {
      continue;
    }
    std::string id = internal::JsonText(issue, {"id"});
    if (!id.empty()) return id;
  }
  return std::string();
}

// The id of the issue holding `incident`'s id, or "" when there is none.
absl::StatusOr<std::string> Search(JsonApi& api, const SinkOptions& options,
                                   const Incident& incident) {
  return SearchMarked(api, options, incident.id(), incident.id());
}

// "INC-000042 post-mortem": the post-mortem's subject tag, "[INC-000042
// post-mortem] ...", which the outage issue's search for "[INC-000042]" does
// not match.
std::string PostmortemTag(const Incident& incident) {
  return absl::StrCat(incident.id(), " post-mortem");
}
// "INC-000042-postmortem": the post-mortem's incident field value.
std::string PostmortemFieldValue(const Incident& incident) {
  return absl::StrCat(incident.id(), "-postmortem");
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
  nlohmann::json issue = {
      {"project_id", options.project},
      {"subject", internal::TicketTitle(incident)},
      {"description", internal::TicketDescription(incident)},
  };
  if (options.incident_field_id > 0) {
    issue["custom_fields"] = {{{"id", options.incident_field_id}, {"value", incident.id()}}};
  }
  absl::StatusOr<nlohmann::json> created = api.Call("POST", "/issues.json", {{"issue", issue}});
  if (!created.ok()) return created.status();
  std::string id = internal::JsonText(*created, {"issue", "id"});
  if (id.empty()) {
    return api.Fail(absl::StatusCode::kUnavailable, absl::StrCat("POST ", api.Url("/issues.json"),
                                                                 ": answered without an issue id: ",
                                                                 created->dump().substr(0, 200)));
  }
  return DeliveryReceipt{id};
}

// Whether issue `id` already has a relation with `other`.
absl::StatusOr<bool> IsRelated(JsonApi& api, const std::string& id, const std::string& other) {
  absl::StatusOr<nlohmann::json> answer =
      api.Call("GET", absl::StrCat("/issues/", internal::UrlEncode(id), "/relations.json"));
  if (!answer.ok()) return answer.status();
  const nlohmann::json* relations = internal::JsonAt(*answer, {"relations"});
  if (relations == nullptr || !relations->is_array()) return false;
  for (const nlohmann::json& relation : *relations) {
    if (internal::JsonText(relation, {"issue_id"}) == other ||
        internal::JsonText(relation, {"issue_to_id"}) == other) {
      return true;
    }
  }
  return false;
}

// A new issue holding the post-mortem document, due the day after the
// resolution, related to the outage issue.
absl::StatusOr<DeliveryReceipt> OpenPostmortem(JsonApi& api, const SinkOptions& options,
                                               const OutboxRow& row) {
  const Incident& incident = row.incident;
  std::string outage = internal::RecordedTicketRef(incident, options.name);
  if (outage.empty()) {
    absl::StatusOr<std::string> found = Search(api, options, incident);
    if (!found.ok()) return found.status();
    outage = *found;
  }
  std::string id;
  if (row.attempts > 0) {
    // The last attempt may have created the issue and lost the answer, or
    // created it and failed to relate it.
    absl::StatusOr<std::string> found =
        SearchMarked(api, options, PostmortemFieldValue(incident), PostmortemTag(incident));
    if (!found.ok()) return found.status();
    id = *found;
  }
  const bool found_earlier = !id.empty();
  if (id.empty()) {
    absl::Time resolved = incident.resolved_at.value_or(row.created_at);
    nlohmann::json issue = {
        {"project_id", options.project},
        {"subject", absl::StrCat("[", PostmortemTag(incident), "] ",
                                 incident.summary.empty() ? incident.rule : incident.summary)},
        {"description", RenderPostmortem(incident)},
        // Redmine refuses a due date before the start date, which defaults to
        // the day of creation: a delivery retried for days would never land.
        {"start_date", internal::UtcDate(resolved)},
        {"due_date", internal::UtcDate(internal::PostmortemDue(row))},
    };
    if (options.incident_field_id > 0) {
      issue["custom_fields"] = {
          {{"id", options.incident_field_id}, {"value", PostmortemFieldValue(incident)}}};
    }
    absl::StatusOr<nlohmann::json> created = api.Call("POST", "/issues.json", {{"issue", issue}});
    if (!created.ok()) return created.status();
    id = internal::JsonText(*created, {"issue", "id"});
    if (id.empty()) {
      return api.Fail(
          absl::StatusCode::kUnavailable,
          absl::StrCat("POST ", api.Url("/issues.json"),
                       ": answered without an issue id: ", created->dump().substr(0, 200)));
    }
  }
  // Without an outage issue (its creation was given up) the post-mortem stands
  // alone; its subject names the incident.
  if (outage.empty()) return DeliveryReceipt{id};
  if (found_earlier) {
    absl::StatusOr<bool> related = IsRelated(api, id, outage);
    if (!related.ok()) return related.status();
    if (*related) return DeliveryReceipt{id};
  }
  int64_t outage_id = 0;
  nlohmann::json issue_to =
      absl::SimpleAtoi(outage, &outage_id) ? nlohmann::json(outage_id) : nlohmann::json(outage);
  absl::Status related =
      api.Call("POST", absl::StrCat("/issues/", internal::UrlEncode(id), "/relations.json"),
               {{"relation", {{"issue_to_id", issue_to}, {"relation_type", "relates"}}}})
          .status();
  if (related.code() == absl::StatusCode::kUnavailable) return related;
  // A refused relation (the outage issue deleted or in a project the key
  // cannot see) would be refused on every retry and hold back this sink's
  // later deliveries; the post-mortem exists, so it counts as delivered and
  // the refusal is logged.
  if (!related.ok()) {
    LogLine(absl::StrCat("sink \"", options.name, "\": post-mortem #", id, " of ", incident.id(),
                         " not related to #", outage, ": ", related.message()));
  }
  return DeliveryReceipt{id};
}

}  // namespace

absl::StatusOr<DeliveryReceipt> RedmineSink::Deliver(const OutboxRow& row) {
  internal::HttpHeaders headers = options_.headers;
  headers.push_back({"X-Redmine-API-Key", options_.api_key});
  headers.push_back({"Accept", "application/json"});
  JsonApi api(options_.url, std::move(headers), options_.timeout, internal::SecretsOf(options_));
  if (row.event == "opened") return Open(api, options_, row);
  if (row.event == "postmortem") return OpenPostmortem(api, options_, row);

  std::string id = internal::RecordedTicketRef(row.incident, options_.name);
  if (id.empty()) {
    absl::StatusOr<std::string> found = Search(api, options_, row.incident);
    if (!found.ok()) return found.status();
    id = *found;
  }
  if (id.empty()) {
    absl::Status status =
        internal::TicketNotFound(row, absl::StrCat("no ref recorded and no issue in project ",
                                                   options_.project, " holds ", row.incident.id()));
    if (!status.ok()) return status;
    return DeliveryReceipt{};
  }
  std::string path = absl::StrCat("/issues/", internal::UrlEncode(id), ".json");
  nlohmann::json update = {{"notes", internal::TicketNote(row)}};
  // "escalated", "reminder" and "acknowledged" are notes only.
  std::optional<int> status_id;
  if (row.event == "resolved") status_id = options_.resolved_status_id;
  if (row.event == "reopened") status_id = kReopenedStatusId;
  if (status_id) {
    if (row.attempts > 0) {
      // Notes and status go in one request: an issue in the status has both.
      absl::StatusOr<nlohmann::json> current = api.Call("GET", path);
      if (!current.ok()) return current.status();
      if (internal::JsonText(*current, {"issue", "status", "id"}) == absl::StrCat(*status_id)) {
        return DeliveryReceipt{id};
      }
    }
    update["status_id"] = *status_id;
  }
  absl::Status status = api.Call("PUT", path, {{"issue", update}}).status();
  if (!status.ok()) return status;
  return DeliveryReceipt{id};
}

}  // namespace klaxon
