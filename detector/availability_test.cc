#include "detector/availability.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "detector/maintenance.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;

constexpr double kTolerance = 1e-12;

absl::Time Utc(int y, int mo, int d, int h, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

// November 2026, objective 99.9%, the month over.
AvailabilityInput Input(const std::string& zone = "UTC",
                        absl::CivilMonth month = absl::CivilMonth(2026, 11)) {
  AvailabilityInput in;
  in.service = "checkout";
  in.month = month;
  in.time_zone_name = zone;
  absl::StatusOr<absl::TimeZone> tz = LoadZone(zone);
  EXPECT_TRUE(tz.ok()) << tz.status();
  in.time_zone = tz.value_or(absl::UTCTimeZone());
  in.objective = 0.999;
  in.now = Utc(2027, 1, 15, 0);
  return in;
}

DowntimeSource Incident(const std::string& id, absl::Time start, std::optional<absl::Time> end) {
  return {id, start, end};
}

TEST(AvailabilityTest, NoIncidents) {
  // November: 30 days * 24h = 720h = 2592000s. Allowed 0.1% of it = 2592s = 43m12s.
  const AvailabilityReport r = ComputeAvailability(Input());
  EXPECT_EQ(r.service, "checkout");
  EXPECT_EQ(r.period_start, Utc(2026, 11, 1, 0));
  EXPECT_EQ(r.period_end, Utc(2026, 12, 1, 0));
  EXPECT_EQ(r.period, absl::Hours(720));
  EXPECT_EQ(r.downtime, absl::ZeroDuration());
  EXPECT_EQ(r.maintenance, absl::ZeroDuration());
  EXPECT_EQ(r.availability, 1.0);
  EXPECT_EQ(r.allowed_downtime, absl::Seconds(2592));
  EXPECT_EQ(r.error_budget_remaining, 1.0);
  EXPECT_TRUE(r.incidents.empty());
  EXPECT_TRUE(r.complete);
}

TEST(AvailabilityTest, OneIncident) {
  // 10:00-10:20 is 1200s. Availability 1 - 1200/2592000 = 0.99953703...;
  // budget 1 - 1200/2592 = 0.53703703...
  AvailabilityInput in = Input();
  in.incidents = {Incident("INC-000001", Utc(2026, 11, 10, 10), Utc(2026, 11, 10, 10, 20))};
  const AvailabilityReport r = ComputeAvailability(in);
  EXPECT_EQ(r.downtime, absl::Minutes(20));
  EXPECT_NEAR(r.availability, 1 - 1200.0 / 2592000, kTolerance);
  EXPECT_EQ(FormatPercent(r.availability), "99.953%");
  EXPECT_NEAR(r.error_budget_remaining, 1 - 1200.0 / 2592, kTolerance);
  EXPECT_EQ(FormatPercent(r.error_budget_remaining), "53.703%");
  ASSERT_EQ(r.incidents.size(), 1u);
  EXPECT_EQ(r.incidents[0].incident_id, "INC-000001");
  EXPECT_EQ(r.incidents[0].start, Utc(2026, 11, 10, 10));
  EXPECT_EQ(r.incidents[0].end, Utc(2026, 11, 10, 10, 20));
  EXPECT_EQ(r.incidents[0].counted, absl::Minutes(20));
  EXPECT_FALSE(r.incidents[0].ongoing);
}

TEST(AvailabilityTest, OverlappingIncidentsCountTheirUnionOnce) {
  // A 10:00-10:20 and B 10:10-10:40 overlap 10:10-10:20: union 10:00-10:40 = 40m
  // (not 20m + 30m = 50m). Each still shows its own share: 20m and 30m.
  // Availability 1 - 2400/2592000.
  AvailabilityInput in = Input();
  in.incidents = {Incident("INC-000002", Utc(2026, 11, 10, 10, 10), Utc(2026, 11, 10, 10, 40)),
                  Incident("INC-000001", Utc(2026, 11, 10, 10), Utc(2026, 11, 10, 10, 20))};
  const AvailabilityReport r = ComputeAvailability(in);
  EXPECT_EQ(r.downtime, absl::Minutes(40));
  EXPECT_NEAR(r.availability, 1 - 2400.0 / 2592000, kTolerance);
  ASSERT_EQ(r.incidents.size(), 2u);
  EXPECT_EQ(r.incidents[0].incident_id, "INC-000001");  // by start
  EXPECT_EQ(r.incidents[0].counted, absl::Minutes(20));
  EXPECT_EQ(r.incidents[1].incident_id, "INC-000002");
  EXPECT_EQ(r.incidents[1].counted, absl::Minutes(30));
}

TEST(AvailabilityTest, IncidentAcrossAMonthBoundaryCountsItsPartInEachMonth) {
  // 2026-10-31 23:00Z to 2026-11-01 01:00Z: 1h in October (744h = 2678400s),
  // 1h in November (720h = 2592000s).
  const DowntimeSource incident =
      Incident("INC-000003", Utc(2026, 10, 31, 23), Utc(2026, 11, 1, 1));
  AvailabilityInput october = Input("UTC", absl::CivilMonth(2026, 10));
  october.incidents = {incident};
  const AvailabilityReport oct = ComputeAvailability(october);
  EXPECT_EQ(oct.period, absl::Hours(744));
  EXPECT_EQ(oct.downtime, absl::Hours(1));
  EXPECT_NEAR(oct.availability, 1 - 3600.0 / 2678400, kTolerance);
  ASSERT_EQ(oct.incidents.size(), 1u);
  EXPECT_EQ(oct.incidents[0].start, Utc(2026, 10, 31, 23));
  EXPECT_EQ(oct.incidents[0].end, Utc(2026, 11, 1, 0));  // clipped to the period

  AvailabilityInput november = Input();
  november.incidents = {incident};
  const AvailabilityReport nov = ComputeAvailability(november);
  EXPECT_EQ(nov.downtime, absl::Hours(1));
  EXPECT_NEAR(nov.availability, 1 - 3600.0 / 2592000, kTolerance);
  ASSERT_EQ(nov.incidents.size(), 1u);
  EXPECT_EQ(nov.incidents[0].start, Utc(2026, 11, 1, 0));
  EXPECT_EQ(nov.incidents[0].end, Utc(2026, 11, 1, 1));
}

TEST(AvailabilityTest, OpenIncidentCountsUpToNowAgainstTheWholeMonth) {
  // Open since 10:00, now 12:00: 2h = 7200s so far. The denominator is still all
  // of November (2592000s): 1 - 7200/2592000 = 0.99722...; allowed stays 2592s;
  // budget 1 - 7200/2592 = -1.777...
  AvailabilityInput in = Input();
  in.now = Utc(2026, 11, 10, 12);
  in.incidents = {Incident("INC-000004", Utc(2026, 11, 10, 10), std::nullopt),
                  // Resolved "after now" (a clock skew): counts up to now only, 11:00-12:00,
                  // inside the first one's time.
                  Incident("INC-000005", Utc(2026, 11, 10, 11), Utc(2026, 11, 10, 13)),
                  // Starts after now: nothing of it counts yet.
                  Incident("INC-000006", Utc(2026, 11, 10, 12, 30), std::nullopt)};
  const AvailabilityReport r = ComputeAvailability(in);
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.as_of, Utc(2026, 11, 10, 12));
  EXPECT_EQ(r.period, absl::Hours(720));
  EXPECT_EQ(r.downtime, absl::Hours(2));
  EXPECT_NEAR(r.availability, 1 - 7200.0 / 2592000, kTolerance);
  EXPECT_EQ(FormatPercent(r.availability), "99.722%");
  EXPECT_EQ(r.allowed_downtime, absl::Seconds(2592));
  EXPECT_NEAR(r.error_budget_remaining, 1 - 7200.0 / 2592, kTolerance);
  EXPECT_EQ(FormatPercent(r.error_budget_remaining), "-177.778%");
  ASSERT_EQ(r.incidents.size(), 2u);
  EXPECT_EQ(r.incidents[0].incident_id, "INC-000004");
  EXPECT_EQ(r.incidents[0].end, Utc(2026, 11, 10, 12));
  EXPECT_EQ(r.incidents[0].counted, absl::Hours(2));
  EXPECT_TRUE(r.incidents[0].ongoing);
  EXPECT_EQ(r.incidents[1].incident_id, "INC-000005");
  EXPECT_EQ(r.incidents[1].counted, absl::Hours(1));
  EXPECT_TRUE(r.incidents[1].ongoing);
}

