#include "detector/sla_report.h"

#include "absl/strings/str_cat.h"

namespace klaxon {

namespace {

absl::TimeZone ZoneOf(const ServiceConfig& service) {
  absl::TimeZone zone = absl::UTCTimeZone();
  // The config loader refused unknown zones.
  (void)absl::LoadTimeZone(service.time_zone, &zone);
  return zone;
}

absl::StatusOr<AvailabilityReport> ReportOne(const Config& config, Ledger& ledger,
                                             const ServiceConfig& service, absl::CivilMonth month,
                                             absl::Time now) {
  AvailabilityInput input;
  input.service = service.name;
  input.month = month;
  input.time_zone = ZoneOf(service);
  input.time_zone_name = service.time_zone;
  input.objective = *service.sla.availability;
  input.now = now;
  absl::Time from = absl::FromCivil(absl::CivilSecond(month), input.time_zone);
  absl::Time to = absl::FromCivil(absl::CivilSecond(month + 1), input.time_zone);
  absl::StatusOr<std::vector<Incident>> incidents =
      ledger.IncidentsOverlapping(service.name, from, to);
  if (!incidents.ok()) return incidents.status();
  const int worst_counted = SeverityRank(service.sla.availability_severity);
  for (const Incident& incident : *incidents) {
    if (SeverityRank(incident.severity) > worst_counted) continue;
    input.incidents.push_back({incident.id(), incident.first_evidence, incident.resolved_at});
  }
  for (const MaintenanceWindow& window : config.maintenance) {
    if (!AppliesTo(window, service.name)) continue;
    for (const TimeInterval& occurrence : Occurrences(window, from, to)) {
      input.maintenance.push_back(occurrence);
    }
  }
  return ComputeAvailability(input);
}

}  // namespace

absl::CivilMonth CurrentMonth(const ServiceConfig& service, absl::Time now) {
  return absl::CivilMonth(absl::ToCivilSecond(now, ZoneOf(service)));
}

absl::StatusOr<std::vector<AvailabilityReport>> ReportAvailability(const Config& config,
                                                                   Ledger& ledger,
                                                                   absl::string_view only,
                                                                   absl::CivilMonth month,
                                                                   absl::Time now) {
  std::vector<AvailabilityReport> reports;
  if (!only.empty()) {
    const ServiceConfig* service = config.FindService(only);
    if (service == nullptr) {
      return absl::NotFoundError(absl::StrCat("no [[service]] named \"", only, "\""));
    }
    if (!service->sla.availability) {
      return absl::FailedPreconditionError(absl::StrCat(
          "service \"", only, "\" has no availability objective ([service.sla] availability)"));
    }
  }
  for (const ServiceConfig& service : config.services) {
    if (!service.sla.availability || (!only.empty() && service.name != only)) continue;
    absl::StatusOr<AvailabilityReport> report = ReportOne(config, ledger, service, month, now);
    if (!report.ok()) return report.status();
    reports.push_back(*std::move(report));
  }
  return reports;
}

}  // namespace klaxon
