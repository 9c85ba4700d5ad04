// SloTracker follows one service level objective (an error ratio over a long
// window, as in the Google SRE workbook) and produces its error ratios, burn
// rates and error budget as series. The engine owns one per SLO and calls it
// from its one thread (thread-compatible).
//
// Input: two expressions that evaluate to the CURRENT TOTALS of two counters,
// one sample each or a scalar: `errors` (e.g. sum(http_requests_total{code=~"5.."}))
// and `total` (e.g. sum(http_requests_total)). Each Update() turns the change
// since the previous observation into an increase, as Prometheus's increase()
// does: a value below the previous one is a counter reset, and the new value
// itself counts as the increase. An expression that returns nothing (its
// series do not exist yet, or went stale) observes nothing: its previous value
// is kept, and the whole increase is counted when it returns. A brand-new
// counter therefore only sets the baseline, and errors that had never happened
// before are lost; write `sum(...) or vector(0)` for an errors counter that
// may not exist yet.
//
// Bucket arithmetic. Increases are kept in time buckets, never as raw samples:
// 1-minute buckets for 3 days and 1-hour buckets for the SLO window. An
// increase observed at t for the interval since that expression's previous
// observation at p is spread over [p, t] in proportion to time, so that a
// bucket holds the traffic of its own span whatever the sampling interval.
// A window W at `now` covers [now - W, now]: the bucket holding now counts
// whole (it only holds data up to now), buckets wholly inside count whole, and
// the bucket holding now - W counts PROPORTIONALLY to its part inside the
// window (traffic within a bucket is taken as uniform). So a steady rate gives
// exact ratios, and a burst inside a partial bucket is smeared over that bucket.
// The 5m..3d windows sum minute buckets; the SLO window sums hour buckets.
// Traffic before the tracker started (samples live in memory only, so also
// before a restart) is unknown: a window reaching back further covers only
// what was seen.
//
// Cost per SLO: 16 bytes a bucket, (3d / 1m + 1) + (window / 1h + 1) buckets:
// 69,136 + 11,536 bytes = about 81 KB for a 30d window, fixed from
// construction on. Each Update() sums about 6,300 minute buckets plus
// window / 1h hour buckets.
#ifndef KLAXON_RULES_SLO_H_
#define KLAXON_RULES_SLO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "detector/series_reader.h"
#include "rules/alerting_rule.h"
#include "rules/evaluator.h"
#include "rules/expr.h"

namespace klaxon {

struct SloOptions {
  std::string service;  // the `service` label of every output series
  std::string name;     // the `slo` label
  // The target fraction of good events, in (0, 1): "99.9%" is 0.999.
  double objective = 0.999;
  // Default: 30d. The error budget's window; at most 1y (memory grows with it).
  absl::Duration window = absl::Hours(24 * 30);
  ExprPtr errors;  // current total of the bad-events counter
  ExprPtr total;   // current total of the all-events counter
};

// The windows of slo:error_ratio and slo:burn_rate: the workbook's alert
// windows. Labels are "5m", "30m", "1h", "2h", "6h", "1d", "3d".
struct SloWindow {
  absl::string_view label;
  absl::Duration length;
};
inline constexpr int kSloWindowCount = 7;
extern const SloWindow kSloWindows[kSloWindowCount];

class SloTracker {
 public:
  explicit SloTracker(SloOptions options);
  // Non-copyable: holds the SLO's only copy of its traffic history.
  SloTracker(const SloTracker&) = delete;
  SloTracker& operator=(const SloTracker&) = delete;

  // Observes both counters at `now`, then returns every output series at
  // `now` (always the same set, 2 * kSloWindowCount + 2 samples):
  //   slo:error_ratio{service,slo,window}, slo:burn_rate{service,slo,window},
  //   klaxon_slo_error_budget_remaining_ratio{service,slo},
  //   klaxon_slo_objective_ratio{service,slo}.
  // A window without traffic has ratio 0. An expression that fails to
  // evaluate, or returns more than one sample, is an error and nothing is
  // observed or returned (the previous values stay, so a lasting error shows
  // as the outputs going stale after the lookback).
  absl::StatusOr<InstantVector> Update(const SeriesReader& reader, absl::Time now,
                                       const EvalOptions& options = {});