TEST(AvailabilityTest, MaintenanceInsideAnIncidentDoesNotCount) {
  // Incident 10:00-12:00 (7200s), maintenance 10:30-11:00 (1800s) inside it:
  // downtime 7200 - 1800 = 5400s. Counted time 2592000 - 1800 = 2590200s.
  // Availability 1 - 5400/2590200; allowed 0.001 * 2590200 = 2590.2s = 43m10.2s.
  AvailabilityInput in = Input();
  in.incidents = {Incident("INC-000007", Utc(2026, 11, 10, 10), Utc(2026, 11, 10, 12))};
  in.maintenance = {{Utc(2026, 11, 10, 10, 30), Utc(2026, 11, 10, 11)}};
  const AvailabilityReport r = ComputeAvailability(in);
  EXPECT_EQ(r.downtime, absl::Seconds(5400));
  EXPECT_EQ(r.maintenance, absl::Minutes(30));
  EXPECT_NEAR(r.availability, 1 - 5400.0 / 2590200, kTolerance);
  EXPECT_EQ(r.allowed_downtime, absl::Milliseconds(2590200));
  EXPECT_NEAR(r.error_budget_remaining, 1 - 5400.0 / 2590.2, 1e-9);
  ASSERT_EQ(r.incidents.size(), 1u);
  EXPECT_EQ(r.incidents[0].counted, absl::Seconds(5400));
}

