#include "detector/maintenance.h"

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace klaxon {

namespace {

using Repeat = MaintenanceWindow::Repeat;

// The absolute start of occurrence `n` (n >= 0), or nullopt when a monthly
// window's day does not exist in that month.
std::optional<absl::Time> OccurrenceStart(const MaintenanceWindow& w, int64_t n) {
  const absl::CivilSecond& s = w.start;
  absl::CivilSecond local;
  switch (w.repeat) {
    case Repeat::kNone:
      local = s;
      break;
    case Repeat::kDaily:
    case Repeat::kWeekly: {
      // Whole local days, so the wall-clock time stays put across DST changes.
      const absl::CivilDay day = absl::CivilDay(s) + n * (w.repeat == Repeat::kDaily ? 1 : 7);
      local =
          absl::CivilSecond(day.year(), day.month(), day.day(), s.hour(), s.minute(), s.second());
      break;
    }
    case Repeat::kMonthly: {
      const absl::CivilMonth month = absl::CivilMonth(s) + n;
      local =
          absl::CivilSecond(month.year(), month.month(), s.day(), s.hour(), s.minute(), s.second());
      // CivilSecond normalizes November 31 to December 1: that month has no such day.
      if (local.day() != s.day()) return std::nullopt;
      break;
    }
  }
  return w.time_zone.At(local).pre;
}

// An occurrence index near the one starting at `t`, within a couple of repeats;
// the callers walk from it to the exact one.
int64_t EstimateIndex(const MaintenanceWindow& w, absl::Time t) {
  if (w.repeat == Repeat::kNone || t == absl::InfinitePast()) return 0;
  const absl::CivilSecond local = absl::ToCivilSecond(t, w.time_zone);
  int64_t n = 0;
  switch (w.repeat) {
    case Repeat::kNone:
      break;
    case Repeat::kDaily:
      n = absl::CivilDay(local) - absl::CivilDay(w.start);
      break;
    case Repeat::kWeekly:
      n = (absl::CivilDay(local) - absl::CivilDay(w.start)) / 7;
      break;
    case Repeat::kMonthly:
      n = absl::CivilMonth(local) - absl::CivilMonth(w.start);
      break;
  }
  return std::max<int64_t>(n, 0);
}

// The smallest index that could end after `t`: every earlier occurrence ends
// at or before `t`. Starts are non-decreasing in the index (each is a later
// local time, and .pre keeps the order), so walking back until one ends at or
// before `t` finds it.
int64_t FirstIndexEndingAfter(const MaintenanceWindow& w, absl::Time t) {
  int64_t n = EstimateIndex(w, t - w.duration);
  while (n > 0) {
    const std::optional<absl::Time> start = OccurrenceStart(w, n);
    if (start && *start + w.duration <= t) break;
    --n;
  }
  return n;
}

// Calls `visit` with each occurrence that ends after `from`, in order, until one
// starts at or after `to`, `visit` returns false, or kMaxOccurrences were visited.
template <typename Visit>
void VisitOccurrences(const MaintenanceWindow& w, absl::Time from, absl::Time to, Visit visit) {
  if (w.duration <= absl::ZeroDuration() || !(from < to)) return;
  if (from == absl::InfiniteFuture() || to == absl::InfinitePast()) return;
  const int64_t last = w.repeat == Repeat::kNone ? 0 : INT64_MAX;
  int visited = 0;
  std::optional<absl::Time> previous;
  for (int64_t n = FirstIndexEndingAfter(w, from); n <= last && visited < kMaxOccurrences; ++n) {
    const std::optional<absl::Time> start = OccurrenceStart(w, n);
    if (!start) continue;
    if (*start >= to) break;
    // A zone that skipped a whole day (Pacific/Apia, 2011-12-30) maps two local
    // days to one instant; report it once.
    if (previous && *start == *previous) continue;
    previous = start;
    const TimeInterval occurrence{*start, *start + w.duration};
    if (occurrence.end <= from) continue;
    ++visited;
    if (!visit(occurrence)) break;
  }
}

bool ParseDigits(absl::string_view text, size_t pos, size_t count, int* out) {
  if (pos + count > text.size()) return false;
  int value = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (!absl::ascii_isdigit(text[i])) return false;
    value = value * 10 + (text[i] - '0');
  }
  *out = value;
  return true;
}

}  // namespace

