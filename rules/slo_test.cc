#include "rules/slo.h"

#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "detector/labels.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/alerting_rule.h"
#include "rules/expr.h"
#include "rules/internal/testing_series_reader.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// On an hour boundary (and so a minute boundary): 2023-11-14T22:00:00Z.
const absl::Time kT0 = absl::FromUnixSeconds(1'699'999'200);

// The newest value of each of two counters, errors_total and requests_total;
// an unset one has no series. Cheaper than a full store for days of updates.
class CounterReader : public SeriesReader {
 public:
  std::optional<double> errors;
  std::optional<double> requests;
  // Extra errors_total series, to make `sum` unnecessary and test the error.
  bool second_errors_series = false;

  void SelectInstant(const std::vector<LabelMatcher>& matchers, int64_t at_ms, int64_t,
                     const InstantVisitor& visit) const override {
    auto offer = [&](SeriesId id, const Labels& labels, std::optional<double> value) {
      if (value && MatchesAll(matchers, labels)) visit(id, labels, at_ms, *value);
    };
    offer(0, errors_labels_, errors);
    offer(1, requests_labels_, requests);
    if (second_errors_series) offer(2, other_errors_labels_, errors);
  }
  void SelectRange(const std::vector<LabelMatcher>&, int64_t, int64_t,
                   const RangeVisitor&) const override {}

 private:
  Labels errors_labels_{{"__name__", "errors_total"}, {"job", "api"}};
  Labels other_errors_labels_{{"__name__", "errors_total"}, {"job", "web"}};
  Labels requests_labels_{{"__name__", "requests_total"}, {"job", "api"}};
};

SloOptions Options(double objective = 0.999, absl::Duration window = absl::Hours(24 * 30)) {
  SloOptions options;
  options.service = "checkout";
  options.name = "availability";
  options.objective = objective;
  options.window = window;
  options.errors = ParseExpr("sum(errors_total)").value();
  options.total = ParseExpr("sum(requests_total)").value();
  return options;
}

// Drives one tracker: counters grow at the given rates between updates.
class SloTrackerTest : public ::testing::Test {
 protected:
  explicit SloTrackerTest(SloOptions options = Options()) : tracker_(std::move(options)) {
    reader_.errors = 0;
    reader_.requests = 0;
  }

  // Advances `duration` in `step`s, adding errors and requests per second.
  void Run(absl::Duration duration, absl::Duration step, double errors_per_second,
           double requests_per_second) {
    for (absl::Duration done; done < duration; done += step) {
      now_ += step;
      double seconds = absl::ToDoubleSeconds(step);
      if (reader_.errors) *reader_.errors += errors_per_second * seconds;
      if (reader_.requests) *reader_.requests += requests_per_second * seconds;
      Update();
    }
  }
  void Update() {
    absl::StatusOr<InstantVector> out = tracker_.Update(reader_, now_);
    ASSERT_TRUE(out.ok()) << out.status();
    last_ = *std::move(out);
  }
  double Burn(absl::Duration window) { return tracker_.BurnRate(window, now_); }
  // The value of one output series of the last update, by its labels.
  std::optional<double> Output(absl::string_view series) {
    Labels want = ParseSeries(series).value();
    for (const VectorSample& s : last_) {
      if (s.labels == want) return s.value;
    }
    return std::nullopt;
  }

  absl::Time now_ = kT0;
  CounterReader reader_;
  SloTracker tracker_;
  InstantVector last_;
};

TEST_F(SloTrackerTest, OutputsEverySeriesWithServiceSloAndWindowLabels) {
  Update();
  std::vector<std::string> names;
  for (const VectorSample& s : last_) names.push_back(s.labels.ToString());
  EXPECT_THAT(names, SizeIs(2 * kSloWindowCount + 2));
  EXPECT_THAT(names, ::testing::Contains(
                         R"(slo:burn_rate{service="checkout", slo="availability", window="5m"})"));
  EXPECT_THAT(names,
              ::testing::Contains(
                  R"(slo:error_ratio{service="checkout", slo="availability", window="3d"})"));
  EXPECT_EQ(Output(R"(klaxon_slo_objective_ratio{service="checkout",slo="availability"})"), 0.999);
  // No traffic yet: nothing burns and the whole budget is left.
  EXPECT_EQ(Output(R"(slo:burn_rate{service="checkout",slo="availability",window="1h"})"), 0);
  EXPECT_EQ(
      Output(R"(klaxon_slo_error_budget_remaining_ratio{service="checkout",slo="availability"})"),
      1);
}

TEST_F(SloTrackerTest, SteadyErrorsAtTheObjectiveBurnAtOneInEveryWindow) {
  now_ += absl::Seconds(17);  // not on a bucket boundary
  Update();
  // 0.1% of 100 requests a second, sampled every 10s for 3h15m.
  Run(absl::Minutes(195), absl::Seconds(10), 0.1, 100);
  for (const SloWindow& w : kSloWindows) {
    EXPECT_NEAR(Burn(w.length), 1.0, 1e-9) << w.label;
    EXPECT_NEAR(
        *Output(absl::StrCat(R"(slo:error_ratio{service="checkout",slo="availability",window=")",
                             w.label, "\"}")),
        0.001, 1e-12)
        << w.label;
  }
  EXPECT_NEAR(tracker_.BudgetRemaining(now_), 0.0, 1e-9) << "spent exactly as fast as earned";
}