TEST(AvailabilityTest, MaintenancePartlyOverlappingAndAcrossTheMonthEnd) {
  // Incident 10:00-11:00; maintenance 10:45-11:30 covers its last 15m: downtime 45m.
  // Maintenance in November: 45m, plus 10:50-11:10 (overlaps the first: union
  // stays 10:45-11:30), plus Nov 30 23:00 - Dec 1 01:00 of which 1h is inside:
  // 45m + 1h = 1h45m = 6300s. Counted 2592000 - 6300 = 2585700s.
  // Availability 1 - 2700/2585700.
  AvailabilityInput in = Input();
  in.incidents = {Incident("INC-000008", Utc(2026, 11, 10, 10), Utc(2026, 11, 10, 11))};
  in.maintenance = {{Utc(2026, 11, 10, 10, 45), Utc(2026, 11, 10, 11, 30)},
                    {Utc(2026, 11, 30, 23), Utc(2026, 12, 1, 1)},
                    {Utc(2026, 11, 10, 10, 50), Utc(2026, 11, 10, 11, 10)}};
  const AvailabilityReport r = ComputeAvailability(in);
  EXPECT_EQ(r.downtime, absl::Minutes(45));
  EXPECT_EQ(r.maintenance, absl::Minutes(105));
  EXPECT_NEAR(r.availability, 1 - 2700.0 / 2585700, kTolerance);
}

TEST(AvailabilityTest, IncidentEntirelyInMaintenanceIsListedWithNothingCounted) {
  AvailabilityInput in = Input();
  in.incidents = {Incident("INC-000009", Utc(2026, 11, 10, 10, 10), Utc(2026, 11, 10, 10, 20))};
  in.maintenance = {{Utc(2026, 11, 10, 10), Utc(2026, 11, 10, 11)}};
  const AvailabilityReport r = ComputeAvailability(in);
  EXPECT_EQ(r.downtime, absl::ZeroDuration());
  EXPECT_EQ(r.availability, 1.0);
  ASSERT_EQ(r.incidents.size(), 1u);
  EXPECT_EQ(r.incidents[0].counted, absl::ZeroDuration());
}

