#include "absl/strings/string_view.h"
#include "detector/incident.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace klaxon {

absl::string_view IncidentStateName(IncidentState state) {
  switch (state) {
    case IncidentState::kOpen: return "open";
    case IncidentState::kAcknowledged: return "acknowledged";
    case IncidentState::kResolved: return "resolved";
  }
  return "unknown";
}

std::string IncidentId(int64_t number) { return absl::StrFormat("INC-%06d", number); }

absl::string_view ClockStateName(ClockState state) {
  switch (state) {
    case ClockState::kRunning: return "running";
    case ClockState::kMet: return "met";
    case ClockState::kBreached: return "breached";
  }
  return "unknown";
}

std::string OutboxRow::idempotency_key() const {
  return absl::StrCat("klaxon-", incident.id(), "-", event, "-", id);
}

}  // namespace klaxon
