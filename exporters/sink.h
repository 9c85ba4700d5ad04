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
  std::string type;  // "webhook"
  std::string url;
  absl::Duration timeout = absl::Seconds(10);  // Default: 10s. One delivery attempt.
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every request
};

class TicketSink {
 public:
  virtual ~TicketSink() = default;
  // OK once the receiver accepted the delivery (a 2xx). Any error is retried
  // later with the same row, so the same Idempotency-Key.
  [[nodiscard]] virtual absl::StatusOr<DeliveryReceipt> Deliver(const OutboxRow& row) = 0;
};

// The sink kinds this build knows, for config validation: {"webhook"}.
std::vector<std::string> TicketSinkTypes();
// kInvalidArgument for an unknown type or options that kind cannot use.
absl::StatusOr<std::unique_ptr<TicketSink>> MakeTicketSink(const SinkOptions& options);

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_SINK_H_
