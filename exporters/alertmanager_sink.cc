#include "exporters/alertmanager_sink.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "exporters/internal/http_client.h"

namespace klaxon {

namespace {

// Go's time.Time{} in RFC 3339, which Alertmanager sends as the endsAt of a
// firing alert.
constexpr char kGoZeroTime[] = "0001-01-01T00:00:00Z";

// Label values quoted as Go's %q does for printable text, as in groupKey.
std::string GoQuote(absl::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::optional<nlohmann::json> AlertmanagerPayload(const OutboxRow& row,
                                                  const std::string& receiver) {
  const Incident& incident = row.incident;
  std::string status;
  // Alertmanager's webhook carries the alert's state, not what happened to it:
  // a reopened, escalated or still-unanswered incident is simply firing, and
  // receivers deduplicate repeats by groupKey and fingerprint as they do for
  // Alertmanager's own repeat_interval notifications.
  if (row.event == "opened" || row.event == "reopened" || row.event == "escalated" ||
      row.event == "reminder") {
    status = "firing";
  } else if (row.event == "resolved") {
    status = "resolved";
  } else {
    // "acknowledged" has no place in the format (Alertmanager itself never
    // sends one), and "postmortem" comes after the alert's "resolved": sending
    // it as firing or resolved would tell the receiver something false. Not
    // sent, and accepted as delivered.
    return std::nullopt;
  }
  Labels labels = incident.labels.WithoutMetricName();
  if (!labels.Has("alertname") && !incident.rule.empty()) labels.Set("alertname", incident.rule);
  if (!incident.service.empty()) labels.Set("service", incident.service);
  if (!incident.severity.empty()) labels.Set("severity", incident.severity);
  nlohmann::json label_object = nlohmann::json::object();
  std::vector<std::string> group;
  for (LabelRef label : labels.items()) {
    label_object[label.name] = label.value;
    group.push_back(absl::StrCat(label.name, "=", GoQuote(label.value)));
  }
  nlohmann::json annotations = {{"summary", incident.summary}, {"incident", incident.id()}};
  if (!incident.reason.empty()) annotations["description"] = incident.reason;

  std::string ends_at = kGoZeroTime;
  if (status == "resolved") {
    ends_at = FormatTimestamp(incident.resolved_at.value_or(row.created_at));
  }
  nlohmann::json alert = {
      {"status", status},
      {"labels", label_object},
      {"annotations", annotations},
      {"startsAt", FormatTimestamp(incident.opened_at)},
      {"endsAt", ends_at},
      {"generatorURL", ""},
      {"fingerprint", absl::StrFormat("%016x", incident.fingerprint)},
  };
  return nlohmann::json{
      {"version", "4"},
      {"groupKey", absl::StrCat("{}:{", absl::StrJoin(group, ", "), "}")},
      {"truncatedAlerts", 0},
      {"status", status},
      {"receiver", receiver},
      {"groupLabels", label_object},
      {"commonLabels", label_object},
      {"commonAnnotations", annotations},
      {"externalURL", ""},
      {"alerts", nlohmann::json::array({alert})},
  };
}

absl::StatusOr<DeliveryReceipt> AlertmanagerSink::Deliver(const OutboxRow& row) {
  std::optional<nlohmann::json> payload = AlertmanagerPayload(row, options_.name);
  if (!payload) return DeliveryReceipt{};
  internal::HttpCall call;
  call.url = options_.url;
  call.timeout = options_.timeout;
  call.body = internal::DumpJson(*payload);
  call.headers = options_.headers;
  call.headers.push_back({"Content-Type", "application/json"});
  call.headers.push_back({"Idempotency-Key", row.idempotency_key()});
  absl::StatusOr<internal::HttpReply> reply = internal::Perform(call);
  if (!reply.ok()) {
    return absl::Status(
        reply.status().code(),
        internal::Redact(std::string(reply.status().message()), internal::SecretsOf(options_)));
  }
  if (reply->status < 200 || reply->status > 299) {
    return internal::ReplyError("POST", options_.url, *reply, internal::SecretsOf(options_));
  }
  return DeliveryReceipt{};
}

}  // namespace klaxon
