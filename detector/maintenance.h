// Maintenance windows: planned time, one-off or recurring in a time zone, when a
// service's outages neither page anyone nor count against its availability.
// Plain values and pure functions; the config owns the windows, the engine and
// the availability report ask these functions when a window is open.
//
// Local wall times. A window recurs at the same local wall time in its zone,
// so across a daylight-saving change its absolute (UTC) time moves by the
// change. A wall time that does not exist (the spring-forward gap) or exists
// twice (the fall-back hour) is resolved as absl::TimeZone::At documents, always
// taking `.pre`, the time computed with the UTC offset in force before the
// change: in Europe/Berlin, 02:30 on the spring-forward day is read as
// 02:30+01:00, which is 03:30 CEST (the window starts one hour later on the
// clock that day); 02:30 on the fall-back day is the first 02:30 (CEST, +02:00).
#ifndef KLAXON_DETECTOR_MAINTENANCE_H_
#define KLAXON_DETECTOR_MAINTENANCE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace klaxon {

struct MaintenanceWindow {
  std::string name;
  std::vector<std::string> services;  // empty: every service
  absl::CivilSecond start;            // local wall time in time_zone of the first occurrence
  absl::Duration duration;            // of each occurrence; not positive: the window never opens
  // kDaily and kWeekly repeat every 1 and 7 local days. kMonthly repeats on the
  // same day of the month as `start`, and skips the months without that day
  // (a window on the 31st opens in January, March, May, July, August, ...; on
  // the 29th, February only in leap years): it is never moved to the last day.
  enum class Repeat { kNone, kDaily, kWeekly, kMonthly } repeat = Repeat::kNone;
  std::string time_zone_name = "UTC";  // IANA name
  absl::TimeZone time_zone;            // loaded from time_zone_name (LoadZone below)
  std::string comment;
};

// An interval of absolute time, [start, end).
struct TimeInterval {
  absl::Time start;
  absl::Time end;
  bool operator==(const TimeInterval& other) const {
    return start == other.start && end == other.end;
  }
};

// Bounds what one call returns: 27 years of a daily window.
inline constexpr int kMaxOccurrences = 10000;

// The occurrences of `window` that overlap [from, to), in order of start, as
// absolute times: whole occurrences, not clipped to [from, to). None precedes
// the first (`start`): a recurring window does not extend backwards. At most
// kMaxOccurrences, the earliest; callers ask about a bounded range.
std::vector<TimeInterval> Occurrences(const MaintenanceWindow& window, absl::Time from,
                                      absl::Time to);

// The occurrence with start <= at < end, if any: what a suppression check asks.
// When occurrences overlap (a duration longer than the repeat), the earliest-starting.
std::optional<TimeInterval> ActiveOccurrence(const MaintenanceWindow& window, absl::Time at);

// Whether the window covers `service`: listed by exact name, or the list is empty.
bool AppliesTo(const MaintenanceWindow& window, absl::string_view service);

// "2026-11-29T02:00:00", "2026-11-29T02:00", "2026-11-29 02:00:00" or
// "2026-11-29 02:00". No UTC offset or "Z": the window's time zone says where
// the wall clock hangs. The error says what is wrong, without a file position.
absl::StatusOr<absl::CivilSecond> ParseLocalTime(absl::string_view text);

// "none", "daily", "weekly", "monthly".
absl::string_view RepeatName(MaintenanceWindow::Repeat repeat);
absl::StatusOr<MaintenanceWindow::Repeat> ParseRepeat(absl::string_view text);

// An IANA zone from the system's tzdata ("Europe/Berlin", "UTC"). Refuses "" and
// "localtime", whose meaning depends on the machine the config is read on.
absl::StatusOr<absl::TimeZone> LoadZone(absl::string_view name);

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_MAINTENANCE_H_