TEST_F(SloTrackerTest, AFifteenMinuteTotalOutageBurnsEachWindowByItsShare) {
  Update();
  // Three days and an hour of 1 request a second without errors, then 15
  // minutes in which every request fails. Updates on minute boundaries.
  Run(absl::Hours(73), absl::Minutes(1), 0, 1);
  Run(absl::Minutes(15), absl::Minutes(1), 1, 1);
  // Burn = (15 minutes of errors / window) / 0.001.
  EXPECT_NEAR(Burn(absl::Minutes(5)), 1000, 1e-6);
  EXPECT_NEAR(Burn(absl::Minutes(30)), 500, 1e-6);
  EXPECT_NEAR(Burn(absl::Hours(1)), 250, 1e-6);
  EXPECT_NEAR(Burn(absl::Hours(2)), 125, 1e-6);
  EXPECT_NEAR(Burn(absl::Hours(6)), 15.0 / 360 * 1000, 1e-6);
  EXPECT_NEAR(Burn(absl::Hours(24)), 15.0 / 1440 * 1000, 1e-6);
  EXPECT_NEAR(Burn(absl::Hours(72)), 15.0 / 4320 * 1000, 1e-6);
  EXPECT_NEAR(*Output(R"(slo:burn_rate{service="checkout",slo="availability",window="30m"})"), 500,
              1e-6);
  // The 30d budget: only 73h15m were seen, 15m of them all errors.
  EXPECT_NEAR(tracker_.BudgetRemaining(now_), 1 - 15.0 / (73 * 60 + 15) * 1000, 1e-6);

  // Two and a half minutes after it ended the 5m window holds half a minute
  // of the partial oldest bucket (counted in proportion), two whole outage
  // minutes, two healthy minutes and the current half minute:
  // (30 + 120) errors / 300 requests.
  Run(absl::Minutes(2), absl::Minutes(1), 0, 1);
  Run(absl::Seconds(30), absl::Seconds(30), 0, 1);
  EXPECT_NEAR(Burn(absl::Minutes(5)), 500, 1e-6);
  EXPECT_NEAR(Burn(absl::Minutes(30)), 500, 1e-6);
  // Once it slides out of the short window, only the long ones remember it.
  Run(absl::Minutes(5), absl::Minutes(1), 0, 1);
  EXPECT_EQ(Burn(absl::Minutes(5)), 0);
  EXPECT_NEAR(Burn(absl::Hours(1)), 250, 1e-6);
}

TEST_F(SloTrackerTest, ACounterResetCountsTheNewValueAsTheIncrease) {
  reader_.errors = 100;
  reader_.requests = 1000;
  Update();  // the baseline: nothing counted yet
  EXPECT_EQ(tracker_.ErrorRatio(absl::Minutes(5), now_), 0);
  now_ += absl::Seconds(30);
  reader_.errors = 110;
  reader_.requests = 2000;
  Update();  // +10 / +1000
  now_ += absl::Seconds(30);
  reader_.errors = 5;  // the process restarted: both counters start over
  reader_.requests = 500;
  Update();  // +5 / +500
  now_ += absl::Seconds(30);
  reader_.errors = 7;
  reader_.requests = 1500;
  Update();  // +2 / +1000
  EXPECT_NEAR(tracker_.ErrorRatio(absl::Minutes(5), now_), 17.0 / 2500, 1e-12);
}

