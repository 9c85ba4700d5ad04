#include "exporters/postmortem.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "detector/duration.h"

namespace klaxon {

namespace {

// Seconds are enough for people; the ledger keeps milliseconds.
std::string Utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}
// For table cells under a "(UTC)" header.
std::string UtcCell(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", t, absl::UTCTimeZone());
}

std::string Length(absl::Duration d) {
  if (d < absl::ZeroDuration()) return absl::StrCat("-", Length(-d));
  return DurationToString(absl::Floor(d, absl::Seconds(1)));
}

// "time_to_acknowledge" -> "Time to acknowledge".
std::string Words(absl::string_view name) {
  std::string out = absl::StrReplaceAll(name, {{"_", " "}});
  if (!out.empty()) out[0] = absl::ascii_toupper(static_cast<unsigned char>(out[0]));
  return out;
}

std::string EventName(absl::string_view kind) {
  if (kind == "opened") return "Detected";
  // "sla_met", "sla_breached", "sla_clock_started": "SLA met", ...
  if (absl::ConsumePrefix(&kind, "sla_"))
    return absl::StrCat("SLA ", absl::StrReplaceAll(kind, {{"_", " "}}));
  if (kind == "postmortem") return "Post-mortem";
  return Words(kind);
}

std::vector<TimelineEntry> InTimeOrder(const Incident& incident) {
  std::vector<TimelineEntry> entries = incident.timeline;
  // Stable: entries of one instant keep the order the ledger wrote them in.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const TimelineEntry& a, const TimelineEntry& b) { return a.at < b.at; });
  return entries;
}

std::optional<TimelineEntry> First(const std::vector<TimelineEntry>& entries,
                                   absl::string_view kind) {
  for (const TimelineEntry& entry : entries) {
    if (entry.kind == kind) return entry;
  }
  return std::nullopt;
}

std::string Subject(const Incident& incident) {
  return incident.summary.empty() ? incident.rule : incident.summary;
}

std::string Affected(const Incident& incident) {
  if (!incident.service.empty()) return EscapeMarkdown(incident.service);
  return absl::StrCat("The condition of rule ", EscapeMarkdown(incident.rule));
}

// When the thing a clock waits for happened, as far as the document knows: a
// breached clock has no stop time of its own, and "how late" is what a reader
// of a post-mortem asks.
std::optional<absl::Time> ClockEvent(const SlaClock& clock, const Incident& incident,
                                     const std::vector<TimelineEntry>& entries) {
  if (clock.name == "time_to_ticket") {
    if (auto ticket = First(entries, "ticket")) return ticket->at;
  } else if (clock.name == "time_to_acknowledge") {
    if (auto ack = First(entries, "acknowledged")) return ack->at;
  } else if (clock.name == "time_to_resolve") {
    return incident.resolved_at;
  }
  return std::nullopt;
}

void AppendSummary(const Incident& incident, const std::vector<TimelineEntry>& entries,
                   std::string& out) {
  auto item = [&out](absl::string_view name, absl::string_view value) {
    absl::StrAppend(&out, "- **", name, ":** ", value, "\n");
  };
  item("Service", incident.service.empty() ? "-" : EscapeMarkdown(incident.service));
  item("Severity", incident.severity.empty() ? "-" : EscapeMarkdown(incident.severity));
  item("Rule", EscapeMarkdown(incident.rule));
  std::string evidence = absl::StrCat("value ", incident.value);
  if (!incident.reason.empty()) absl::StrAppend(&evidence, ", ", EscapeMarkdown(incident.reason));
  item("Evidence", evidence);
  std::vector<std::string> labels;
  for (LabelRef label : incident.labels.items()) {
    labels.push_back(absl::StrCat(label.name, "=\"", label.value, "\""));
  }
  if (!labels.empty()) item("Labels", EscapeMarkdown(absl::StrJoin(labels, ", ")));
  item("First evidence", Utc(incident.first_evidence));
  item("Detected",
       absl::StrCat(Utc(incident.opened_at), ", ",
                    Length(incident.opened_at - incident.first_evidence), " after first evidence"));
  if (std::optional<TimelineEntry> ack = First(entries, "acknowledged")) {
    item("Acknowledged", absl::StrCat(Utc(ack->at), ", ", Length(ack->at - incident.opened_at),
                                      " after detection (", EscapeMarkdown(ack->text), ")"));
  } else if (incident.acknowledged_at) {
    item("Acknowledged",
         absl::StrCat(Utc(*incident.acknowledged_at), ", ",
                      Length(*incident.acknowledged_at - incident.opened_at), " after detection"));
  } else {
    item("Acknowledged", "not acknowledged");
  }
  if (incident.escalations > 0) {
    item("Escalated",
         absl::StrCat(incident.escalations, incident.escalations == 1 ? " step" : " steps"));
  }
  if (incident.resolved_at) {
    item("Resolved", Utc(*incident.resolved_at));
    item("Duration", absl::StrCat(Length(*incident.resolved_at - incident.first_evidence),
                                  ", from first evidence to resolution"));
  } else {
    item("Resolved", "not resolved yet");
  }
  if (incident.reopens > 0) {
    item("Reopened", absl::StrCat(incident.reopens, incident.reopens == 1 ? " time" : " times",
                                  " after resolving"));
  }
  std::vector<std::string> tickets;
  for (const TicketRef& ticket : incident.tickets) {
    tickets.push_back(absl::StrCat(EscapeMarkdown(ticket.sink), ": ",
                                   ticket.ref.empty() ? "(no id)" : EscapeMarkdown(ticket.ref)));
  }
  item("Tickets", tickets.empty() ? "none" : absl::StrJoin(tickets, ", "));
}

void AppendTimeline(const std::vector<TimelineEntry>& entries, std::string& out) {
  out += "\n## Timeline\n\n";
  if (entries.empty()) {
    out += "No timeline entries were recorded.\n";
    return;
  }
  out += "| Time (UTC) | Event | Details |\n| --- | --- | --- |\n";
  for (const TimelineEntry& entry : entries) {
    absl::StrAppend(&out, "| ", UtcCell(entry.at), " | ", EscapeMarkdown(EventName(entry.kind)),
                    " | ", EscapeMarkdown(entry.text), " |\n");
  }
}

void AppendSla(const Incident& incident, const std::vector<TimelineEntry>& entries,
               std::string& out) {
  out += "\n## SLA\n\n";
  if (incident.clocks.empty()) {
    out += "No SLA clocks ran for this incident.\n";
    return;
  }
  out +=
      "| Clock | Started (UTC) | Deadline (UTC) | Outcome | Took |\n"
      "| --- | --- | --- | --- | --- |\n";
  for (const SlaClock& clock : incident.clocks) {
    const absl::Duration budget = clock.deadline - clock.start;
    std::string outcome;
    std::string took = "-";
    switch (clock.state) {
      case ClockState::kMet:
        outcome = clock.stopped_at ? absl::StrCat("met at ", UtcCell(*clock.stopped_at)) : "met";
        if (clock.stopped_at) {
          took = absl::StrCat(Length(*clock.stopped_at - clock.start), " of ", Length(budget));
        }
        break;
      case ClockState::kBreached: {
        outcome =
            absl::StrCat("**breached** at ", UtcCell(clock.stopped_at.value_or(clock.deadline)));
        std::optional<absl::Time> done = ClockEvent(clock, incident, entries);
        if (done && *done > clock.deadline) {
          took = absl::StrCat(Length(*done - clock.start), " of ", Length(budget), " (",
                              Length(*done - clock.deadline), " over)");
        } else {
          took = absl::StrCat("more than ", Length(budget));
        }
        break;
      }
      case ClockState::kRunning:
        outcome = "still running";
        took = absl::StrCat("budget ", Length(budget));
        break;
    }
    absl::StrAppend(&out, "| ", EscapeMarkdown(Words(clock.name)), " | ", UtcCell(clock.start),
                    " | ", UtcCell(clock.deadline), " | ", outcome, " | ", took, " |\n");
  }
}

void AppendImpact(const Incident& incident, std::string& out) {
  out += "\n## Impact\n\n";
  if (incident.resolved_at) {
    absl::StrAppend(&out, Affected(incident), " was failing for ",
                    Length(*incident.resolved_at - incident.first_evidence), ", from ",
                    Utc(incident.first_evidence), " (first evidence) to ",
                    Utc(*incident.resolved_at), " (resolution).\n");
  } else {
    absl::StrAppend(&out, Affected(incident), " has been failing since ",
                    Utc(incident.first_evidence), " (first evidence).\n");
  }
  out +=
      "\n_Who and what was affected (users, requests, data, money), and how it was "
      "noticed: to be written._\n";
}

void AppendRootCause(const Incident& incident, const std::vector<TimelineEntry>& entries,
                     std::string& out) {
  out += "\n## Root cause\n\n";
  absl::StrAppend(
      &out, "Rule ", EscapeMarkdown(incident.rule), " fired on value ", incident.value,
      incident.reason.empty() ? "" : absl::StrCat(": ", EscapeMarkdown(incident.reason)), ".\n\n");
  std::vector<const TimelineEntry*> changes;
  for (const TimelineEntry& entry : entries) {
    if (entry.kind == "change") changes.push_back(&entry);
  }
  if (changes.empty()) {
    out += "No change was recorded shortly before the incident.\n";
  } else {
    out += "Changes shortly before the incident:\n\n";
    for (const TimelineEntry* change : changes) {
      absl::StrAppend(&out, "- ", Utc(change->at), ": ", EscapeMarkdown(change->text), "\n");
    }
  }
  out += "\n_What caused it, and why it was not caught or stopped sooner: to be written._\n";
}

}  // namespace

