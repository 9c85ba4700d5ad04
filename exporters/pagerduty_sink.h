// PagerDutySink sends each delivery as a PagerDuty Events API v2 event, keyed
// by the incident id so that a trigger, its acknowledge and its resolve meet on
// one PagerDuty alert, and a retried trigger lands on the same alert instead of
// paging twice. Thread-compatible: one delivery thread uses it.
#ifndef KLAXON_EXPORTERS_PAGERDUTY_SINK_H_
#define KLAXON_EXPORTERS_PAGERDUTY_SINK_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "exporters/sink.h"
#include "nlohmann/json.hpp"

namespace klaxon {

inline constexpr char kPagerDutyEventsUrl[] = "https://events.pagerduty.com/v2/enqueue";

// PagerDuty's severity for klaxon's: critical → critical, major → error,
// minor and warning → warning, info → info; anything else → error.
std::string PagerDutySeverity(absl::string_view severity);

// The event for `row`, or nullopt for an event PagerDuty has no action for
// ("updated", unknown ones). "opened" and "reopened" trigger (with the payload:
// summary, source, severity, timestamp, component, group, class,
// custom_details), "acknowledged" acknowledges and "resolved" resolves.
// dedup_key is the incident id ("INC-000042").
std::optional<nlohmann::json> PagerDutyEvent(const OutboxRow& row, const std::string& routing_key);

class PagerDutySink final : public TicketSink {
 public:
  explicit PagerDutySink(SinkOptions options);
  // A 2xx is success, and ticket_ref is the dedup_key PagerDuty answered. 429
  // and 5xx are kUnavailable; 400 (the event is invalid and will stay so) is
  // kInvalidArgument with PagerDuty's message and errors. OK without a request
  // for events that have no action.
  absl::StatusOr<DeliveryReceipt> Deliver(const OutboxRow& row) override;

 private:
  SinkOptions options_;
};

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_PAGERDUTY_SINK_H_
