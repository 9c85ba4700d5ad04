// Labels is a metric name plus label set, kept sorted by label name so that equal
// sets compare and hash equal. A value type: copy freely off the hot path; hot
// paths carry the SeriesId that SeriesIndex interns for a Labels instead.
#ifndef KLAXON_DETECTOR_LABELS_H_
#define KLAXON_DETECTOR_LABELS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"

namespace klaxon {

// The label that holds a series' metric name, as in Prometheus.
inline constexpr absl::string_view kMetricNameLabel = "__name__";

struct Label {
  std::string name;
  std::string value;
  friend bool operator==(const Label&, const Label&) = default;
  friend auto operator<=>(const Label&, const Label&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Label& l) {
    return H::combine(std::move(h), l.name, l.value);
  }
};

class Labels {
 public:
  Labels() = default;
  // Sorts by name; a later duplicate name replaces an earlier one.
  explicit Labels(std::vector<Label> labels);
  Labels(std::initializer_list<Label> labels) : Labels(std::vector<Label>(labels)) {}

  // Returns "" for an absent label, as Prometheus treats absent and empty alike.
  absl::string_view Get(absl::string_view name) const;
  bool Has(absl::string_view name) const;
  absl::string_view MetricName() const { return Get(kMetricNameLabel); }

  // Sets (or with an empty value, removes) one label, keeping the order.
  void Set(absl::string_view name, absl::string_view value);
  Labels WithoutMetricName() const;

  const std::vector<Label>& items() const { return labels_; }
  bool empty() const { return labels_.empty(); }
  size_t size() const { return labels_.size(); }

  // Prometheus notation: `name{a="x", b="y"}`, values escaped.
  std::string ToString() const;
  // A stable 64-bit hash of the set (FNV-1a over names and values); the same
  // labels give the same fingerprint on every machine and every run.
  uint64_t Fingerprint() const;

  friend bool operator==(const Labels&, const Labels&) = default;
  friend auto operator<=>(const Labels&, const Labels&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Labels& l) {
    return H::combine(std::move(h), l.labels_);
  }

 private:
  std::vector<Label> labels_;
};

// Prometheus's name syntax: label names [a-zA-Z_][a-zA-Z0-9_]*, metric
// names [a-zA-Z_:][a-zA-Z0-9_:]*.
bool IsLabelName(absl::string_view name);
bool IsMetricName(absl::string_view name);

// Parses Prometheus series notation: `up`, `up{job="api"}`, `{__name__="up"}`.
absl::StatusOr<Labels> ParseSeries(absl::string_view text);

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_LABELS_H_