TEST_F(SloTrackerTest, ACounterThatIsMissingObservesNothingUntilItReturns) {
  reader_.errors.reset();
  reader_.requests = 0;
  Update();
  Run(absl::Minutes(2), absl::Seconds(10), 0, 10);
  EXPECT_EQ(tracker_.ErrorRatio(absl::Minutes(5), now_), 0);
  // The first sample of a new counter is its baseline, as for increase().
  reader_.errors = 5;
  Run(absl::Minutes(1), absl::Seconds(10), 0.5, 10);
  // Its first reading (10) is the baseline; five more steps add 25 errors.
  EXPECT_NEAR(tracker_.ErrorRatio(absl::Minutes(5), now_), 25.0 / 1800, 1e-12);
  // A gap in the total: its increase is counted, spread over the gap, when it returns.
  reader_.requests.reset();
  now_ += absl::Minutes(1);
  Update();
  reader_.requests = 1800 + 1200;
  now_ += absl::Minutes(1);
  Update();
  EXPECT_NEAR(tracker_.ErrorRatio(absl::Minutes(5), now_), 25.0 / 3000, 1e-12);
}

TEST_F(SloTrackerTest, ScalarsCountAndSeveralSeriesAreAnError) {
  SloOptions options = Options();
  options.errors = ParseExpr("errors_total").value();  // two series, no sum
  SloTracker tracker(options);
  reader_.second_errors_series = true;
  absl::StatusOr<InstantVector> out = tracker.Update(reader_, now_);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("errors expression returned 2 series"));
  EXPECT_THAT(out.status().message(), HasSubstr("sum(...)"));

  options.errors = ParseExpr("scalar(sum(errors_total))").value();
  SloTracker scalar(options);
  ASSERT_TRUE(scalar.Update(reader_, now_).ok());
  *reader_.errors += 2;
  *reader_.requests += 100;
  ASSERT_TRUE(scalar.Update(reader_, now_ + absl::Seconds(10)).ok());
  EXPECT_NEAR(scalar.ErrorRatio(absl::Minutes(5), now_ + absl::Seconds(10)), 0.04, 1e-12);
}

TEST_F(SloTrackerTest, AClockThatGoesBackCountsInTheNewestBucket) {
  Update();
  Run(absl::Minutes(3), absl::Minutes(1), 0, 10);
  now_ -= absl::Minutes(2);
  *reader_.errors += 60;
  *reader_.requests += 600;
  Update();
  EXPECT_NEAR(tracker_.ErrorRatio(absl::Minutes(5), now_ + absl::Minutes(2)), 60.0 / 2400, 1e-12);
}

class SloBudgetTest : public SloTrackerTest {
 protected:
  SloBudgetTest() : SloTrackerTest(Options(0.99, absl::Hours(24))) {}
};

TEST_F(SloBudgetTest, TheBudgetCoversTheSloWindowAndForgetsWhatLeftIt) {
  Update();
  // 1 request a second; a 6-minute total outage from 2h to 2h06m.
  Run(absl::Hours(2), absl::Minutes(1), 0, 1);
  Run(absl::Minutes(6), absl::Minutes(1), 1, 1);
  Run(absl::Hours(22) - absl::Minutes(6), absl::Minutes(1), 0, 1);
  // At 24h: 360 errors in 86,400 requests = 0.4167% of a 1% budget.
  EXPECT_NEAR(tracker_.BudgetRemaining(now_), 1 - (360.0 / 86400) / 0.01, 1e-9);
  // At 26h03m the window starts at 2h03m, inside the hour bucket [2h, 3h)
  // that holds the outage: that bucket counts for 57/60 of its errors (342)
  // and requests (3,420), whole hours 3h..26h add 82,800 requests and the
  // current bucket 180: 342 / 86,400.
  Run(absl::Hours(2) + absl::Minutes(3), absl::Minutes(1), 0, 1);
  EXPECT_NEAR(tracker_.BudgetRemaining(now_), 1 - (342.0 / 86400) / 0.01, 1e-9);
  EXPECT_NEAR(
      *Output(R"(klaxon_slo_error_budget_remaining_ratio{service="checkout",slo="availability"})"),
      1 - (342.0 / 86400) / 0.01, 1e-9);
  Run(absl::Minutes(57), absl::Minutes(1), 0, 1);
  EXPECT_EQ(tracker_.BudgetRemaining(now_), 1) << "the outage left the window";
  // An overspent budget goes negative.
  Run(absl::Minutes(30), absl::Minutes(1), 1, 1);
  EXPECT_LT(tracker_.BudgetRemaining(now_), 0);
}

