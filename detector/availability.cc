#include "detector/availability.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "detector/incident.h"

namespace klaxon {

namespace {

// Sorted, disjoint, non-empty intervals covering what `intervals` covers.
std::vector<TimeInterval> Union(std::vector<TimeInterval> intervals) {
  intervals.erase(std::remove_if(intervals.begin(), intervals.end(),
                                 [](const TimeInterval& i) { return !(i.start < i.end); }),
                  intervals.end());
  std::sort(intervals.begin(), intervals.end(),
            [](const TimeInterval& a, const TimeInterval& b) { return a.start < b.start; });
  std::vector<TimeInterval> merged;
  for (const TimeInterval& i : intervals) {
    if (!merged.empty() && i.start <= merged.back().end) {
      merged.back().end = std::max(merged.back().end, i.end);
    } else {
      merged.push_back(i);
    }
  }
  return merged;
}

absl::Duration Total(const std::vector<TimeInterval>& disjoint) {
  absl::Duration total = absl::ZeroDuration();
  for (const TimeInterval& i : disjoint) total += i.end - i.start;
  return total;
}

// How much of [start, end) the disjoint intervals cover.
absl::Duration Covered(const std::vector<TimeInterval>& disjoint, absl::Time start,
                       absl::Time end) {
  absl::Duration covered = absl::ZeroDuration();
  for (const TimeInterval& i : disjoint) {
    const absl::Time s = std::max(start, i.start);
    const absl::Time e = std::min(end, i.end);
    if (s < e) covered += e - s;
  }
  return covered;
}

// Durations printed in seconds without trailing zeros: "2592", "1295.5", "0.001".
std::string Seconds(absl::Duration d) {
  std::string out = absl::StrFormat("%.3f", absl::ToDoubleSeconds(d));
  while (out.back() == '0') out.pop_back();
  if (out.back() == '.') out.pop_back();
  return out;
}

// "30d", "31d1h", "43m4s800ms", "0s": days at most, since "4w2d" reads oddly
// in a monthly report. Below a millisecond is dropped.
std::string HumanDuration(absl::Duration d) {
  static const struct {
    const char* suffix;
    absl::Duration length;
  } kUnits[] = {{"d", absl::Hours(24)},
                {"h", absl::Hours(1)},
                {"m", absl::Minutes(1)},
                {"s", absl::Seconds(1)},
                {"ms", absl::Milliseconds(1)}};
  std::string out;
  if (d < absl::ZeroDuration()) {
    out = "-";
    d = -d;
  }
  for (const auto& unit : kUnits) {
    const int64_t n = absl::IDivDuration(d, unit.length, &d);
    if (n > 0) absl::StrAppend(&out, n, unit.suffix);
  }
  if (out.empty() || out == "-") return "0s";
  return out;
}

std::string MonthName(absl::CivilMonth month) { return absl::FormatCivilTime(month); }

std::string CsvField(absl::string_view field) {
  if (field.find_first_of(",\"\r\n") == absl::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// The percentage without its '%', for the CSV.
std::string PercentNumber(double ratio) {
  std::string text = FormatPercent(ratio);
  if (!text.empty() && text.back() == '%') text.pop_back();
  return text;
}

}  // namespace

AvailabilityReport ComputeAvailability(const AvailabilityInput& input) {
  AvailabilityReport report;
  report.service = input.service;
  report.month = input.month;
  report.time_zone_name = input.time_zone_name;
  report.objective = input.objective;
  report.as_of = input.now;
  report.period_start = absl::FromCivil(absl::CivilSecond(input.month), input.time_zone);
  report.period_end = absl::FromCivil(absl::CivilSecond(input.month + 1), input.time_zone);
  report.period = report.period_end - report.period_start;
  report.complete = input.now >= report.period_end;

  std::vector<TimeInterval> maintenance;
  for (const TimeInterval& m : input.maintenance) {
    maintenance.push_back(
        {std::max(m.start, report.period_start), std::min(m.end, report.period_end)});
  }
  maintenance = Union(std::move(maintenance));
  report.maintenance = Total(maintenance);

  // Downtime never reaches past the month or past now.
  const absl::Time horizon = std::min(report.period_end, input.now);
  std::vector<TimeInterval> down;
  for (const DowntimeSource& incident : input.incidents) {
    const absl::Time start = std::max(incident.start, report.period_start);
    const absl::Time end = std::min(incident.end.value_or(input.now), horizon);
    if (!(start < end)) continue;
    down.push_back({start, end});
    report.incidents.push_back({incident.incident_id, start, end,
                                (end - start) - Covered(maintenance, start, end),
                                !incident.end.has_value() || *incident.end > input.now});
  }
  std::sort(
      report.incidents.begin(), report.incidents.end(),
      [](const AvailabilityReport::Contribution& a, const AvailabilityReport::Contribution& b) {
        if (a.start != b.start) return a.start < b.start;
        return a.incident_id < b.incident_id;
      });
  report.downtime = absl::ZeroDuration();
  for (const TimeInterval& d : Union(std::move(down))) {
    report.downtime += (d.end - d.start) - Covered(maintenance, d.start, d.end);
  }

  const absl::Duration counted = report.period - report.maintenance;
  report.availability =
      counted > absl::ZeroDuration() ? 1.0 - absl::FDivDuration(report.downtime, counted) : 1.0;
  const double allowed_seconds =
      std::max(0.0, (1.0 - input.objective) * absl::ToDoubleSeconds(counted));
  report.allowed_downtime = absl::Milliseconds(std::llround(allowed_seconds * 1000));
  if (allowed_seconds > 0) {
    report.error_budget_remaining = 1.0 - absl::ToDoubleSeconds(report.downtime) / allowed_seconds;
  } else {
    report.error_budget_remaining =
        report.downtime == absl::ZeroDuration() ? 1.0 : -std::numeric_limits<double>::infinity();
  }
  return report;
}

absl::StatusOr<absl::CivilMonth> ParseMonth(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid month \"", text, "\": ", why,
                                                   " (expected \"YYYY-MM\", such as \"2026-11\")"));
  };
  if (text.size() != 7 || text[4] != '-') return bad("not a year and month");
  int year = 0, month = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 4) continue;
    if (!absl::ascii_isdigit(text[i])) return bad("not a year and month");
    (i < 4 ? year : month) = (i < 4 ? year : month) * 10 + (text[i] - '0');
  }
  if (month < 1 || month > 12) return bad(absl::StrCat("month ", month, " does not exist"));
  return absl::CivilMonth(year, month);
}

