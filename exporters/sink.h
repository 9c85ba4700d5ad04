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
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "detector/incident.h"

namespace klaxon {

struct SinkOptions {
  std::string name;
  // "webhook", "alertmanager", "pagerduty", "jira", "github", "redmine";
  // the notifiers "chat" and "email"
  std::string type;
  // webhook, alertmanager: the receiver; pagerduty: the Events API v2 endpoint
  // (default https://events.pagerduty.com/v2/enqueue); jira, redmine: the
  // server's base URL; github: the API base (default https://api.github.com);
  // chat: the Slack or Mattermost incoming webhook; email: the SMTP server,
  // smtp://host:port (STARTTLS when offered) or smtps://host:port.
  std::string url;
  absl::Duration timeout = absl::Seconds(10);  // Default: 10s. One delivery attempt.
  // Default: 24h. A delivery still failing this long after it was owed is
  // dead-lettered (kept; retried only through the API).
  absl::Duration dead_letter_after = absl::Hours(24);
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every request
  // Secrets, resolved by the config loader from "env:VAR" or "file:PATH"; never logged.
  std::string secret;       // webhook: HMAC-SHA256 key of the X-Klaxon-Signature header;
                            // email: the SMTP password of `user`
  std::string api_key;      // jira and github: API token; redmine: X-Redmine-API-Key
  std::string routing_key;  // pagerduty: the integration's routing key
  std::string user;         // jira: the account the token belongs to (basic auth); email: SMTP AUTH
  std::string project;      // jira: project key ("OPS"); redmine: project identifier
  std::string repository;   // github: "owner/name"
  std::string issue_type = "Task";           // jira. Default: Task.
  std::string resolve_transition = "Done";   // jira: the transition taken on resolve
  int resolved_status_id = 3;                // redmine: status set on resolve. Default: 3 (Resolved)
  int incident_field_id = 0;                 // redmine: custom field holding klaxon's incident id
  // email: the sender, "klaxon@example.com" or "klaxon <klaxon@example.com>";
  // its domain also names the Message-IDs, so keep it stable.
  std::string from;
  // Notifiers: who is told when a row names no recipients of its own (email:
  // addresses; chat: handles mentioned as "@name"). Default: none.
  std::vector<std::string> to;
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
// Notifiers (chat, email) tell people; the other kinds keep tickets. A
// notifier's message is no ticket and counts against max_notifications.
inline bool IsNotifierType(absl::string_view type) { return type == "chat" || type == "email"; }
// An email sink's address as written in config or a notify list:
// "ops@example.com" or "Ops on call <ops@example.com>". Loose on purpose
// (exactly one "@" with something on both sides, no spaces or control
// characters): the SMTP server is the judge; this only keeps a chat handle
// ("@alice") or a typo out of the envelope, and anything out of the headers.
bool IsMailAddress(absl::string_view mailbox);
// kInvalidArgument for an unknown type or options that kind cannot use.
absl::StatusOr<std::unique_ptr<TicketSink>> MakeTicketSink(const SinkOptions& options);

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_SINK_H_
