#include "rules/slo.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace klaxon {

const SloWindow kSloWindows[kSloWindowCount] = {
    {"5m", absl::Minutes(5)}, {"30m", absl::Minutes(30)}, {"1h", absl::Hours(1)},
    {"2h", absl::Hours(2)},   {"6h", absl::Hours(6)},     {"1d", absl::Hours(24)},
    {"3d", absl::Hours(72)},
};

namespace {

// Minute buckets serve every window of kSloWindows; the longest is 3d.
constexpr absl::Duration kMinuteSpan = absl::Hours(72);

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

}  // namespace

SloTracker::Ring::Ring(absl::Duration width, absl::Duration span)
    : width_ms_(absl::ToInt64Milliseconds(width)) {
  int64_t span_ms = absl::ToInt64Milliseconds(span);
  // One more than the span needs: the bucket holding now - span counts in part.
  buckets_.resize(static_cast<size_t>((span_ms + width_ms_ - 1) / width_ms_ + 1));
}

size_t SloTracker::Ring::Slot(int64_t index) const {
  int64_t size = static_cast<int64_t>(buckets_.size());
  int64_t slot = index % size;
  return static_cast<size_t>(slot < 0 ? slot + size : slot);
}

void SloTracker::Ring::AdvanceTo(int64_t now_ms) {
  int64_t index = FloorDiv(now_ms, width_ms_);
  if (newest_ && index <= *newest_) return;
  int64_t size = static_cast<int64_t>(buckets_.size());
  int64_t first = newest_ ? std::max(*newest_ + 1, index - size + 1) : index - size + 1;
  for (int64_t i = first; i <= index; ++i) At(i) = Bucket{};
  newest_ = index;
}

void SloTracker::Ring::Spread(int64_t from_ms, int64_t to_ms, double amount, bool errors) {
  if (!newest_ || amount == 0) return;
  int64_t size = static_cast<int64_t>(buckets_.size());
  int64_t oldest = *newest_ - size + 1;
  auto add = [&](int64_t index, double part) {
    Bucket& b = At(index);
    (errors ? b.errors : b.total) += part;
  };
  if (to_ms <= from_ms) {
    // No interval to spread over (the clock stood still or went back): the
    // increase belongs to the newest instant we know.
    int64_t index = std::min(FloorDiv(to_ms, width_ms_), *newest_);
    if (index >= oldest) add(index, amount);
    return;
  }
  int64_t first = std::max(FloorDiv(from_ms, width_ms_), oldest);
  int64_t last = std::min(FloorDiv(to_ms, width_ms_), *newest_);
  double length = static_cast<double>(to_ms - from_ms);
  for (int64_t i = first; i <= last; ++i) {
    int64_t overlap = std::min(to_ms, (i + 1) * width_ms_) - std::max(from_ms, i * width_ms_);
    if (overlap > 0) add(i, amount * static_cast<double>(overlap) / length);
  }
}

SloTracker::Bucket SloTracker::Ring::Sum(int64_t window_ms, int64_t now_ms) const {
  Bucket sum;
  if (!newest_) return sum;
  int64_t size = static_cast<int64_t>(buckets_.size());
  int64_t from_ms = now_ms - window_ms;
  int64_t first = std::max(FloorDiv(from_ms, width_ms_), *newest_ - size + 1);
  for (int64_t i = first; i <= *newest_; ++i) {
    const Bucket& b = buckets_[Slot(i)];
    if (b.errors == 0 && b.total == 0) continue;
    int64_t start = i * width_ms_;
    // The newest bucket holds data only up to now.
    int64_t end = std::min((i + 1) * width_ms_, std::max(now_ms, start));
    double fraction = 1;
    if (end > start && from_ms > start) {
      int64_t overlap = end - from_ms;
      if (overlap <= 0) continue;
      fraction = static_cast<double>(overlap) / static_cast<double>(end - start);
    }
    sum.errors += b.errors * fraction;
    sum.total += b.total * fraction;
  }
  return sum;
}

SloTracker::SloTracker(SloOptions options)
    : options_(std::move(options)),
      minutes_(absl::Minutes(1), kMinuteSpan),
      hours_(absl::Hours(1), options_.window) {}

size_t SloTracker::MemoryBytes() const { return minutes_.bytes() + hours_.bytes(); }