TEST(AvailabilityTest, WholeMonthOfMaintenanceLeavesNothingToCount) {
  // Counted time 0: availability 1, nothing allowed, budget untouched.
  AvailabilityInput in = Input();
  in.incidents = {Incident("INC-000010", Utc(2026, 11, 10, 10), Utc(2026, 11, 10, 11))};
  in.maintenance = {{Utc(2026, 10, 1, 0), Utc(2026, 12, 2, 0)}};
  const AvailabilityReport r = ComputeAvailability(in);
  EXPECT_EQ(r.maintenance, absl::Hours(720));
  EXPECT_EQ(r.downtime, absl::ZeroDuration());
  EXPECT_EQ(r.availability, 1.0);
  EXPECT_EQ(r.allowed_downtime, absl::ZeroDuration());
  EXPECT_EQ(r.error_budget_remaining, 1.0);
}

TEST(AvailabilityTest, ObjectiveOfOneWithDowntimeHasNoBudgetAtAll) {
  AvailabilityInput in = Input();
  in.objective = 1.0;  // outside (0,1); the config refuses it, the report stays defined
  in.incidents = {Incident("INC-000011", Utc(2026, 11, 10, 10), Utc(2026, 11, 10, 11))};
  const AvailabilityReport r = ComputeAvailability(in);
  EXPECT_EQ(r.allowed_downtime, absl::ZeroDuration());
  EXPECT_EQ(r.error_budget_remaining, -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(AvailabilityToJson(r)["error_budget_remaining"].is_null());
  EXPECT_EQ(AvailabilityToJson(r)["error_budget_remaining_percent"], "n/a");
}

TEST(AvailabilityTest, MonthNotStartedYetHasNoDowntime) {
  AvailabilityInput in = Input();
  in.now = Utc(2026, 10, 15, 0);
  in.incidents = {Incident("INC-000012", Utc(2026, 10, 14, 0), std::nullopt)};
  const AvailabilityReport r = ComputeAvailability(in);
  EXPECT_EQ(r.downtime, absl::ZeroDuration());
  EXPECT_TRUE(r.incidents.empty());
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.availability, 1.0);
}

TEST(AvailabilityTest, BerlinMonthsWithADaylightSavingChange) {
  // October 2026: CEST until Oct 25, so Oct 1 00:00 CEST = Sep 30 22:00Z and
  // Nov 1 00:00 CET = Oct 31 23:00Z: 31 * 24 + 1 = 745h. Allowed 0.001 * 745h =
  // 2682s = 44m42s.
  const AvailabilityReport oct =
      ComputeAvailability(Input("Europe/Berlin", absl::CivilMonth(2026, 10)));
  EXPECT_EQ(oct.period_start, Utc(2026, 9, 30, 22));
  EXPECT_EQ(oct.period_end, Utc(2026, 10, 31, 23));
  EXPECT_EQ(oct.period, absl::Hours(745));
  EXPECT_EQ(oct.allowed_downtime, absl::Seconds(2682));

  // An incident across the fall-back, 02:30 CEST to 02:30 CET (00:30Z-01:30Z), is
  // one hour although the wall clock shows none: 1 - 3600/(745 * 3600) = 1 - 1/745.
  AvailabilityInput fall_back = Input("Europe/Berlin", absl::CivilMonth(2026, 10));
  fall_back.incidents = {
      Incident("INC-000013", Utc(2026, 10, 25, 0, 30), Utc(2026, 10, 25, 1, 30))};
  const AvailabilityReport r = ComputeAvailability(fall_back);
  EXPECT_EQ(r.downtime, absl::Hours(1));
  EXPECT_NEAR(r.availability, 1 - 1.0 / 745, kTolerance);

  // March 2026: CET until Mar 29, so Mar 1 00:00 CET = Feb 28 23:00Z and
  // Apr 1 00:00 CEST = Mar 31 22:00Z: 31 * 24 - 1 = 743h.
  const AvailabilityReport mar =
      ComputeAvailability(Input("Europe/Berlin", absl::CivilMonth(2026, 3)));
  EXPECT_EQ(mar.period_start, Utc(2026, 2, 28, 23));
  EXPECT_EQ(mar.period_end, Utc(2026, 3, 31, 22));
  EXPECT_EQ(mar.period, absl::Hours(743));
}

