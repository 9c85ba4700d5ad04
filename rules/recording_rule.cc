#include "rules/recording_rule.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rules/alerting_rule.h"

namespace klaxon {

RecordingRule::RecordingRule(RecordingRuleOptions options) : options_(std::move(options)) {}

absl::StatusOr<InstantVector> RecordingRule::Evaluate(const SeriesReader& reader, absl::Time now,
                                                      const EvalOptions& options) const {
  if (options_.expr == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("recording rule \"", options_.record, "\" has no expression"));
  }
  absl::StatusOr<EvalResult> result =
      klaxon::Evaluate(*options_.expr, reader, absl::ToUnixMillis(now), options);
  if (!result.ok()) return result.status();
  InstantVector out = RuleQueryVector(*std::move(result));
  absl::flat_hash_set<Labels> seen;
  for (VectorSample& sample : out) {
    sample.labels.Set(kMetricNameLabel, options_.record);
    for (const Label& label : options_.labels) sample.labels.Set(label.name, label.value);
    // A renamed sample is a new series, not the stored one it came from.
    sample.origin.reset();
    if (!seen.insert(sample.labels).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "recording rule \"", options_.record,
          "\": vector contains metrics with the same labelset after applying rule labels: ",
          sample.labels.ToString()));
    }
  }
  return out;
}

}  // namespace klaxon
