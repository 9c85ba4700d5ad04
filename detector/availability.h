// The monthly availability of one service, as an SLA report states it: the
// union of its incidents' downtime in one calendar month of a time zone, less
// maintenance, against the month's time less maintenance, and the error budget
// that leaves. Plain values and pure functions: the caller gathers the incidents
// (from the ledger) and the expanded maintenance windows, and owns the report.
//
// The period is always the whole calendar month, from local midnight on the 1st
// to local midnight on the 1st of the next month (in Europe/Berlin October 2026
// has 745 hours and March 2026 has 743). While the month is not over, downtime
// counts up to `now` but the denominator is still the whole month, as SLA
// contracts compute it: the figure is the availability the month ends with if
// nothing else goes down, so it can only fall as the month goes on, and the
// allowed downtime (the budget) stays fixed all month. Likewise maintenance is
// every window inside the month, including those still ahead of `now`.
#ifndef KLAXON_DETECTOR_AVAILABILITY_H_
#define KLAXON_DETECTOR_AVAILABILITY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "detector/maintenance.h"
#include "nlohmann/json.hpp"

namespace klaxon {

struct DowntimeSource {           // one incident that affects availability
  std::string incident_id;        // "INC-000042"
  absl::Time start;               // its first evidence
  std::optional<absl::Time> end;  // resolved_at; nullopt = still open (counts up to `now`)
};

struct AvailabilityInput {
  std::string service;
  absl::CivilMonth month;  // calendar month in `time_zone`
  absl::TimeZone time_zone;
  std::string time_zone_name;
  double objective = 0.999;  // availability objective, (0,1)
  std::vector<DowntimeSource> incidents;
  // Windows that do not count, already expanded; they may overlap.
  std::vector<TimeInterval> maintenance;
  absl::Time now;  // no downtime after now counts
};

struct AvailabilityReport {
  std::string service;
  absl::CivilMonth month;
  std::string time_zone_name;
  // The month's local midnight bounds as absolute times. A midnight that a
  // daylight-saving change skips is the first instant of that day (absl::FromCivil).
  absl::Time period_start, period_end;
  absl::Duration period;  // period_end - period_start (a DST month is 1h shorter/longer)
  // The union of the incident intervals clipped to the period and to `now`, less
  // maintenance: two incidents at once are one outage.
  absl::Duration downtime;
  // The union of the maintenance windows inside the period, whether or not an
  // incident overlapped them, and whether or not they are over yet.
  absl::Duration maintenance;
  double objective;
  double availability;  // 1 - downtime / (period - maintenance); 1.0 when no time counts
  // (1 - objective) * (period - maintenance), rounded to the millisecond.
  absl::Duration allowed_downtime;
  // 1 - downtime / allowed_downtime (from the unrounded allowance): 1 untouched,
  // 0 used up, negative when overspent. 1 when nothing is allowed and there is no
  // downtime; -infinity when nothing is allowed but there is downtime (only an
  // objective of 1 or more can get there).
  double error_budget_remaining;
  struct Contribution {
    std::string incident_id;
    absl::Time start, end;   // the incident clipped to the period and to `now`
    absl::Duration counted;  // end - start less maintenance
    bool ongoing = false;    // not resolved by `now`, so `end` is `now`
  };
  // Every incident with time inside the period (and before `now`), by start then
  // id, with its own counted share: time two incidents overlap is counted in each,
  // so the shares may add up to more than `downtime`. An incident entirely inside
  // maintenance is listed with 0 counted.
  std::vector<Contribution> incidents;
  absl::Time as_of;       // the input's `now`
  bool complete = false;  // the month is over (as_of >= period_end): the figures are final
};

AvailabilityReport ComputeAvailability(const AvailabilityInput& input);

// "2026-11". The error says what is wrong, without a file position.
absl::StatusOr<absl::CivilMonth> ParseMonth(absl::string_view text);

// A ratio as a percentage with three decimals, "99.953%", rounded down (toward
// the pessimistic side: 99.9996% prints as 99.999%, never 100.000%). A value
// within floating-point noise of a printed one prints as that one
// (0.999 is "99.900%"). "n/a" when not finite.
std::string FormatPercent(double ratio);

// An aligned text table for a terminal, one row per report in the order given:
// SERVICE, MONTH, TIME ZONE, AVAILABILITY, OBJECTIVE, DOWNTIME, ALLOWED,
// BUDGET LEFT, MAINTENANCE, INCIDENTS; durations as in the JSON ("43m4s800ms"),
// ratios as FormatPercent. A month not over is marked "*", with a
// footnote saying the figure is so far, against the whole month.
std::string FormatAvailabilityTable(const std::vector<AvailabilityReport>& reports);

// A header and one row per report, fields quoted as RFC 4180 says (when they
// hold a comma, a quote or a line break; quotes doubled), lines ended by CRLF.
// Durations in seconds, ratios as percentages with three decimals (no '%'),
// times RFC 3339 UTC.
std::string FormatAvailabilityCsv(const std::vector<AvailabilityReport>& reports);

// Durations as seconds (double, "<name>_seconds") and as a string in days down
// to milliseconds ("31d1h", "43m4s800ms"; no weeks); times RFC 3339 UTC
// (FormatTimestamp); ratios as numbers, with "<name>_percent" strings
// ("99.953%"). A non-finite ratio is null.
nlohmann::json AvailabilityToJson(const AvailabilityReport& report);

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_AVAILABILITY_H_