  // The error ratio and burn rate over [now - window, now], from what the last
  // Update() saw; `now` not before the last Update().
  double ErrorRatio(absl::Duration window, absl::Time now) const;
  double BurnRate(absl::Duration window, absl::Time now) const;
  // 1 - (error ratio over the SLO window) / (1 - objective); negative once
  // the budget is overspent.
  double BudgetRemaining(absl::Time now) const;

  const SloOptions& options() const { return options_; }
  // Heap bytes held; fixed at construction.
  size_t MemoryBytes() const;

 private:
  struct Bucket {
    double errors = 0;
    double total = 0;
  };
  // Buckets of one width in a ring: index i (bucket [i * width, (i+1) * width)
  // in ms since the epoch) lives in slot i mod size while newest - size < i.
  class Ring {
   public:
    Ring(absl::Duration width, absl::Duration span);
    // Spreads `amount` over [from_ms, to_ms] in proportion to time.
    void Spread(int64_t from_ms, int64_t to_ms, double amount, bool errors);
    // Makes the bucket holding `now_ms` the newest, clearing those it skips.
    void AdvanceTo(int64_t now_ms);
    Bucket Sum(int64_t window_ms, int64_t now_ms) const;
    size_t bytes() const { return buckets_.size() * sizeof(Bucket); }

   private:
    Bucket& At(int64_t index) { return buckets_[Slot(index)]; }
    size_t Slot(int64_t index) const;

    int64_t width_ms_;
    std::vector<Bucket> buckets_;
    std::optional<int64_t> newest_;  // index of the newest bucket
  };
  // One counter expression's last observation.
  struct Counter {
    std::optional<double> value;
    int64_t at_ms = 0;
  };

  // The current total `expr` evaluates to, or nullopt when it returns nothing.
  absl::StatusOr<std::optional<double>> Read(const Expr& expr, absl::string_view what,
                                             const SeriesReader& reader, int64_t at_ms,
                                             const EvalOptions& options) const;
  void Observe(Counter& counter, std::optional<double> value, int64_t at_ms, bool errors);
  static double Ratio(const Bucket& sum);
  InstantVector Output(absl::Time now) const;

  SloOptions options_;
  Ring minutes_;
  Ring hours_;
  Counter errors_;
  Counter total_;
  std::optional<int64_t> last_update_ms_;
};

// The workbook's multi-window, multi-burn-rate alerts for one SLO, as klaxon
// alerting rules (name, service, severity, expression, summary; `for` 0):
//   <Service><Slo>BurnRatePage: (burn 1h > 14.4 and burn 5m > 14.4)
//                            or (burn 6h > 6 and burn 30m > 6)
//   <Service><Slo>BurnRateTicket: (burn 1d > 3 and burn 2h > 3)
//                              or (burn 3d > 1 and burn 6h > 1)
// over the slo:burn_rate series of SloTracker, each wrapped in
// `max without(window) (...)` so that one SLO is one alert (labels service and
// slo) whichever condition holds, valued at the long window's burn rate.
// Names are the service and SLO names in CamelCase ("checkout-api",
// "availability" -> CheckoutApiAvailabilityBurnRatePage), prefixed with "Slo"
// when they would start with a digit.
struct SloAlertSeverities {
  std::string page = "critical";
  std::string ticket = "warning";
};
struct SloAlertRule {
  AlertingRuleOptions options;
  std::string expr;  // options.expr as written, with the parentheses people read it by
};
absl::StatusOr<std::vector<SloAlertRule>> SloAlertingRules(
    const SloOptions& slo, const SloAlertSeverities& severities = {});
// The name prefix of SloAlertingRules: "CheckoutApiAvailability".
std::string SloRuleNamePrefix(absl::string_view service, absl::string_view slo);

}  // namespace klaxon

#endif  // KLAXON_RULES_SLO_H_
