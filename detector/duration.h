// Parsing and printing of the config's quantities: Prometheus durations
// ("500ms", "30s", "1h30m", "30d", "1w", "1y") and percentages ("99.9%").
// Pure functions.
#ifndef KLAXON_DETECTOR_DURATION_H_
#define KLAXON_DETECTOR_DURATION_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace klaxon {

// Units ms, s, m, h, d (24h), w (7d), y (365d), largest first, each at most once,
// as Prometheus's model.ParseDuration. "0" alone is zero. Negative is an error.
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text);
// The inverse, in the shortest Prometheus form: "1h30m", "500ms", "0s".
std::string DurationToString(absl::Duration d);

// "99.9%" -> 0.999. The number must be within [0, 100].
absl::StatusOr<double> ParsePercent(absl::string_view text);

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_DURATION_H_
