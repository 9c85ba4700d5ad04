#include "exporters/internal/notification.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace klaxon::internal {

namespace {

// Long enough for any summary a person writes, short enough for one line on a
// phone with the marker, the id and the mentions around it.
constexpr size_t kTitleBytes = 160;
constexpr size_t kDetailBytes = 200;

// The length of the valid UTF-8 sequence at the start of `s`, or 0.
size_t Utf8SequenceLength(absl::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = byte(0);
  if (c < 0x80) return 1;
  size_t length;
  unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    length = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    length = 3;
    if (c == 0xE0) low = 0xA0;   // overlong
    if (c == 0xED) high = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    length = 4;
    if (c == 0xF0) low = 0x90;   // overlong
    if (c == 0xF4) high = 0x8F;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

// The last "acknowledged" entry of the timeline, or nullptr.
const TimelineEntry* LastAcknowledgement(const Incident& incident) {
  for (auto it = incident.timeline.rbegin(); it != incident.timeline.rend(); ++it) {
    if (it->kind == "acknowledged") return &*it;
  }
  return nullptr;
}

}  // namespace

std::string NotificationMarker(absl::string_view event) {
  if (event == "opened") return "OPEN";
  if (event == "acknowledged") return "ACK";
  if (event == "reopened") return "REOPENED";
  if (event == "escalated") return "ESCALATED";
  if (event == "reminder") return "REMINDER";
  if (event == "resolved") return "RESOLVED";
  if (event == "postmortem") return "POST-MORTEM";
  return absl::AsciiStrToUpper(event);
}

std::string NotificationTitle(const Incident& incident) {
  std::vector<absl::string_view> who = {};
  std::string id = incident.id();
  who.push_back(id);
  if (!incident.severity.empty()) who.push_back(incident.severity);
  if (!incident.service.empty()) who.push_back(incident.service);
  return absl::StrCat(
      absl::StrJoin(who, " "), ": ",
      OneLine(incident.summary.empty() ? incident.rule : incident.summary, kTitleBytes));
}

std::string NotificationDetail(const OutboxRow& row) {
  const Incident& incident = row.incident;
  const std::string& event = row.event;
  std::string detail;
  if (event == "opened" || event == "reopened") {
    detail = incident.reason;
  } else if (event == "acknowledged") {
    const TimelineEntry* ack = LastAcknowledgement(incident);
    detail = ack != nullptr ? ack->text : "acknowledged";
  } else if (event == "escalated") {
    // The step fired `after` the opening, so the row's own time says how long
    // nobody answered, in the words of the step's configuration.
    detail = "nobody acknowledged";
    if (row.created_at > incident.opened_at) {
      absl::StrAppend(&detail, " in ", WholeSeconds(row.created_at - incident.opened_at));
    }
  } else if (event == "reminder") {
    const TimelineEntry* ack = LastAcknowledgement(incident);
    if (ack != nullptr && row.created_at > ack->at) {
      detail =
          absl::StrCat("acknowledged ", WholeSeconds(row.created_at - ack->at), " ago, still open");
    } else {
      detail = "acknowledged, still open";
    }
  } else if (event == "resolved") {
    absl::Time at = incident.resolved_at.value_or(row.created_at);
    if (at > incident.first_evidence) {
      detail = absl::StrCat("after ", WholeSeconds(at - incident.first_evidence));
    }
  } else if (event == "postmortem") {
    std::vector<std::string> refs = TicketRefsOf(incident);
    detail =
        refs.empty() ? "no ticket recorded" : absl::StrCat("tickets: ", absl::StrJoin(refs, " "));
  }
  return OneLine(detail, kDetailBytes);
}

std::string NotificationHeadline(const OutboxRow& row) {
  std::string line =
      absl::StrCat("[", NotificationMarker(row.event), "] ", NotificationTitle(row.incident));
  std::string detail = NotificationDetail(row);
  if (!detail.empty()) absl::StrAppend(&line, " \xE2\x80\x94 ", detail);  // em dash
  return line;
}

std::vector<std::string> TicketRefsOf(const Incident& incident) {
  std::vector<std::string> refs;
  for (const TicketRef& ticket : incident.tickets) {
    if (!ticket.ref.empty()) refs.push_back(ticket.ref);
  }
  return refs;
}

std::string WholeSeconds(absl::Duration d) {
  return absl::FormatDuration(absl::Floor(d, absl::Seconds(1)));
}

std::string OneLine(absl::string_view text, size_t max_bytes) {
  std::string out = ValidUtf8(text);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\t') c = ' ';
  }
  if (out.size() <= max_bytes) return out;
  size_t cut = max_bytes > 3 ? max_bytes - 3 : 0;
  // Back off continuation bytes so that no character is cut in half.
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  out += "...";
  return out;
}

std::string ValidUtf8(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    size_t length = Utf8SequenceLength(text);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      text.remove_prefix(1);
    } else {
      out.append(text.data(), length);
      text.remove_prefix(length);
    }
  }
  return out;
}

}  // namespace klaxon::internal