TEST(AvailabilityTest, NewYorkMonthsWithADaylightSavingChange) {
  // March 2026: DST from Mar 8. Mar 1 00:00 EST = 05:00Z, Apr 1 00:00 EDT = 04:00Z:
  // 743h. November 2026: DST ends Nov 1. Nov 1 00:00 EDT = 04:00Z, Dec 1 00:00 EST =
  // 05:00Z: 30 * 24 + 1 = 721h.
  const AvailabilityReport mar =
      ComputeAvailability(Input("America/New_York", absl::CivilMonth(2026, 3)));
  EXPECT_EQ(mar.period_start, Utc(2026, 3, 1, 5));
  EXPECT_EQ(mar.period_end, Utc(2026, 4, 1, 4));
  EXPECT_EQ(mar.period, absl::Hours(743));
  const AvailabilityReport nov =
      ComputeAvailability(Input("America/New_York", absl::CivilMonth(2026, 11)));
  EXPECT_EQ(nov.period_start, Utc(2026, 11, 1, 4));
  EXPECT_EQ(nov.period_end, Utc(2026, 12, 1, 5));
  EXPECT_EQ(nov.period, absl::Hours(721));
}

TEST(AvailabilityTest, MonthBoundaryFollowsTheTimeZone) {
  // 2026-11-30 23:30Z-23:50Z is Dec 1 00:30-00:50 CET: December in Berlin, but
  // November in UTC.
  const DowntimeSource late =
      Incident("INC-000014", Utc(2026, 11, 30, 23, 30), Utc(2026, 11, 30, 23, 50));
  AvailabilityInput berlin_nov = Input("Europe/Berlin", absl::CivilMonth(2026, 11));
  berlin_nov.incidents = {late};
  EXPECT_EQ(ComputeAvailability(berlin_nov).downtime, absl::ZeroDuration());
  EXPECT_TRUE(ComputeAvailability(berlin_nov).incidents.empty());
  AvailabilityInput berlin_dec = Input("Europe/Berlin", absl::CivilMonth(2026, 12));
  berlin_dec.incidents = {late};
  EXPECT_EQ(ComputeAvailability(berlin_dec).downtime, absl::Minutes(20));
  AvailabilityInput utc_nov = Input("UTC", absl::CivilMonth(2026, 11));
  utc_nov.incidents = {late};
  EXPECT_EQ(ComputeAvailability(utc_nov).downtime, absl::Minutes(20));
  AvailabilityInput utc_dec = Input("UTC", absl::CivilMonth(2026, 12));
  utc_dec.incidents = {late};
  EXPECT_EQ(ComputeAvailability(utc_dec).downtime, absl::ZeroDuration());
}

TEST(AvailabilityTest, ExpandedWeeklyMaintenanceFeedsTheReport) {
  // Saturdays 03:00-04:00 Berlin from Oct 3: October 2026 has five Saturdays
  // (3, 10, 17, 24, 31) = 5h of maintenance; the one on Oct 31 is 03:00 CET = 02:00Z.
  MaintenanceWindow w;
  w.start = absl::CivilSecond(2026, 10, 3, 3, 0, 0);
  w.duration = absl::Hours(1);
  w.repeat = MaintenanceWindow::Repeat::kWeekly;
  w.time_zone_name = "Europe/Berlin";
  w.time_zone = *LoadZone("Europe/Berlin");
  AvailabilityInput in = Input("Europe/Berlin", absl::CivilMonth(2026, 10));
  const AvailabilityReport bounds = ComputeAvailability(in);
  in.maintenance = Occurrences(w, bounds.period_start, bounds.period_end);
  ASSERT_EQ(in.maintenance.size(), 5u);
  EXPECT_EQ(in.maintenance.back().start, Utc(2026, 10, 31, 2));
  // An incident 01:30Z-02:30Z on Oct 31 is half in the last window: 30m counts.
  in.incidents = {Incident("INC-000015", Utc(2026, 10, 31, 1, 30), Utc(2026, 10, 31, 2, 30))};
  const AvailabilityReport r = ComputeAvailability(in);
  EXPECT_EQ(r.maintenance, absl::Hours(5));
  EXPECT_EQ(r.downtime, absl::Minutes(30));
  // Counted 745h - 5h = 740h = 2664000s: 1 - 1800/2664000.
  EXPECT_NEAR(r.availability, 1 - 1800.0 / 2664000, kTolerance);
}

