#include "exporters/pagerduty_sink.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "exporters/internal/http_client.h"

namespace klaxon {

namespace {

// PagerDuty's limit on payload.summary.
constexpr size_t kMaxSummaryBytes = 1024;

// Cuts at `limit` bytes without splitting a UTF-8 sequence.
std::string Truncate(std::string text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text;
}

}  // namespace

std::string PagerDutySeverity(absl::string_view severity) {
  if (severity == "critical") return "critical";
  if (severity == "major") return "error";
  if (severity == "minor" || severity == "warning") return "warning";
  if (severity == "info") return "info";
  return "error";
}

std::optional<nlohmann::json> PagerDutyEvent(const OutboxRow& row, const std::string& routing_key) {
  const Incident& incident = row.incident;
  std::string action;
  // A trigger whose dedup_key names an open alert is added to that alert's log
  // instead of opening a second one; on a resolved alert ("reopened") it opens
  // a new one under the same key.
  if (row.event == "opened" || row.event == "reopened" || row.event == "escalated" ||
      row.event == "reminder") {
    action = "trigger";
  } else if (row.event == "acknowledged") {
    action = "acknowledge";
  } else if (row.event == "resolved") {
    action = "resolve";
  } else {
    // "postmortem": PagerDuty's Events API has no place for a document, and
    // any action on the resolved alert would reopen or misstate it. Not sent.
    return std::nullopt;
  }
  nlohmann::json event = {
      {"routing_key", routing_key},
      {"event_action", action},
      {"dedup_key", incident.id()},
  };
  if (action != "trigger") return event;

  // The affected system: the alert's instance when it names one.
  std::string source(incident.labels.Get("instance"));
  if (source.empty()) source = incident.service.empty() ? incident.rule : incident.service;
  nlohmann::json labels = nlohmann::json::object();
  for (LabelRef label : incident.labels.items()) labels[label.name] = label.value;
  nlohmann::json details = {
      {"incident", incident.id()},
      {"event", row.event},
      {"rule", incident.rule},
      {"service", incident.service},
      {"severity", incident.severity},
      {"labels", labels},
      {"first_evidence_at", FormatTimestamp(incident.first_evidence)},
      {"opened_at", FormatTimestamp(incident.opened_at)},
      {"value", std::isfinite(incident.value) ? nlohmann::json(incident.value)
                                              : nlohmann::json(absl::StrCat(incident.value))},
  };
  if (!incident.reason.empty()) details["reason"] = incident.reason;
  event["payload"] = {
      {"summary", Truncate(internal::TicketTitle(incident), kMaxSummaryBytes)},
      {"source", source},
      {"severity", PagerDutySeverity(incident.severity)},
      {"timestamp", FormatTimestamp(incident.first_evidence)},
      {"component", incident.service},
      {"group", incident.service},
      {"class", incident.rule},
      {"custom_details", details},
  };
  event["client"] = "klaxon";
  return event;
}

PagerDutySink::PagerDutySink(SinkOptions options) : options_(std::move(options)) {
  if (options_.url.empty()) options_.url = kPagerDutyEventsUrl;
}

absl::StatusOr<DeliveryReceipt> PagerDutySink::Deliver(const OutboxRow& row) {
  std::optional<nlohmann::json> event = PagerDutyEvent(row, options_.routing_key);
  if (!event) return DeliveryReceipt{};
  internal::HttpHeaders headers = options_.headers;
  headers.push_back({"Accept", "application/json"});
  internal::JsonApi api(options_.url, std::move(headers), options_.timeout,
                        internal::SecretsOf(options_));
  absl::StatusOr<internal::HttpReply> reply = api.Send("POST", "", *event);
  if (!reply.ok()) return reply.status();
  nlohmann::json answer = nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (reply->status == 400 && answer.is_object()) {
    // {"status": "invalid event", "message": "Event object is invalid", "errors": [...]}
    std::string message = internal::JsonText(answer, {"message"});
    if (message.empty()) message = "invalid event";
    if (const nlohmann::json* errors = internal::JsonAt(answer, {"errors"});
        errors != nullptr && errors->is_array()) {
      std::vector<std::string> texts;
      for (const auto& error : *errors)
        texts.push_back(error.is_string() ? error.get<std::string>() : error.dump());
      if (!texts.empty()) absl::StrAppend(&message, ": ", absl::StrJoin(texts, "; "));
    }
    return api.Fail(absl::StatusCode::kInvalidArgument,
                    absl::StrCat("PagerDuty refused the ", event->value("event_action", ""),
                                 " event for ", row.incident.id(), " (HTTP 400): ", message));
  }
  if (reply->status < 200 || reply->status > 299) return api.Error("POST", "", *reply);
  DeliveryReceipt receipt;
  receipt.ticket_ref = row.incident.id();
  if (std::string key = internal::JsonText(answer, {"dedup_key"}); !key.empty()) {
    receipt.ticket_ref = key;
  }
  return receipt;
}

}  // namespace klaxon