std::vector<TimeInterval> Occurrences(const MaintenanceWindow& window, absl::Time from,
                                      absl::Time to) {
  std::vector<TimeInterval> out;
  VisitOccurrences(window, from, to, [&](const TimeInterval& occurrence) {
    out.push_back(occurrence);
    return true;
  });
  return out;
}

std::optional<TimeInterval> ActiveOccurrence(const MaintenanceWindow& window, absl::Time at) {
  std::optional<TimeInterval> found;
  // [at, at] as a half-open range would be empty: visit every occurrence that
  // ends after `at` and starts no later than it.
  VisitOccurrences(window, at, absl::InfiniteFuture(), [&](const TimeInterval& occurrence) {
    if (occurrence.start > at) return false;
    found = occurrence;
    return false;
  });
  return found;
}

bool AppliesTo(const MaintenanceWindow& window, absl::string_view service) {
  if (window.services.empty()) return true;
  return std::find(window.services.begin(), window.services.end(), service) !=
         window.services.end();
}

absl::StatusOr<absl::CivilSecond> ParseLocalTime(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid local time \"", text, "\": ", why,
                     " (expected \"YYYY-MM-DDTHH:MM[:SS]\" or \"YYYY-MM-DD HH:MM[:SS]\", "
                     "such as \"2026-11-29T02:00:00\")"));
  };
  // YYYY-MM-DDTHH:MM[:SS]
  // 0123456789012345678
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  const bool shape_ok = ParseDigits(text, 0, 4, &year) && text.size() > 4 && text[4] == '-' &&
                        ParseDigits(text, 5, 2, &month) && text.size() > 7 && text[7] == '-' &&
                        ParseDigits(text, 8, 2, &day) && text.size() > 10 &&
                        (text[10] == 'T' || text[10] == ' ') && ParseDigits(text, 11, 2, &hour) &&
                        text.size() > 13 && text[13] == ':' && ParseDigits(text, 14, 2, &minute);
  if (!shape_ok) return bad("not a date and time");
  size_t end = 16;
  if (text.size() > end && text[end] == ':') {
    if (!ParseDigits(text, 17, 2, &second)) return bad("not a date and time");
    end = 19;
  }
  if (end < text.size()) {
    const absl::string_view rest = text.substr(end);
    if (rest == "Z" || rest.front() == '+' || rest.front() == '-') {
      return bad("a UTC offset is not allowed: the time is a wall time in the window's time_zone");
    }
    if (rest.front() == '.') return bad("fractions of a second are not supported");
    return bad(absl::StrCat("unexpected \"", rest, "\" after the time"));
  }
  if (month < 1 || month > 12) return bad(absl::StrCat("month ", month, " does not exist"));
  if (hour > 23 || minute > 59 || second > 59) {
    return bad(absl::StrFormat("%02d:%02d:%02d is not a time of day", hour, minute, second));
  }
  // CivilSecond normalizes November 31 to December 1; a round trip tells.
  const absl::CivilSecond parsed(year, month, day, hour, minute, second);
  if (parsed.day() != day || parsed.month() != month) {
    return bad(absl::StrFormat("%04d-%02d has no day %d", year, month, day));
  }
  return parsed;
}

absl::string_view RepeatName(MaintenanceWindow::Repeat repeat) {
  switch (repeat) {
    case Repeat::kNone:
      return "none";
    case Repeat::kDaily:
      return "daily";
    case Repeat::kWeekly:
      return "weekly";
    case Repeat::kMonthly:
      return "monthly";
  }
  return "none";
}

absl::StatusOr<MaintenanceWindow::Repeat> ParseRepeat(absl::string_view text) {
  for (Repeat repeat : {Repeat::kNone, Repeat::kDaily, Repeat::kWeekly, Repeat::kMonthly}) {
    if (text == RepeatName(repeat)) return repeat;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid repeat \"", text, "\": expected \"none\", \"daily\", \"weekly\" or \"monthly\""));
}

absl::StatusOr<absl::TimeZone> LoadZone(absl::string_view name) {
  absl::TimeZone zone;
  if (name.empty() || name == "localtime" || !absl::LoadTimeZone(name, &zone)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown time zone \"", name,
                     "\": expected an IANA name such as \"UTC\" or \"Europe/Berlin\""));
  }
  return zone;
}

}  // namespace klaxon
