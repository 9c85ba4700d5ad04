// The incident vocabulary shared by the ledger (which owns it), the API and the
// exporters (which read it): incidents, their timelines and SLA clocks, and the
// outbox rows that carry each owed delivery. Plain values.
#ifndef KLAXON_DETECTOR_INCIDENT_H_
#define KLAXON_DETECTOR_INCIDENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "detector/labels.h"

namespace klaxon {

enum class IncidentState { kOpen, kAcknowledged, kResolved };
absl::string_view IncidentStateName(IncidentState state);  // "open", ...

// "INC-000123" for number 123.
std::string IncidentId(int64_t number);

struct TimelineEntry {
  absl::Time at;
  std::string kind;  // "first_evidence", "opened", "ticket", "sla_met", ...
  std::string text;  // what a person reads
};

enum class ClockState { kRunning, kMet, kBreached };
absl::string_view ClockStateName(ClockState state);  // "running", "met", "breached"

struct SlaClock {
  std::string name;  // "time_to_ticket", "time_to_acknowledge", "time_to_resolve"
  absl::Time start;
  absl::Time deadline;
  ClockState state = ClockState::kRunning;
  std::optional<absl::Time> stopped_at;  // when met or breached
};

struct TicketRef {
  std::string sink;
  std::string ref;  // the ticketing system's id or URL, "" when it gave none
};

struct Incident {
  int64_t number = 0;
  uint64_t fingerprint = 0;  // of rule name + alert labels: stable across restarts
  std::string rule;
  std::string service;
  std::string severity;
  std::string summary;
  Labels labels;  // the alert's labels, alertname included
  IncidentState state = IncidentState::kOpen;
  absl::Time first_evidence;  // when the rule first saw the condition
  absl::Time opened_at;       // when the alert fired
  std::optional<absl::Time> resolved_at;
  double value = 0;    // the evidence value when it fired
  std::string reason;  // the source's own words for the failure, if any
  std::vector<TimelineEntry> timeline;
  std::vector<SlaClock> clocks;
  std::vector<TicketRef> tickets;
  // Times it fired again within its rule's reopen_window after resolving.
  int reopens = 0;
  std::optional<absl::Time> acknowledged_at;
  int escalations = 0;  // escalation steps taken
  // Why its deliveries are held ("silence 3 ...", "maintenance db-weekly",
  // "flapping"); "" when they are not.
  std::string suppressed_by;
  // For a rule with group_by: the alerts it stands for, each by its labels.
  std::vector<Labels> members;

  std::string id() const { return IncidentId(number); }
};

// One delivery owed to one sink, written in the same transaction as the ledger
// change that caused it. `incident` is the incident as it was at that change,
// so that every retry sends the same document.
struct OutboxRow {
  int64_t id = 0;
  std::string sink;
  // "opened", "acknowledged", "reopened", "escalated", "reminder",
  // "resolved", "postmortem"
  std::string event;
  Incident incident;
  // Who a notifier (chat, email) tells: the service's `notify` list, or an
  // escalation step's. Empty for ticket sinks, and then a notifier uses its own `to`.
  std::vector<std::string> recipients;
  absl::Time created_at;
  int attempts = 0;
  absl::Time next_attempt_at;
  std::string last_error;

  // The same for every attempt of this delivery, across restarts.
  std::string idempotency_key() const;
};

// What a sink reports of a delivery the receiver accepted.
struct DeliveryReceipt {
  std::string ticket_ref;  // "" when the receiver names no ticket
};

// RFC 3339 UTC with milliseconds: "2026-11-24T02:22:52.123Z".
std::string FormatTimestamp(absl::Time t);

// The one JSON form of an incident: the API, the webhook payload and the outbox
// snapshot all use it. Timeline, clocks and tickets are included when present.
nlohmann::json IncidentToJson(const Incident& incident);
absl::StatusOr<Incident> IncidentFromJson(const nlohmann::json& json);

// Counts the ledger keeps, read at scrape time for klaxon's own metrics. Counters
// come from durable rows, so they survive restarts and never go backwards.
struct LedgerStats {
  struct ByServiceSeverity {
    std::string service;
    std::string severity;
    int64_t count;
  };
  struct ByServiceClock {
    std::string service;
    std::string clock;
    int64_t count;
  };
  struct BySink {
    std::string sink;
    int64_t count;
  };
  std::vector<ByServiceSeverity> open;    // incidents not resolved
  std::vector<ByServiceSeverity> opened;  // every incident ever opened
  std::vector<ByServiceClock> clock_breaches;
  std::vector<ByServiceClock> clock_met;
  std::vector<BySink> outbox_pending;  // owed and still being tried
  std::vector<BySink> dead_letters;    // given up on until a person retries them
  std::vector<BySink> delivered;
  std::vector<BySink> failed_attempts;  // delivery attempts the receiver did not accept
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_INCIDENT_H_
