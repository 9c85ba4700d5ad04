#include "absl/strings/string_view.h"
#include "detector/incident.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

#include <cmath>
#include <string>

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

namespace klaxon {

std::string FormatTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

namespace {

absl::StatusOr<absl::Time> ParseTime(const nlohmann::json& value) {
  absl::Time t;
  std::string error;
  if (!value.is_string() ||
      !absl::ParseTime(absl::RFC3339_full, value.get<std::string>(), &t, &error)) {
    return absl::InvalidArgumentError(absl::StrCat("bad time in incident JSON: ", error));
  }
  return t;
}

nlohmann::json LabelsToJson(const Labels& labels) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& l : labels.items()) out[l.name] = l.value;
  return out;
}

}  // namespace

nlohmann::json IncidentToJson(const Incident& incident) {
  nlohmann::json out = {
      {"id", incident.id()},
      {"number", incident.number},
      {"fingerprint", absl::StrFormat("%016x", incident.fingerprint)},
      {"rule", incident.rule},
      {"service", incident.service},
      {"severity", incident.severity},
      {"summary", incident.summary},
      {"labels", LabelsToJson(incident.labels)},
      {"state", std::string(IncidentStateName(incident.state))},
      {"first_evidence_at", FormatTimestamp(incident.first_evidence)},
      {"opened_at", FormatTimestamp(incident.opened_at)},
      {"resolved_at", incident.resolved_at ? nlohmann::json(FormatTimestamp(*incident.resolved_at))
                                           : nlohmann::json(nullptr)},
      {"value", std::isfinite(incident.value) ? nlohmann::json(incident.value)
                                              : nlohmann::json(absl::StrCat(incident.value))},
      {"reason", incident.reason},
      {"reopens", incident.reopens},
      {"escalations", incident.escalations},
      {"acknowledged_at", incident.acknowledged_at
                              ? nlohmann::json(FormatTimestamp(*incident.acknowledged_at))
                              : nlohmann::json(nullptr)},
  };
  if (!incident.suppressed_by.empty()) out["suppressed_by"] = incident.suppressed_by;
  if (!incident.members.empty()) {
    auto& members = out["members"] = nlohmann::json::array();
    for (const Labels& member : incident.members) members.push_back(LabelsToJson(member));
  }
  if (!incident.timeline.empty()) {
    auto& timeline = out["timeline"] = nlohmann::json::array();
    for (const auto& e : incident.timeline) {
      timeline.push_back({{"at", FormatTimestamp(e.at)}, {"kind", e.kind}, {"text", e.text}});
    }
  }
  if (!incident.clocks.empty()) {
    auto& clocks = out["sla_clocks"] = nlohmann::json::array();
    for (const auto& c : incident.clocks) {
      clocks.push_back({{"clock", c.name},
                        {"start", FormatTimestamp(c.start)},
                        {"deadline", FormatTimestamp(c.deadline)},
                        {"state", std::string(ClockStateName(c.state))},
                        {"stopped_at", c.stopped_at ? nlohmann::json(FormatTimestamp(*c.stopped_at))
                                                    : nlohmann::json(nullptr)}});
    }
  }
  if (!incident.tickets.empty()) {
    auto& tickets = out["tickets"] = nlohmann::json::array();
    for (const auto& t : incident.tickets) tickets.push_back({{"sink", t.sink}, {"ref", t.ref}});
  }
  return out;
}

absl::StatusOr<Incident> IncidentFromJson(const nlohmann::json& json) {
  try {
    Incident incident;
    incident.number = json.at("number").get<int64_t>();
    incident.fingerprint = std::stoull(json.at("fingerprint").get<std::string>(), nullptr, 16);
    incident.rule = json.at("rule").get<std::string>();
    incident.service = json.at("service").get<std::string>();
    incident.severity = json.at("severity").get<std::string>();
    incident.summary = json.at("summary").get<std::string>();
    std::vector<Label> labels;
    for (const auto& [name, value] : json.at("labels").items()) {
      labels.push_back({name, value.get<std::string>()});
    }
    incident.labels = Labels(std::move(labels));
    std::string state = json.at("state").get<std::string>();
    incident.state = state == "resolved"       ? IncidentState::kResolved
                     : state == "acknowledged" ? IncidentState::kAcknowledged
                                               : IncidentState::kOpen;
    auto first = ParseTime(json.at("first_evidence_at"));
    auto opened = ParseTime(json.at("opened_at"));
    if (!first.ok()) return first.status();
    if (!opened.ok()) return opened.status();
    incident.first_evidence = *first;
    incident.opened_at = *opened;
    if (!json.at("resolved_at").is_null()) {
      auto resolved = ParseTime(json.at("resolved_at"));
      if (!resolved.ok()) return resolved.status();
      incident.resolved_at = *resolved;
    }
    const auto& value = json.at("value");
    incident.value = value.is_number() ? value.get<double>() : std::stod(value.get<std::string>());
    incident.reason = json.at("reason").get<std::string>();
    incident.reopens = json.value("reopens", 0);
    incident.escalations = json.value("escalations", 0);
    if (json.contains("acknowledged_at") && !json.at("acknowledged_at").is_null()) {
      auto acknowledged = ParseTime(json.at("acknowledged_at"));
      if (!acknowledged.ok()) return acknowledged.status();
      incident.acknowledged_at = *acknowledged;
    }
    incident.suppressed_by = json.value("suppressed_by", std::string());
    if (json.contains("members")) {
      for (const auto& member : json.at("members")) {
        std::vector<Label> member_labels;
        for (const auto& [name, value] : member.items()) {
          member_labels.push_back({name, value.get<std::string>()});
        }
        incident.members.push_back(Labels(std::move(member_labels)));
      }
    }
    if (json.contains("timeline")) {
      for (const auto& e : json.at("timeline")) {
        auto at = ParseTime(e.at("at"));
        if (!at.ok()) return at.status();
        incident.timeline.push_back(
            {*at, e.at("kind").get<std::string>(), e.at("text").get<std::string>()});
      }
    }
    if (json.contains("sla_clocks")) {
      for (const auto& c : json.at("sla_clocks")) {
        auto start = ParseTime(c.at("start"));
        auto deadline = ParseTime(c.at("deadline"));
        if (!start.ok()) return start.status();
        if (!deadline.ok()) return deadline.status();
        std::string clock_state = c.at("state").get<std::string>();
        SlaClock clock{c.at("clock").get<std::string>(), *start, *deadline,
                       clock_state == "met"        ? ClockState::kMet
                       : clock_state == "breached" ? ClockState::kBreached
                                                   : ClockState::kRunning,
                       std::nullopt};
        if (!c.at("stopped_at").is_null()) {
          auto stopped = ParseTime(c.at("stopped_at"));
          if (!stopped.ok()) return stopped.status();
          clock.stopped_at = *stopped;
        }
        incident.clocks.push_back(std::move(clock));
      }
    }
    if (json.contains("tickets")) {
      for (const auto& t : json.at("tickets")) {
        incident.tickets.push_back({t.at("sink").get<std::string>(), t.at("ref").get<std::string>()});
      }
    }
    return incident;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad incident JSON: ", e.what()));
  }
}

}  // namespace klaxon
