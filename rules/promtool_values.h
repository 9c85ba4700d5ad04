// The expanding notation of promtool's input series ("0+10x30", "1 _ stale 3",
// "1x5", "_x3"), parsed into one entry per step of the series' interval, as
// Prometheus's series-description grammar does. Pure functions; thread-safe.
//
// Items are separated by spaces; each expands to one or more steps:
//   N           one value: a decimal number, optionally signed (-1, +2.5, 1e3),
//               or Inf / NaN (any case, optionally signed)
//   stale       a stale marker (StaleNaN): the series ends there
//   _           no sample at this step
//   NxK         N repeated: K+1 values
//   N+DxK N-DxK K+1 values starting at N, each D more (less) than the one before,
//               accumulated by repeated addition as promtool does
//   _xK         K steps without samples (K, not K+1, as promtool)
// Hexadecimal numbers are not accepted, as in promtool ("0x10" would be ambiguous).
#ifndef KLAXON_RULES_PROMTOOL_VALUES_H_
#define KLAXON_RULES_PROMTOOL_VALUES_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace klaxon {

// One entry per step; std::nullopt where the step has no sample ("_").
// On error returns kInvalidArgument whose message starts with "column N: "
// (1-based byte column inside `text`).
absl::StatusOr<std::vector<std::optional<double>>> ParsePromtoolValues(absl::string_view text);

}  // namespace klaxon

#endif  // KLAXON_RULES_PROMTOOL_VALUES_H_