TEST(ParseMonthTest, ParsesYearAndMonth) {
  EXPECT_EQ(*ParseMonth("2026-11"), absl::CivilMonth(2026, 11));
  EXPECT_EQ(*ParseMonth("2027-01"), absl::CivilMonth(2027, 1));
}

TEST(ParseMonthTest, SaysWhatIsWrong) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"", "not a year and month"},
           {"2026-1", "not a year and month"},
           {"26-11", "not a year and month"},
           {"2026/11", "not a year and month"},
           {"2026-11-01", "not a year and month"},
           {"2026-1a", "not a year and month"},
           {"2026-13", "month 13 does not exist"},
           {"2026-00", "month 0 does not exist"},
       }) {
    absl::StatusOr<absl::CivilMonth> parsed = ParseMonth(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.says)) << c.text;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("\"YYYY-MM\"")) << c.text;
  }
}

TEST(FormatPercentTest, ThreeDecimalsRoundedDown) {
  EXPECT_EQ(FormatPercent(1.0), "100.000%");
  EXPECT_EQ(FormatPercent(0.999), "99.900%");  // 99899.99999999999 thousandths in binary
  EXPECT_EQ(FormatPercent(0.9995), "99.950%");
  EXPECT_EQ(FormatPercent(0.9999996), "99.999%");  // never 100.000% short of perfect
  EXPECT_EQ(FormatPercent(0.99953703), "99.953%");
  EXPECT_EQ(FormatPercent(0.0), "0.000%");
  EXPECT_EQ(FormatPercent(-0.000001), "-0.001%");
  EXPECT_EQ(FormatPercent(-1.5), "-150.000%");
  EXPECT_EQ(FormatPercent(std::nan("")), "n/a");
}

// Two services: checkout in Berlin, November over; search in UTC, mid-month.
std::vector<AvailabilityReport> TwoServices() {
  // checkout: Berlin November is Oct 31 23:00Z to Nov 30 23:00Z = 720h. One 20m
  // incident, 2h of maintenance: counted 718h = 2584800s; availability
  // 1 - 1200/2584800 = 0.99953574...; allowed 2584.8s = 43m4s800ms; budget
  // 1 - 1200/2584.8 = 0.53574744...
  AvailabilityInput checkout = Input("Europe/Berlin", absl::CivilMonth(2026, 11));
  checkout.now = Utc(2026, 12, 2, 0);
  checkout.incidents = {Incident("INC-000020", Utc(2026, 11, 10, 10), Utc(2026, 11, 10, 10, 20))};
  checkout.maintenance = {{Utc(2026, 11, 29, 1), Utc(2026, 11, 29, 3)}};
  // search: objective 99.95%, open since 23:00 on Nov 14, now Nov 15 00:00: 1h.
  // Availability 1 - 3600/2592000 = 0.99861111...; allowed 0.0005 * 2592000 =
  // 1296s = 21m36s; budget 1 - 3600/1296 = -1.77777...
  AvailabilityInput search = Input("UTC", absl::CivilMonth(2026, 11));
  search.service = "search";
  search.objective = 0.9995;
  search.now = Utc(2026, 11, 15, 0);
  search.incidents = {Incident("INC-000021", Utc(2026, 11, 14, 23), std::nullopt)};
  return {ComputeAvailability(checkout), ComputeAvailability(search)};
}

TEST(FormatAvailabilityTest, Table) {
  EXPECT_EQ(FormatAvailabilityTable(TwoServices()),
            "SERVICE   MONTH     TIME ZONE      AVAILABILITY  OBJECTIVE  DOWNTIME     ALLOWED  "
            "BUDGET LEFT  MAINTENANCE  INCIDENTS\n"
            "checkout  2026-11   Europe/Berlin       99.953%    99.900%       20m  43m4s800ms  "
            "    53.574%           2h          1\n"
            "search    2026-11*  UTC                 99.861%    99.950%        1h      21m36s  "
            "  -177.778%           0s          1\n"
            "* month not over: downtime so far, against the whole month's time\n");
}

