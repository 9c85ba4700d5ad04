#include "exporters/redmine_sink.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "exporters/internal/http_client.h"

namespace klaxon {

namespace {

using internal::JsonApi;

// The id of the issue holding `incident`'s id, or "" when there is none.
absl::StatusOr<std::string> Search(JsonApi& api, const SinkOptions& options,
                                   const Incident& incident) {
  std::string path = absl::StrCat("/issues.json?project_id=", internal::UrlEncode(options.project),
                                  "&status_id=*&limit=25");
  if (options.incident_field_id > 0) {
    absl::StrAppend(&path, "&cf_", options.incident_field_id, "=",
                    internal::UrlEncode(incident.id()));
  } else {
    // "~" is Redmine's "contains" operator.
    absl::StrAppend(&path, "&subject=", internal::UrlEncode(absl::StrCat("~", incident.id())));
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
  std::string marker = absl::StrCat("[", incident.id(), "]");
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

}  // namespace

absl::StatusOr<DeliveryReceipt> RedmineSink::Deliver(const OutboxRow& row) {
  internal::HttpHeaders headers = options_.headers;
  headers.push_back({"X-Redmine-API-Key", options_.api_key});
  headers.push_back({"Accept", "application/json"});
  JsonApi api(options_.url, std::move(headers), options_.timeout, internal::SecretsOf(options_));
  if (row.event == "opened") return Open(api, options_, row);

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
  if (row.event == "resolved") {
    if (row.attempts > 0) {
      // Notes and status go in one request: a resolved issue has both.
      absl::StatusOr<nlohmann::json> current = api.Call("GET", path);
      if (!current.ok()) return current.status();
      if (internal::JsonText(*current, {"issue", "status", "id"}) ==
          absl::StrCat(options_.resolved_status_id)) {
        return DeliveryReceipt{id};
      }
    }
    update["status_id"] = options_.resolved_status_id;
  }
  absl::Status status = api.Call("PUT", path, {{"issue", update}}).status();
  if (!status.ok()) return status;
  return DeliveryReceipt{id};
}

}  // namespace klaxon
