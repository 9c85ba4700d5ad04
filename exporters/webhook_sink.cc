#include "exporters/webhook_sink.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "exporters/internal/http_client.h"
#include "exporters/postmortem.h"

namespace klaxon {

nlohmann::json WebhookPayload(const OutboxRow& row) {
  nlohmann::json payload = {
      {"version", "1"},
      {"event", row.event},
      {"idempotency_key", row.idempotency_key()},
      {"incident", IncidentToJson(row.incident)},
  };
  // Rendered here so that a receiver filing post-mortems need not know the
  // incident JSON: it posts the document as it is.
  if (row.event == "postmortem") payload["postmortem_markdown"] = RenderPostmortem(row.incident);
  return payload;
}

std::string WebhookSignature(absl::string_view secret, absl::string_view body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &length);
  return absl::StrCat("sha256=", absl::BytesToHexString(
                                     absl::string_view(reinterpret_cast<char*>(digest), length)));
}

absl::StatusOr<DeliveryReceipt> WebhookSink::Deliver(const OutboxRow& row) {
  internal::HttpCall call;
  call.url = options_.url;
  call.timeout = options_.timeout;
  call.body = internal::DumpJson(WebhookPayload(row));
  call.headers = options_.headers;
  call.headers.push_back({"Content-Type", "application/json"});
  call.headers.push_back({"Idempotency-Key", row.idempotency_key()});
  call.headers.push_back({"X-Klaxon-Event", row.event});
  if (!options_.secret.empty()) {
    call.headers.push_back({"X-Klaxon-Signature", WebhookSignature(options_.secret, call.body)});
  }
  absl::StatusOr<internal::HttpReply> reply = internal::Perform(call);
  if (!reply.ok()) {
    return absl::Status(
        reply.status().code(),
        internal::Redact(std::string(reply.status().message()), internal::SecretsOf(options_)));
  }
  if (reply->status < 200 || reply->status > 299) {
    return internal::ReplyError("POST", options_.url, *reply, internal::SecretsOf(options_));
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