TEST(SloTrackerMemoryTest, MemoryIsFixedByTheWindowNotByTheTraffic) {
  SloTracker month(Options());
  // (3d / 1m + 1) minute buckets and (30d / 1h + 1) hour buckets, 16 bytes each.
  EXPECT_EQ(month.MemoryBytes(), (4321u + 721u) * 16u);
  EXPECT_LT(month.MemoryBytes(), 82'000u);
  SloTracker week(Options(0.999, absl::Hours(24 * 7)));
  EXPECT_EQ(week.MemoryBytes(), (4321u + 169u) * 16u);

  // Forty days of hourly updates wrap both rings; the size stays and the
  // ratios stay right.
  CounterReader reader;
  reader.errors = 0;
  reader.requests = 0;
  absl::Time now = kT0;
  for (int hour = 0; hour <= 40 * 24; ++hour) {
    ASSERT_TRUE(month.Update(reader, now).ok());
    *reader.errors += 3.6;
    *reader.requests += 3600;
    now += absl::Hours(1);
  }
  EXPECT_EQ(month.MemoryBytes(), (4321u + 721u) * 16u);
  now -= absl::Hours(1);
  EXPECT_NEAR(month.BurnRate(absl::Hours(72), now), 1, 1e-9);
  EXPECT_NEAR(month.BudgetRemaining(now), 0, 1e-9);
}

// ---------------------------------------------------------------------------
// Generated alerting rules

TEST(SloRuleNameTest, CamelCasesServiceAndSlo) {
  EXPECT_EQ(SloRuleNamePrefix("checkout", "availability"), "CheckoutAvailability");
  EXPECT_EQ(SloRuleNamePrefix("checkout-api", "p99_latency.v2"), "CheckoutApiP99LatencyV2");
  EXPECT_EQ(SloRuleNamePrefix("3ds", "ok"), "Slo3dsOk");
}

class SloRulesTest : public ::testing::Test {
 protected:
  SloRulesTest() {
    absl::StatusOr<std::vector<SloAlertRule>> rules = SloAlertingRules(Options());
    EXPECT_TRUE(rules.ok()) << rules.status();
    if (rules.ok()) rules_ = *rules;
  }
  // Burn rates by window, as SloTracker would write them at kT0.
  void Burns(const std::map<std::string, double>& by_window) {
    for (const auto& [window, value] : by_window) {
      reader_.Add(Labels{{"__name__", "slo:burn_rate"},
                         {"service", "checkout"},
                         {"slo", "availability"},
                         {"window", window}},
                  absl::ToUnixMillis(kT0), value);
    }
    // Another SLO burning everywhere must not leak into this one's alerts.
    for (const SloWindow& w : kSloWindows) {
      reader_.Add(Labels{{"__name__", "slo:burn_rate"},
                         {"service", "checkout"},
                         {"slo", "latency"},
                         {"window", std::string(w.label)}},
                  absl::ToUnixMillis(kT0), 100);
    }
  }
  // "labels=value" of every alert the rule fires at kT0.
  std::vector<std::string> Fired(int rule) {
    AlertingRule alerting(rules_[rule].options);
    absl::StatusOr<std::vector<AlertTransition>> t = alerting.Evaluate(reader_, kT0);
    EXPECT_TRUE(t.ok()) << t.status();
    std::vector<std::string> out;
    for (const Alert& a : alerting.Alerts()) {
      EXPECT_EQ(a.state, AlertState::kFiring);
      out.push_back(absl::StrCat(a.labels.ToString(), "=", a.value));
    }
    return out;
  }

  std::vector<SloAlertRule> rules_;
  rules_internal::TestingSeriesReader reader_;
};

TEST_F(SloRulesTest, PageAndTicketRulesNamedAfterServiceAndSlo) {
  ASSERT_THAT(rules_, SizeIs(2));
  EXPECT_EQ(rules_[0].options.name, "CheckoutAvailabilityBurnRatePage");
  EXPECT_EQ(rules_[0].options.severity, "critical");
  EXPECT_EQ(rules_[1].options.name, "CheckoutAvailabilityBurnRateTicket");
  EXPECT_EQ(rules_[1].options.severity, "warning");
  for (const SloAlertRule& rule : rules_) {
    EXPECT_EQ(rule.options.service, "checkout");
    EXPECT_EQ(rule.options.for_duration, absl::ZeroDuration());
    EXPECT_TRUE(CheckTemplate(rule.options.summary_template).ok()) << rule.options.summary_template;
    // The text is the tree.
    EXPECT_EQ(ToString(*ParseExpr(rule.expr).value()), ToString(*rule.options.expr));
  }
  EXPECT_EQ(rules_[0].expr,
            "max without(window) ("
            "(slo:burn_rate{service=\"checkout\",slo=\"availability\",window=\"1h\"} > 14.4 "
            "and ignoring(window) "
            "slo:burn_rate{service=\"checkout\",slo=\"availability\",window=\"5m\"} > 14.4) "
            "or ignoring(window) "
            "(slo:burn_rate{service=\"checkout\",slo=\"availability\",window=\"6h\"} > 6 "
            "and ignoring(window) "
            "slo:burn_rate{service=\"checkout\",slo=\"availability\",window=\"30m\"} > 6))");
  EXPECT_THAT(rules_[1].expr, HasSubstr(R"(window="1d"} > 3 and ignoring(window) )"));
  EXPECT_THAT(rules_[1].expr, HasSubstr(R"(window="3d"} > 1 and ignoring(window) )"));
  EXPECT_EQ(RenderTemplate(rules_[0].options.summary_template, Labels(), 20),
            "checkout availability SLO burning error budget 20.0x too fast "
            "(over 14.4x for 1h and 5m, or 6x for 6h and 30m)");

  SloAlertSeverities severities;
  severities.page = "major";
  severities.ticket = "info";
  auto custom = SloAlertingRules(Options(), severities);
  ASSERT_TRUE(custom.ok());
  EXPECT_EQ((*custom)[0].options.severity, "major");
  EXPECT_EQ((*custom)[1].options.severity, "info");
}

TEST_F(SloRulesTest, PageFiresOnceForTheFastPair) {
  Burns({{"5m", 20}, {"30m", 20}, {"1h", 15}, {"2h", 8}, {"6h", 3}, {"1d", 1}, {"3d", 0.5}});
  EXPECT_THAT(Fired(0), ElementsAre(R"({alertname="CheckoutAvailabilityBurnRatePage", )"
                                    R"(service="checkout", slo="availability"}=15)"));
  EXPECT_THAT(Fired(1), IsEmpty());
}

TEST_F(SloRulesTest, PageFiresOnceForTheSlowPair) {
  Burns({{"5m", 7}, {"30m", 7}, {"1h", 7}, {"2h", 7}, {"6h", 7}, {"1d", 2}, {"3d", 1}});
  EXPECT_THAT(Fired(0), ElementsAre(R"({alertname="CheckoutAvailabilityBurnRatePage", )"
                                    R"(service="checkout", slo="availability"}=7)"));
}

TEST_F(SloRulesTest, BothPairsStillMakeOneAlert) {
  Burns({{"5m", 30}, {"30m", 30}, {"1h", 30}, {"2h", 30}, {"6h", 30}, {"1d", 30}, {"3d", 30}});
  EXPECT_THAT(Fired(0), SizeIs(1));
  EXPECT_THAT(Fired(1), ElementsAre(R"({alertname="CheckoutAvailabilityBurnRateTicket", )"
                                    R"(service="checkout", slo="availability"}=30)"));
}

TEST_F(SloRulesTest, ALongWindowAloneDoesNotPage) {
  // Burned hard an hour ago, recovered now: the short window resets the page.
  Burns({{"5m", 0}, {"30m", 2}, {"1h", 20}, {"2h", 10}, {"6h", 4}, {"1d", 1}, {"3d", 0.4}});
  EXPECT_THAT(Fired(0), IsEmpty());
  EXPECT_THAT(Fired(1), IsEmpty());
}

TEST_F(SloRulesTest, TicketOnSlowSteadyBurn) {
  Burns(
      {{"5m", 1.5}, {"30m", 1.5}, {"1h", 1.5}, {"2h", 1.5}, {"6h", 1.5}, {"1d", 1.5}, {"3d", 1.2}});
  EXPECT_THAT(Fired(0), IsEmpty());
  EXPECT_THAT(Fired(1), ElementsAre(R"({alertname="CheckoutAvailabilityBurnRateTicket", )"
                                    R"(service="checkout", slo="availability"}=1.2)"));
}

}  // namespace
}  // namespace klaxon