absl::StatusOr<std::optional<double>> SloTracker::Read(const Expr& expr, absl::string_view what,
                                                       const SeriesReader& reader, int64_t at_ms,
                                                       const EvalOptions& options) const {
  absl::StatusOr<EvalResult> result = Evaluate(expr, reader, at_ms, options);
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat(what, " expression: ", result.status().message()));
  }
  double value = 0;
  if (const auto* scalar = std::get_if<Scalar>(&*result)) {
    value = scalar->value;
  } else {
    const InstantVector& vector = std::get<InstantVector>(*result);
    if (vector.empty()) return std::optional<double>();
    if (vector.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " expression returned ", vector.size(), " series (", vector[0].labels.ToString(),
          ", ", vector[1].labels.ToString(), vector.size() > 2 ? ", ..." : "",
          "); it must give one total, e.g. sum(...)"));
    }
    value = vector[0].value;
  }
  // NaN is no reading of a counter; treat it as no observation.
  if (std::isnan(value)) return std::optional<double>();
  return std::optional<double>(value);
}

void SloTracker::Observe(Counter& counter, std::optional<double> value, int64_t at_ms,
                         bool errors) {
  if (!value) return;
  if (counter.value) {
    // A drop is a counter reset: the new value is what was counted since, as
    // Prometheus's increase() takes it.
    double increase = *value >= *counter.value ? *value - *counter.value : *value;
    minutes_.Spread(counter.at_ms, at_ms, increase, errors);
    hours_.Spread(counter.at_ms, at_ms, increase, errors);
  }
  counter.value = value;
  counter.at_ms = std::max(at_ms, counter.at_ms);
}

absl::StatusOr<InstantVector> SloTracker::Update(const SeriesReader& reader, absl::Time now,
                                                 const EvalOptions& options) {
  if (options_.errors == nullptr || options_.total == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("SLO \"", options_.name, "\" has no errors or total expression"));
  }
  int64_t now_ms = absl::ToUnixMillis(now);
  absl::StatusOr<std::optional<double>> errors =
      Read(*options_.errors, "errors", reader, now_ms, options);
  if (!errors.ok()) return errors.status();
  absl::StatusOr<std::optional<double>> total =
      Read(*options_.total, "total", reader, now_ms, options);
  if (!total.ok()) return total.status();
  if (last_update_ms_) now_ms = std::max(now_ms, *last_update_ms_);
  last_update_ms_ = now_ms;
  minutes_.AdvanceTo(now_ms);
  hours_.AdvanceTo(now_ms);
  Observe(errors_, *errors, now_ms, /*errors=*/true);
  Observe(total_, *total, now_ms, /*errors=*/false);
  return Output(absl::FromUnixMillis(now_ms));
}

double SloTracker::Ratio(const Bucket& sum) {
  // No traffic is no errors: ratio 0, so a quiet service burns nothing.
  return sum.total > 0 ? sum.errors / sum.total : 0;
}

double SloTracker::ErrorRatio(absl::Duration window, absl::Time now) const {
  int64_t now_ms = absl::ToUnixMillis(now);
  if (last_update_ms_) now_ms = std::max(now_ms, *last_update_ms_);
  int64_t window_ms = absl::ToInt64Milliseconds(window);
  const Ring& ring = window <= kMinuteSpan ? minutes_ : hours_;
  return Ratio(ring.Sum(window_ms, now_ms));
}

double SloTracker::BurnRate(absl::Duration window, absl::Time now) const {
  return ErrorRatio(window, now) / (1 - options_.objective);
}

double SloTracker::BudgetRemaining(absl::Time now) const {
  int64_t now_ms = absl::ToUnixMillis(now);
  if (last_update_ms_) now_ms = std::max(now_ms, *last_update_ms_);
  double ratio = Ratio(hours_.Sum(absl::ToInt64Milliseconds(options_.window), now_ms));
  return 1 - ratio / (1 - options_.objective);
}

