// TicketSink delivers one outbox row to one ticketing system or receiver. Sinks
// are made by kind through one factory (MakeTicketSink); adding a kind is one
// file and one registration. Deliver() is called from one delivery thread per
// sink, so an implementation need not be thread-safe.
#ifndef KLAXON_EXPORTERS_SINK_H_
#define KLAXON_EXPORTERS_SINK_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "detector/incident.h"

namespace klaxon {

struct SinkOptions {
  std::string name;
  // "webhook", "alertmanager", "pagerduty", "jira", "github", "redmine"
  std::string type;
  // webhook, alertmanager: the receiver; pagerduty: the Events API v2 endpoint
  // (default https://events.pagerduty.com/v2/enqueue); jira, redmine: the
  // server's base URL; github: the API base (default https://api.github.com).
  std::string url;
  absl::Duration timeout = absl::Seconds(10);  // Default: 10s. One delivery attempt.
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every request
  // Secrets, resolved by the config loader from "env:VAR" or "file:PATH"; never logged.
  std::string secret;       // webhook: HMAC-SHA256 key of the X-Klaxon-Signature header
  std::string api_key;      // jira and github: API token; redmine: X-Redmine-API-Key
  std::string routing_key;  // pagerduty: the integration's routing key
  std::string user;         // jira: the account the token belongs to (basic auth)
  std::string project;      // jira: project key ("OPS"); redmine: project identifier
  std::string repository;   // github: "owner/name"
  std::string issue_type = "Task";           // jira. Default: Task.
  std::string resolve_transition = "Done";   // jira: the transition taken on resolve
  int resolved_status_id = 3;                // redmine: status set on resolve. Default: 3 (Resolved)
  int incident_field_id = 0;                 // redmine: custom field holding klaxon's incident id
};

class TicketSink {
 public:
  virtual ~TicketSink() = default;
  // OK once the receiver accepted the delivery (a 2xx). Any error is retried
  // later with the same row, so the same Idempotency-Key.
  [[nodiscard]] virtual absl::StatusOr<DeliveryReceipt> Deliver(const OutboxRow& row) = 0;
};

// The sink kinds this build knows, for config validation.
std::vector<std::string> TicketSinkTypes();
// kInvalidArgument for an unknown type or options that kind cannot use.
absl::StatusOr<std::unique_ptr<TicketSink>> MakeTicketSink(const SinkOptions& options);

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_SINK_H_