std::string FormatPercent(double ratio) {
  if (!std::isfinite(ratio)) return "n/a";
  const double thousandths = ratio * 100000;  // of a percent
  const double nearest = std::nearbyint(thousandths);
  // 0.999 * 100000 is 99899.99999999999 in binary; that is 99.900%, not 99.899%.
  const double printed =
      std::fabs(thousandths - nearest) < 1e-6 ? nearest : std::floor(thousandths);
  if (std::fabs(printed) > 1e15) return ratio < 0 ? "-inf%" : "inf%";  // past int64 precision
  const int64_t n = static_cast<int64_t>(printed);
  const uint64_t magnitude = n < 0 ? uint64_t(-(n + 1)) + 1 : uint64_t(n);
  return absl::StrFormat("%s%d.%03d%%", n < 0 ? "-" : "", magnitude / 1000, magnitude % 1000);
}

std::string FormatAvailabilityTable(const std::vector<AvailabilityReport>& reports) {
  struct Column {
    const char* title;
    bool right;  // numbers align right
  };
  static const Column kColumns[] = {
      {"SERVICE", false},    {"MONTH", false},    {"TIME ZONE", false}, {"AVAILABILITY", true},
      {"OBJECTIVE", true},   {"DOWNTIME", true},  {"ALLOWED", true},    {"BUDGET LEFT", true},
      {"MAINTENANCE", true}, {"INCIDENTS", true},
  };
  constexpr size_t kCount = sizeof(kColumns) / sizeof(kColumns[0]);
  std::vector<std::vector<std::string>> rows;
  rows.emplace_back();
  for (const Column& c : kColumns) rows.back().push_back(c.title);
  bool any_incomplete = false;
  for (const AvailabilityReport& r : reports) {
    any_incomplete |= !r.complete;
    rows.push_back({r.service, MonthName(r.month) + (r.complete ? "" : "*"), r.time_zone_name,
                    FormatPercent(r.availability), FormatPercent(r.objective),
                    HumanDuration(r.downtime), HumanDuration(r.allowed_downtime),
                    FormatPercent(r.error_budget_remaining), HumanDuration(r.maintenance),
                    absl::StrCat(r.incidents.size())});
  }
  size_t width[kCount] = {};
  for (const auto& row : rows) {
    for (size_t i = 0; i < kCount; ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < kCount; ++i) {
      if (i > 0) line += "  ";
      const std::string pad(width[i] - row[i].size(), ' ');
      line += kColumns[i].right ? pad + row[i] : row[i] + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  if (any_incomplete) {
    absl::StrAppend(&out, "* month not over: downtime so far, against the whole month's time\n");
  }
  return out;
}

std::string FormatAvailabilityCsv(const std::vector<AvailabilityReport>& reports) {
  std::string out =
      "service,month,time_zone,period_start,period_end,complete,period_seconds,"
      "maintenance_seconds,downtime_seconds,allowed_downtime_seconds,objective_percent,"
      "availability_percent,error_budget_remaining_percent,incidents\r\n";
  for (const AvailabilityReport& r : reports) {
    const std::vector<std::string> fields = {
        CsvField(r.service),
        MonthName(r.month),
        CsvField(r.time_zone_name),
        FormatTimestamp(r.period_start),
        FormatTimestamp(r.period_end),
        r.complete ? "true" : "false",
        Seconds(r.period),
        Seconds(r.maintenance),
        Seconds(r.downtime),
        Seconds(r.allowed_downtime),
        PercentNumber(r.objective),
        PercentNumber(r.availability),
        PercentNumber(r.error_budget_remaining),
        absl::StrCat(r.incidents.size()),
    };
    absl::StrAppend(&out, absl::StrJoin(fields, ","), "\r\n");
  }
  return out;
}

nlohmann::json AvailabilityToJson(const AvailabilityReport& report) {
  auto ratio = [](double value) {
    return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
  };
  nlohmann::json incidents = nlohmann::json::array();
  for (const AvailabilityReport::Contribution& c : report.incidents) {
    incidents.push_back({
        {"incident_id", c.incident_id},
        {"start", FormatTimestamp(c.start)},
        {"end", FormatTimestamp(c.end)},
        {"ongoing", c.ongoing},
        {"counted_seconds", absl::ToDoubleSeconds(c.counted)},
        {"counted", HumanDuration(c.counted)},
    });
  }
  return {
      {"service", report.service},
      {"month", MonthName(report.month)},
      {"time_zone", report.time_zone_name},
      {"period_start", FormatTimestamp(report.period_start)},
      {"period_end", FormatTimestamp(report.period_end)},
      {"as_of", FormatTimestamp(report.as_of)},
      {"complete", report.complete},
      {"period_seconds", absl::ToDoubleSeconds(report.period)},
      {"period", HumanDuration(report.period)},
      {"maintenance_seconds", absl::ToDoubleSeconds(report.maintenance)},
      {"maintenance", HumanDuration(report.maintenance)},
      {"downtime_seconds", absl::ToDoubleSeconds(report.downtime)},
      {"downtime", HumanDuration(report.downtime)},
      {"allowed_downtime_seconds", absl::ToDoubleSeconds(report.allowed_downtime)},
      {"allowed_downtime", HumanDuration(report.allowed_downtime)},
      {"objective", ratio(report.objective)},
      {"objective_percent", FormatPercent(report.objective)},
      {"availability", ratio(report.availability)},
      {"availability_percent", FormatPercent(report.availability)},
      {"error_budget_remaining", ratio(report.error_budget_remaining)},
      {"error_budget_remaining_percent", FormatPercent(report.error_budget_remaining)},
      {"incidents", std::move(incidents)},
  };
}

}  // namespace klaxon