InstantVector SloTracker::Output(absl::Time now) const {
  InstantVector out;
  out.reserve(2 * kSloWindowCount + 2);
  auto add = [&](absl::string_view metric, absl::string_view window, double value) {
    Labels labels{{std::string(kMetricNameLabel), std::string(metric)},
                  {"service", options_.service},
                  {"slo", options_.name}};
    if (!window.empty()) labels.Set("window", window);
    out.push_back({std::move(labels), value, std::nullopt});
  };
  for (const SloWindow& w : kSloWindows) {
    double ratio = ErrorRatio(w.length, now);
    add("slo:error_ratio", w.label, ratio);
    add("slo:burn_rate", w.label, ratio / (1 - options_.objective));
  }
  add("klaxon_slo_error_budget_remaining_ratio", "", BudgetRemaining(now));
  add("klaxon_slo_objective_ratio", "", options_.objective);
  return out;
}

std::string SloRuleNamePrefix(absl::string_view service, absl::string_view slo) {
  std::string name;
  bool word_start = true;
  for (absl::string_view part : {service, slo}) {
    word_start = true;
    for (char c : part) {
      if (!absl::ascii_isalnum(c)) {
        word_start = true;
        continue;
      }
      name.push_back(word_start ? absl::ascii_toupper(c) : c);
      word_start = false;
    }
  }
  // Rule names are metric names, which may not start with a digit.
  if (name.empty() || absl::ascii_isdigit(name[0])) name.insert(0, "Slo");
  return name;
}

namespace {

std::string Quote(absl::string_view value) {
  return absl::StrCat("\"", absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

struct BurnCondition {
  absl::string_view long_window;
  absl::string_view short_window;
  absl::string_view factor;
};

// max without(window) ((long > f and short > f) or (long > g and short > g)).
// `and` and `or` ignore the window label (the two sides differ only in it),
// and the aggregation drops it, so whichever condition holds the alert has
// the labels service and slo only: one alert per SLO.
std::string BurnExpr(const SloOptions& slo, const BurnCondition (&conditions)[2]) {
  std::string selector_prefix = absl::StrCat("slo:burn_rate{service=", Quote(slo.service),
                                             ",slo=", Quote(slo.name), ",window=");
  auto condition = [&](const BurnCondition& c) {
    return absl::StrCat("(", selector_prefix, Quote(c.long_window), "} > ", c.factor,
                        " and ignoring(window) ", selector_prefix, Quote(c.short_window), "} > ",
                        c.factor, ")");
  };
  return absl::StrCat("max without(window) (", condition(conditions[0]), " or ignoring(window) ",
                      condition(conditions[1]), ")");
}

}  // namespace

absl::StatusOr<std::vector<SloAlertRule>> SloAlertingRules(const SloOptions& slo,
                                                           const SloAlertSeverities& severities) {
  struct Alert {
    absl::string_view suffix;
    const std::string& severity;
    BurnCondition conditions[2];
    absl::string_view explained;
  };
  const Alert alerts[] = {
      {"BurnRatePage",
       severities.page,
       {{"1h", "5m", "14.4"}, {"6h", "30m", "6"}},
       "over 14.4x for 1h and 5m, or 6x for 6h and 30m"},
      {"BurnRateTicket",
       severities.ticket,
       {{"1d", "2h", "3"}, {"3d", "6h", "1"}},
       "over 3x for 1d and 2h, or 1x for 3d and 6h"},
  };
  std::string prefix = SloRuleNamePrefix(slo.service, slo.name);
  std::vector<SloAlertRule> rules;
  for (const Alert& alert : alerts) {
    SloAlertRule generated;
    AlertingRuleOptions& rule = generated.options;
    rule.name = absl::StrCat(prefix, alert.suffix);
    rule.service = slo.service;
    rule.severity = alert.severity;
    std::string text = BurnExpr(slo, alert.conditions);
    absl::StatusOr<ExprPtr> expr = ParseExpr(text);
    if (!expr.ok()) {
      return absl::InternalError(
          absl::StrCat("SLO ", slo.service, "/", slo.name, ": generated rule ", rule.name,
                       " does not parse: ", expr.status().message(), ": ", text));
    }
    rule.expr = *std::move(expr);
    generated.expr = std::move(text);
    rule.summary_template = absl::StrCat(
        slo.service, " ", slo.name,
        " SLO burning error budget {{ printf \"%.1f\" $value }}x too fast (", alert.explained, ")");
    rules.push_back(std::move(generated));
  }
  return rules;
}

}  // namespace klaxon
