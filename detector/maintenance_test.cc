#include "detector/maintenance.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Repeat = MaintenanceWindow::Repeat;

absl::Time Utc(int y, int mo, int d, int h, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

absl::TimeZone Zone(const std::string& name) {
  absl::StatusOr<absl::TimeZone> zone = LoadZone(name);
  EXPECT_TRUE(zone.ok()) << zone.status();
  return zone.value_or(absl::UTCTimeZone());
}

MaintenanceWindow Window(absl::CivilSecond start, absl::Duration duration, Repeat repeat,
                         const std::string& zone = "UTC") {
  MaintenanceWindow w;
  w.name = "patching";
  w.start = start;
  w.duration = duration;
  w.repeat = repeat;
  w.time_zone_name = zone;
  w.time_zone = Zone(zone);
  return w;
}

std::vector<absl::Time> Starts(const std::vector<TimeInterval>& occurrences) {
  std::vector<absl::Time> out;
  for (const TimeInterval& o : occurrences) out.push_back(o.start);
  return out;
}

std::vector<absl::CivilSecond> LocalStarts(const std::vector<TimeInterval>& occurrences,
                                           absl::TimeZone zone) {
  std::vector<absl::CivilSecond> out;
  for (const TimeInterval& o : occurrences) out.push_back(absl::ToCivilSecond(o.start, zone));
  return out;
}

TEST(MaintenanceTest, OneOffWindowInItsTimeZone) {
  // 2026-11-29 02:00 in Berlin is CET (+01:00), so 01:00Z; two hours to 03:00Z.
  const MaintenanceWindow w = Window(absl::CivilSecond(2026, 11, 29, 2, 0, 0), absl::Hours(2),
                                     Repeat::kNone, "Europe/Berlin");
  EXPECT_THAT(Occurrences(w, Utc(2026, 11, 1, 0), Utc(2026, 12, 1, 0)),
              ElementsAre(TimeInterval{Utc(2026, 11, 29, 1), Utc(2026, 11, 29, 3)}));
  // Half-open at both ends: a range ending at its start, or starting at its end, misses it.
  EXPECT_TRUE(Occurrences(w, Utc(2026, 11, 1, 0), Utc(2026, 11, 29, 1)).empty());
  EXPECT_TRUE(Occurrences(w, Utc(2026, 11, 29, 3), Utc(2026, 12, 1, 0)).empty());
  // A range inside it returns it whole, not clipped.
  EXPECT_THAT(Occurrences(w, Utc(2026, 11, 29, 2), Utc(2026, 11, 29, 2, 1)),
              ElementsAre(TimeInterval{Utc(2026, 11, 29, 1), Utc(2026, 11, 29, 3)}));
}

TEST(MaintenanceTest, ActiveOccurrenceIncludesTheStartAndNotTheEnd) {
  const MaintenanceWindow w = Window(absl::CivilSecond(2026, 11, 29, 2, 0, 0), absl::Hours(2),
                                     Repeat::kNone, "Europe/Berlin");
  EXPECT_FALSE(ActiveOccurrence(w, Utc(2026, 11, 29, 0, 59, 59)).has_value());
  ASSERT_TRUE(ActiveOccurrence(w, Utc(2026, 11, 29, 1)).has_value());
  EXPECT_EQ(ActiveOccurrence(w, Utc(2026, 11, 29, 1))->end, Utc(2026, 11, 29, 3));
  EXPECT_TRUE(ActiveOccurrence(w, Utc(2026, 11, 29, 2, 59, 59)).has_value());
  EXPECT_FALSE(ActiveOccurrence(w, Utc(2026, 11, 29, 3)).has_value());
  EXPECT_FALSE(ActiveOccurrence(w, absl::InfiniteFuture()).has_value());
  EXPECT_FALSE(ActiveOccurrence(w, absl::InfinitePast()).has_value());
}

TEST(MaintenanceTest, DailyWindowRepeatsAndNeverPrecedesItsFirstOccurrence) {
  // Daily 22:00-23:00 UTC from 2026-11-01.
  const MaintenanceWindow w =
      Window(absl::CivilSecond(2026, 11, 1, 22, 0, 0), absl::Hours(1), Repeat::kDaily);
  EXPECT_THAT(Starts(Occurrences(w, Utc(2026, 11, 3, 0), Utc(2026, 11, 5, 0))),
              ElementsAre(Utc(2026, 11, 3, 22), Utc(2026, 11, 4, 22)));
  // From 22:30 on the 3rd: the 3rd's occurrence still overlaps and is listed whole.
  EXPECT_THAT(Occurrences(w, Utc(2026, 11, 3, 22, 30), Utc(2026, 11, 4, 22)),
              ElementsAre(TimeInterval{Utc(2026, 11, 3, 22), Utc(2026, 11, 3, 23)}));
  EXPECT_TRUE(Occurrences(w, Utc(2026, 10, 1, 0), Utc(2026, 11, 1, 22)).empty());
  EXPECT_FALSE(ActiveOccurrence(w, Utc(2026, 10, 31, 22, 30)).has_value());
  EXPECT_TRUE(ActiveOccurrence(w, Utc(2026, 11, 1, 22, 30)).has_value());
  EXPECT_TRUE(ActiveOccurrence(w, Utc(2027, 6, 15, 22, 59, 59)).has_value());
  EXPECT_FALSE(ActiveOccurrence(w, Utc(2027, 6, 15, 23)).has_value());
}

TEST(MaintenanceTest, WeeklyWindowKeepsItsLocalTimeAcrossDaylightSaving) {
  // Saturdays 03:00 Berlin. CEST (+02:00) until 2026-10-25 01:00Z, then CET (+01:00):
  // 03:00 local is 01:00Z on Oct 17 and 24, and 02:00Z from Oct 31 on.
  const absl::TimeZone berlin = Zone("Europe/Berlin");
  const MaintenanceWindow w = Window(absl::CivilSecond(2026, 10, 17, 3, 0, 0), absl::Hours(1),
                                     Repeat::kWeekly, "Europe/Berlin");
  const std::vector<TimeInterval> got = Occurrences(w, Utc(2026, 10, 1, 0), Utc(2026, 11, 15, 0));
  EXPECT_THAT(Starts(got),
              ElementsAre(Utc(2026, 10, 17, 1), Utc(2026, 10, 24, 1), Utc(2026, 10, 31, 2),
                          Utc(2026, 11, 7, 2), Utc(2026, 11, 14, 2)));
  for (const absl::CivilSecond& local : LocalStarts(got, berlin)) {
    EXPECT_EQ(local.hour(), 3) << local;
    EXPECT_EQ(absl::GetWeekday(local), absl::Weekday::saturday) << local;
  }
  // Each occurrence lasts one absolute hour.
  for (const TimeInterval& o : got) EXPECT_EQ(o.end - o.start, absl::Hours(1));
}

TEST(MaintenanceTest, WeeklyWindowInNewYorkMovesWithSpringForward) {
  // Mondays 09:00 New York. DST starts 2026-03-08: 09:00 EST is 14:00Z on Mar 2,
  // 09:00 EDT is 13:00Z on Mar 9.
  const MaintenanceWindow w = Window(absl::CivilSecond(2026, 3, 2, 9, 0, 0), absl::Minutes(30),
                                     Repeat::kWeekly, "America/New_York");
  EXPECT_THAT(Starts(Occurrences(w, Utc(2026, 3, 1, 0), Utc(2026, 3, 10, 0))),
              ElementsAre(Utc(2026, 3, 2, 14), Utc(2026, 3, 9, 13)));
}

TEST(MaintenanceTest, WallTimeInTheSpringForwardGapUsesTheOffsetBeforeIt) {
  // Daily 02:30 Berlin. On 2026-03-29 clocks jump from 02:00 CET to 03:00 CEST, so
  // 02:30 does not exist; .pre reads it as 02:30+01:00 = 01:30Z (03:30 CEST).
  // Mar 28: 02:30 CET = 01:30Z. Mar 30: 02:30 CEST = 00:30Z.
  const absl::TimeZone berlin = Zone("Europe/Berlin");
  const MaintenanceWindow w = Window(absl::CivilSecond(2026, 3, 27, 2, 30, 0), absl::Hours(1),
                                     Repeat::kDaily, "Europe/Berlin");
  const std::vector<TimeInterval> got = Occurrences(w, Utc(2026, 3, 28, 0), Utc(2026, 3, 31, 0));
  EXPECT_THAT(Starts(got), ElementsAre(Utc(2026, 3, 28, 1, 30), Utc(2026, 3, 29, 1, 30),
                                       Utc(2026, 3, 30, 0, 30)));
  EXPECT_THAT(LocalStarts(got, berlin), ElementsAre(absl::CivilSecond(2026, 3, 28, 2, 30, 0),
                                                    absl::CivilSecond(2026, 3, 29, 3, 30, 0),
                                                    absl::CivilSecond(2026, 3, 30, 2, 30, 0)));
  // A one-off window in the gap does the same.
  const MaintenanceWindow once = Window(absl::CivilSecond(2026, 3, 29, 2, 30, 0), absl::Hours(1),
                                        Repeat::kNone, "Europe/Berlin");
  EXPECT_FALSE(ActiveOccurrence(once, Utc(2026, 3, 29, 1, 29, 59)).has_value());
  EXPECT_TRUE(ActiveOccurrence(once, Utc(2026, 3, 29, 1, 30)).has_value());
  EXPECT_FALSE(ActiveOccurrence(once, Utc(2026, 3, 29, 2, 30)).has_value());
}

TEST(MaintenanceTest, AmbiguousWallTimeAtFallBackIsTheFirstOne) {
  // Daily 02:30 Berlin. On 2026-10-25 clocks go from 03:00 CEST back to 02:00 CET,
  // so 02:30 happens twice; .pre is the first, 02:30+02:00 = 00:30Z.
  // Oct 24: 02:30 CEST = 00:30Z. Oct 26: 02:30 CET = 01:30Z.
  const MaintenanceWindow w = Window(absl::CivilSecond(2026, 10, 20, 2, 30, 0), absl::Hours(1),
                                     Repeat::kDaily, "Europe/Berlin");
  EXPECT_THAT(
      Starts(Occurrences(w, Utc(2026, 10, 24, 0), Utc(2026, 10, 27, 0))),
      ElementsAre(Utc(2026, 10, 24, 0, 30), Utc(2026, 10, 25, 0, 30), Utc(2026, 10, 26, 1, 30)));
  // The second 02:30 (01:30Z) is an hour after the first: that occurrence
  // [00:30Z, 01:30Z) is over by then.
  EXPECT_FALSE(ActiveOccurrence(w, Utc(2026, 10, 25, 1, 30)).has_value());
  EXPECT_TRUE(ActiveOccurrence(w, Utc(2026, 10, 25, 1, 29, 59)).has_value());
}

TEST(MaintenanceTest, MonthlyOnThe31stSkipsShorterMonths) {
  // 22:00-24:00 UTC on the 31st: January, March, May, July, August, October,
  // December 2026 have one; February, April, June, September, November do not.
  const MaintenanceWindow w =
      Window(absl::CivilSecond(2026, 1, 31, 22, 0, 0), absl::Hours(2), Repeat::kMonthly);
  EXPECT_THAT(Starts(Occurrences(w, Utc(2026, 1, 1, 0), Utc(2027, 1, 1, 0))),
              ElementsAre(Utc(2026, 1, 31, 22), Utc(2026, 3, 31, 22), Utc(2026, 5, 31, 22),
                          Utc(2026, 7, 31, 22), Utc(2026, 8, 31, 22), Utc(2026, 10, 31, 22),
                          Utc(2026, 12, 31, 22)));
  // Not moved to the last day of February, nor into March.
  EXPECT_TRUE(Occurrences(w, Utc(2026, 2, 1, 0), Utc(2026, 3, 31, 0)).empty());
  EXPECT_FALSE(ActiveOccurrence(w, Utc(2026, 2, 28, 22, 30)).has_value());
  EXPECT_FALSE(ActiveOccurrence(w, Utc(2026, 3, 3, 22, 30)).has_value());
  EXPECT_TRUE(ActiveOccurrence(w, Utc(2026, 12, 31, 23, 59)).has_value());
}

TEST(MaintenanceTest, MonthlyOnThe29thMeetsFebruaryOnlyInLeapYears) {
  const MaintenanceWindow w =
      Window(absl::CivilSecond(2026, 12, 29, 1, 0, 0), absl::Hours(1), Repeat::kMonthly);
  EXPECT_THAT(Starts(Occurrences(w, Utc(2027, 2, 1, 0), Utc(2027, 4, 1, 0))),
              ElementsAre(Utc(2027, 3, 29, 1)));
  EXPECT_THAT(Starts(Occurrences(w, Utc(2028, 2, 1, 0), Utc(2028, 4, 1, 0))),
              ElementsAre(Utc(2028, 2, 29, 1), Utc(2028, 3, 29, 1)));
}

TEST(MaintenanceTest, OccurrencesLongerThanTheRepeatOverlap) {
  // Daily from 2026-11-01 00:00 UTC, 36 hours each: at Nov 2 06:00 both the 1st's
  // [Nov 1 00:00, Nov 2 12:00) and the 2nd's [Nov 2 00:00, Nov 3 12:00) are open.
  const MaintenanceWindow w =
      Window(absl::CivilSecond(2026, 11, 1, 0, 0, 0), absl::Hours(36), Repeat::kDaily);
  EXPECT_THAT(Starts(Occurrences(w, Utc(2026, 11, 2, 6), Utc(2026, 11, 2, 7))),
              ElementsAre(Utc(2026, 11, 1, 0), Utc(2026, 11, 2, 0)));
  ASSERT_TRUE(ActiveOccurrence(w, Utc(2026, 11, 2, 6)).has_value());
  EXPECT_EQ(ActiveOccurrence(w, Utc(2026, 11, 2, 6))->start, Utc(2026, 11, 1, 0));
}

TEST(MaintenanceTest, WindowWithoutLengthNeverOpens) {
  const MaintenanceWindow w =
      Window(absl::CivilSecond(2026, 11, 1, 0, 0, 0), absl::ZeroDuration(), Repeat::kDaily);
  EXPECT_TRUE(Occurrences(w, Utc(2026, 11, 1, 0), Utc(2026, 12, 1, 0)).empty());
  EXPECT_FALSE(ActiveOccurrence(w, Utc(2026, 11, 1, 0)).has_value());
}

TEST(MaintenanceTest, AnUnboundedRangeReturnsTheFirstOccurrencesUpToTheCap) {
  const MaintenanceWindow w =
      Window(absl::CivilSecond(2026, 11, 1, 22, 0, 0), absl::Hours(1), Repeat::kDaily);
  const std::vector<TimeInterval> got =
      Occurrences(w, absl::InfinitePast(), absl::InfiniteFuture());
  ASSERT_EQ(got.size(), static_cast<size_t>(kMaxOccurrences));
  EXPECT_EQ(got.front().start, Utc(2026, 11, 1, 22));
  EXPECT_EQ(got.back().start, Utc(2026, 11, 1, 22) + absl::Hours(24) * (kMaxOccurrences - 1));
  EXPECT_TRUE(Occurrences(w, Utc(2026, 11, 5, 0), Utc(2026, 11, 4, 0)).empty());
}

// The index estimate and walk-back must find exactly what counting every
// occurrence from the first one finds, for any range.
TEST(MaintenanceTest, MatchesCountingFromTheFirstOccurrence) {
  std::mt19937_64 random(20261129);
  const absl::Time first_from = Utc(2026, 1, 1, 0);
  for (Repeat repeat : {Repeat::kNone, Repeat::kDaily, Repeat::kWeekly, Repeat::kMonthly}) {
    for (absl::Duration duration : {absl::Minutes(90), absl::Hours(30), absl::Hours(24 * 9)}) {
      const MaintenanceWindow w =
          Window(absl::CivilSecond(2026, 1, 31, 2, 30, 0), duration, repeat, "Europe/Berlin");
      // Every occurrence in two years, by brute force over local days.
      std::vector<TimeInterval> all;
      for (absl::CivilDay day(2026, 1, 31); day < absl::CivilDay(2028, 3, 1); ++day) {
        const int64_t days = day - absl::CivilDay(2026, 1, 31);
        const bool due = repeat == Repeat::kNone     ? days == 0
                         : repeat == Repeat::kDaily  ? true
                         : repeat == Repeat::kWeekly ? days % 7 == 0
                                                     : day.day() == 31;
        if (!due) continue;
        const absl::Time start =
            w.time_zone.At(absl::CivilSecond(day.year(), day.month(), day.day(), 2, 30, 0)).pre;
        all.push_back({start, start + duration});
      }
      for (int trial = 0; trial < 200; ++trial) {
        const absl::Time from = first_from + absl::Minutes(random() % (60 * 24 * 700));
        const absl::Time to = from + absl::Minutes(random() % (60 * 24 * 40));
        std::vector<TimeInterval> want;
        for (const TimeInterval& o : all) {
          if (o.start < to && o.end > from) want.push_back(o);
        }
        ASSERT_EQ(Occurrences(w, from, to), want)
            << RepeatName(repeat) << " " << duration << " from " << from << " to " << to;
        std::optional<TimeInterval> active;
        for (const TimeInterval& o : all) {
          if (o.start <= from && from < o.end) {
            active = o;
            break;
          }
        }
        ASSERT_EQ(ActiveOccurrence(w, from), active)
            << RepeatName(repeat) << " " << duration << " at " << from;
      }
    }
  }
}

TEST(MaintenanceTest, AppliesToListedServicesOrAllWhenNoneListed) {
  MaintenanceWindow w;
  EXPECT_TRUE(AppliesTo(w, "checkout"));
  w.services = {"checkout", "search"};
  EXPECT_TRUE(AppliesTo(w, "checkout"));
  EXPECT_TRUE(AppliesTo(w, "search"));
  EXPECT_FALSE(AppliesTo(w, "check"));
  EXPECT_FALSE(AppliesTo(w, ""));
}

TEST(ParseLocalTimeTest, AcceptsBothSeparatorsWithAndWithoutSeconds) {
  EXPECT_EQ(*ParseLocalTime("2026-11-29T02:00:00"), absl::CivilSecond(2026, 11, 29, 2, 0, 0));
  EXPECT_EQ(*ParseLocalTime("2026-11-29 02:00"), absl::CivilSecond(2026, 11, 29, 2, 0, 0));
  EXPECT_EQ(*ParseLocalTime("2026-11-29T23:59"), absl::CivilSecond(2026, 11, 29, 23, 59, 0));
  EXPECT_EQ(*ParseLocalTime("2028-02-29 00:00:59"), absl::CivilSecond(2028, 2, 29, 0, 0, 59));
}

TEST(ParseLocalTimeTest, SaysWhatIsWrong) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"", "not a date and time"},
           {"2026-11-29", "not a date and time"},
           {"26-11-29 02:00", "not a date and time"},
           {"2026-11-29  02:00", "not a date and time"},
           {"2026/11/29 02:00", "not a date and time"},
           {"2026-11-29 2:00", "not a date and time"},
           {"2026-11-29T02:00:00Z", "UTC offset is not allowed"},
           {"2026-11-29T02:00:00+01:00", "UTC offset is not allowed"},
           {"2026-11-29T02:00-05:00", "UTC offset is not allowed"},
           {"2026-11-29T02:00:00.5", "fractions of a second"},
           {"2026-11-29 02:00 CET", "unexpected \" CET\""},
           {"2026-13-01 00:00", "month 13 does not exist"},
           {"2026-00-01 00:00", "month 0 does not exist"},
           {"2026-02-29 00:00", "2026-02 has no day 29"},
           {"2026-11-31 00:00", "2026-11 has no day 31"},
           {"2026-11-00 00:00", "2026-11 has no day 0"},
           {"2026-11-29 24:00", "24:00:00 is not a time of day"},
           {"2026-11-29 02:60", "02:60:00 is not a time of day"},
           {"2026-11-29 02:00:60", "02:00:60 is not a time of day"},
       }) {
    absl::StatusOr<absl::CivilSecond> parsed = ParseLocalTime(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.says)) << c.text;
    EXPECT_THAT(std::string(parsed.status().message()),
                HasSubstr(absl::StrCat("\"", c.text, "\"")));
  }
}

TEST(ParseRepeatTest, NamesRoundTripAndUnknownIsAnError) {
  for (Repeat r : {Repeat::kNone, Repeat::kDaily, Repeat::kWeekly, Repeat::kMonthly}) {
    EXPECT_EQ(*ParseRepeat(RepeatName(r)), r);
  }
  EXPECT_EQ(RepeatName(Repeat::kWeekly), "weekly");
  absl::StatusOr<Repeat> bad = ParseRepeat("yearly");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("\"yearly\""));
}

TEST(LoadZoneTest, LoadsIanaNamesAndRefusesOthers) {
  ASSERT_TRUE(LoadZone("Europe/Berlin").ok());
  EXPECT_EQ(LoadZone("Europe/Berlin")->name(), "Europe/Berlin");
  for (const char* name : {"", "localtime", "Europe/Atlantis", "CEST+2"}) {
    absl::StatusOr<absl::TimeZone> zone = LoadZone(name);
    ASSERT_FALSE(zone.ok()) << name;
    EXPECT_THAT(std::string(zone.status().message()), HasSubstr("unknown time zone")) << name;
  }
}

}  // namespace
}  // namespace klaxon