std::string PostmortemTitle(const Incident& incident) {
  return absl::StrCat("Post-mortem: ", incident.id(), " ", Subject(incident));
}

std::string EscapeMarkdown(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '\\':
      case '`':
      case '*':
      case '_':
      case '~':
      case '[':
      case ']':
      case '<':
      case '>':
      case '|':
      // Not Markdown, but Jira's wiki markup reads {name...} as a macro; a
      // backslash keeps the brace in both.
      case '{':
      case '}':
        out += '\\';
        out += c;
        break;
      case '\n':
      case '\r':
      case '\t':
        out += ' ';
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderPostmortem(const Incident& incident) {
  const std::vector<TimelineEntry> entries = InTimeOrder(incident);
  // A "#" at the end of a heading would be taken for a closing sequence.
  std::string title = absl::StrReplaceAll(EscapeMarkdown(Subject(incident)), {{"#", "\\#"}});
  std::string out = absl::StrCat("# Post-mortem: ", incident.id(), " ", title, "\n\n");
  AppendSummary(incident, entries, out);
  AppendTimeline(entries, out);
  AppendSla(incident, entries, out);
  AppendImpact(incident, out);
  AppendRootCause(incident, entries, out);
  out += "\n## Follow-up actions\n\n- [ ] \n- [ ] \n- [ ] \n";
  return out;
}

}  // namespace klaxon
