// The words the notifiers (chat, email) share, private to exporters/: one
// marker per event and one short title, so that the chat line a person reads on
// a phone and the e-mail subject in their inbox say the same thing. Pure
// functions of the outbox row, so every retry says it in the same words.
// Thread-safe.
#ifndef KLAXON_EXPORTERS_INTERNAL_NOTIFICATION_H_
#define KLAXON_EXPORTERS_INTERNAL_NOTIFICATION_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "detector/incident.h"

namespace klaxon::internal {

// "OPEN", "ACK", "REOPENED", "ESCALATED", "REMINDER", "RESOLVED",
// "POST-MORTEM"; an event this build does not know, upper-cased.
std::string NotificationMarker(absl::string_view event);

// "INC-000042 critical checkout: checkout health probe failing": the
// incident's id, severity, service and summary (the rule when it has none).
std::string NotificationTitle(const Incident& incident);

// What this event adds to the title, or "": the reason of an opened or
// reopened incident, who acknowledged, "nobody acknowledged in 15m",
// "acknowledged 30m ago, still open", "after 4m12s" (from first evidence to
// resolution), or a post-mortem's ticket refs.
std::string NotificationDetail(const OutboxRow& row);

// "[OPEN] INC-000042 critical checkout: ... — connection refused".
std::string NotificationHeadline(const OutboxRow& row);

// Every non-empty ticket ref of the incident, in the order they were recorded.
std::vector<std::string> TicketRefsOf(const Incident& incident);

// `d` floored to whole seconds, as absl writes it: "4m12s", "15m", "1h".
std::string WholeSeconds(absl::Duration d);

// `text` on one line (CR, LF and tab become spaces) and at most `max_bytes`
// long, cut at a UTF-8 character boundary and marked with "...": a log line
// quoted as a reason must not take over a phone's screen or a mail header.
std::string OneLine(absl::string_view text, size_t max_bytes);

// `text` with each byte that is not part of valid UTF-8 replaced by U+FFFD, so
// that a body declared charset=utf-8 is that.
std::string ValidUtf8(absl::string_view text);

}  // namespace klaxon::internal

#endif  // KLAXON_EXPORTERS_INTERNAL_NOTIFICATION_H_
