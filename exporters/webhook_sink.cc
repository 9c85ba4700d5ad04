#include "exporters/webhook_sink.h"

#include "absl/strings/str_cat.h"
#include "exporters/internal/http_client.h"

namespace klaxon {

nlohmann::json WebhookPayload(const OutboxRow& row) {
  return {
      {"version", "1"},
      {"event", row.event},
      {"idempotency_key", row.idempotency_key()},
      {"incident", IncidentToJson(row.incident)},
  };
}

absl::StatusOr<DeliveryReceipt> WebhookSink::Deliver(const OutboxRow& row) {
  internal::HttpCall call;
  call.url = options_.url;
  call.timeout = options_.timeout;
  call.body = WebhookPayload(row).dump();
  call.headers = options_.headers;
  call.headers.push_back({"Content-Type", "application/json"});
  call.headers.push_back({"Idempotency-Key", row.idempotency_key()});
  call.headers.push_back({"X-Klaxon-Event", row.event});
  absl::StatusOr<internal::HttpReply> reply = internal::Perform(call);
  if (!reply.ok()) return reply.status();
  if (reply->status < 200 || reply->status > 299) {
    return absl::UnavailableError(absl::StrCat("HTTP ", reply->status, " from ", options_.url, ": ",
                                               reply->body.substr(0, 200)));
  }
  DeliveryReceipt receipt;
  // A receiver that names its ticket ({"id": ...} or {"url": ...}) gets it on the timeline.
  nlohmann::json answer = nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (answer.is_object()) {
    for (const char* key : {"url", "id", "key"}) {
      auto it = answer.find(key);
      if (it == answer.end()) continue;
      receipt.ticket_ref = it->is_string() ? it->get<std::string>() : it->dump();
      break;
    }
  }
  return receipt;
}

}  // namespace klaxon
