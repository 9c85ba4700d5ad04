// WebhookSink POSTs each delivery as one JSON document (see the README's
// "Webhook payload") with an Idempotency-Key header that stays the same across
// retries of one delivery, signed when a secret is set. Thread-compatible: one
// delivery thread uses it.
#ifndef KLAXON_EXPORTERS_WEBHOOK_SINK_H_
#define KLAXON_EXPORTERS_WEBHOOK_SINK_H_

#include <string>

#include "absl/strings/string_view.h"
#include "exporters/sink.h"
#include "nlohmann/json.hpp"

namespace klaxon {

// The document a webhook receiver gets for `row`; the same bytes on every retry.
nlohmann::json WebhookPayload(const OutboxRow& row);

// The X-Klaxon-Signature header's value for `body`: "sha256=" and the lowercase
// hex of HMAC-SHA256(secret, body), as GitHub's X-Hub-Signature-256, so that a
// receiver can check that the body came from klaxon and was not altered.
std::string WebhookSignature(absl::string_view secret, absl::string_view body);

class WebhookSink final : public TicketSink {
 public:
  explicit WebhookSink(SinkOptions options) : options_(std::move(options)) {}
  absl::StatusOr<DeliveryReceipt> Deliver(const OutboxRow& row) override;

 private:
  SinkOptions options_;
};

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_WEBHOOK_SINK_H_
