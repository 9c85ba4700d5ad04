// AlertmanagerSink POSTs each delivery as Prometheus Alertmanager's webhook
// payload (version "4"), one alert per notification, so that a receiver written
// for Alertmanager's webhook_config takes klaxon's incidents unchanged.
// Thread-compatible: one delivery thread uses it.
#ifndef KLAXON_EXPORTERS_ALERTMANAGER_SINK_H_
#define KLAXON_EXPORTERS_ALERTMANAGER_SINK_H_

#include <optional>
#include <string>

#include "exporters/sink.h"
#include "nlohmann/json.hpp"

namespace klaxon {

// The payload for `row` sent to receiver `receiver`, or nullopt for an event
// Alertmanager has no notification for. "opened" and "reopened" are "firing",
// "resolved" is "resolved"; every other event ("acknowledged", "updated", ...)
// is not sent, since the format has no notes.
//
// The one alert's labels are the incident's labels plus service and severity;
// its annotations are summary, description (the source's reason, when it gave
// one) and incident (klaxon's id). The group is the alert itself (as
// Alertmanager's group_by: ['...']), so groupKey is stable for one alert
// identity and distinct between two; startsAt is when the incident opened;
// endsAt is when it resolved, or Go's zero time "0001-01-01T00:00:00Z" while it
// fires, as Alertmanager sends it.
std::optional<nlohmann::json> AlertmanagerPayload(const OutboxRow& row,
                                                  const std::string& receiver);

class AlertmanagerSink final : public TicketSink {
 public:
  explicit AlertmanagerSink(SinkOptions options) : options_(std::move(options)) {}
  // OK without a request for events that have no notification.
  absl::StatusOr<DeliveryReceipt> Deliver(const OutboxRow& row) override;

 private:
  SinkOptions options_;
};

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_ALERTMANAGER_SINK_H_