TEST(FormatAvailabilityTest, TableOfCompleteMonthsHasNoFootnote) {
  std::vector<AvailabilityReport> reports = TwoServices();
  reports.pop_back();
  EXPECT_THAT(FormatAvailabilityTable(reports), ::testing::Not(HasSubstr("*")));
  EXPECT_EQ(FormatAvailabilityTable({}),
            "SERVICE  MONTH  TIME ZONE  AVAILABILITY  OBJECTIVE  DOWNTIME  ALLOWED  BUDGET LEFT  "
            "MAINTENANCE  INCIDENTS\n");
}

TEST(FormatAvailabilityTest, Csv) {
  EXPECT_EQ(FormatAvailabilityCsv(TwoServices()),
            "service,month,time_zone,period_start,period_end,complete,period_seconds,"
            "maintenance_seconds,downtime_seconds,allowed_downtime_seconds,objective_percent,"
            "availability_percent,error_budget_remaining_percent,incidents\r\n"
            "checkout,2026-11,Europe/Berlin,2026-10-31T23:00:00.000Z,2026-11-30T23:00:00.000Z,"
            "true,2592000,7200,1200,2584.8,99.900,99.953,53.574,1\r\n"
            "search,2026-11,UTC,2026-11-01T00:00:00.000Z,2026-12-01T00:00:00.000Z,"
            "false,2592000,0,3600,1296,99.950,99.861,-177.778,1\r\n");
}

TEST(FormatAvailabilityTest, CsvQuotesFieldsAsRfc4180Says) {
  std::vector<AvailabilityReport> reports = TwoServices();
  reports.resize(1);
  reports[0].service = "pay,\"ments\"";
  const std::string csv = FormatAvailabilityCsv(reports);
  EXPECT_THAT(csv, HasSubstr("\r\n\"pay,\"\"ments\"\"\",2026-11,"));
  reports[0].service = "two\nlines";
  EXPECT_THAT(FormatAvailabilityCsv(reports), HasSubstr("\r\n\"two\nlines\",2026-11,"));
}

TEST(FormatAvailabilityTest, Json) {
  const nlohmann::json json = AvailabilityToJson(TwoServices()[0]);
  EXPECT_EQ(json["service"], "checkout");
  EXPECT_EQ(json["month"], "2026-11");
  EXPECT_EQ(json["time_zone"], "Europe/Berlin");
  EXPECT_EQ(json["period_start"], "2026-10-31T23:00:00.000Z");
  EXPECT_EQ(json["period_end"], "2026-11-30T23:00:00.000Z");
  EXPECT_EQ(json["as_of"], "2026-12-02T00:00:00.000Z");
  EXPECT_EQ(json["complete"], true);
  EXPECT_EQ(json["period_seconds"], 2592000.0);
  EXPECT_EQ(json["period"], "30d");
  EXPECT_EQ(json["maintenance_seconds"], 7200.0);
  EXPECT_EQ(json["maintenance"], "2h");
  EXPECT_EQ(json["downtime_seconds"], 1200.0);
  EXPECT_EQ(json["downtime"], "20m");
  EXPECT_EQ(json["allowed_downtime_seconds"], 2584.8);
  EXPECT_EQ(json["allowed_downtime"], "43m4s800ms");
  EXPECT_EQ(json["objective"], 0.999);
  EXPECT_EQ(json["objective_percent"], "99.900%");
  EXPECT_NEAR(json["availability"].get<double>(), 1 - 1200.0 / 2584800, kTolerance);
  EXPECT_EQ(json["availability_percent"], "99.953%");
  EXPECT_NEAR(json["error_budget_remaining"].get<double>(), 1 - 1200.0 / 2584.8, 1e-9);
  EXPECT_EQ(json["error_budget_remaining_percent"], "53.574%");
  ASSERT_EQ(json["incidents"].size(), 1u);
  EXPECT_EQ(json["incidents"][0], nlohmann::json({{"incident_id", "INC-000020"},
                                                  {"start", "2026-11-10T10:00:00.000Z"},
                                                  {"end", "2026-11-10T10:20:00.000Z"},
                                                  {"ongoing", false},
                                                  {"counted_seconds", 1200.0},
                                                  {"counted", "20m"}}));
  EXPECT_EQ(AvailabilityToJson(TwoServices()[1])["incidents"][0]["ongoing"], true);
}

}  // namespace
}  // namespace klaxon
