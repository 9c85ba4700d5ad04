// SampleStore is an in-memory SeriesReader over complete sample lists: every
// sample of every series is kept, in timestamp order. `klaxon test` loads its
// input series into one and appends recording-rule outputs as it evaluates.
// Not for the daemon (which keeps only the windows rules need). Thread-compatible.
#ifndef KLAXON_RULES_SAMPLE_STORE_H_
#define KLAXON_RULES_SAMPLE_STORE_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "detector/label_matcher.h"
#include "detector/labels.h"
#include "detector/sample.h"
#include "detector/series_reader.h"

namespace klaxon {

class SampleStore : public SeriesReader {
 public:
  SampleStore() = default;
  // Non-copyable: a store can hold millions of samples; copies would be accidental.
  SampleStore(const SampleStore&) = delete;
  SampleStore& operator=(const SampleStore&) = delete;

  // Adds one sample (a stale marker included) and returns its series' id, one
  // per distinct label set in order of first Add. A sample at a timestamp the
  // series already has replaces that sample.
  SeriesId Add(const Labels& labels, int64_t timestamp_ms, double value);

  size_t series_count() const { return series_.size(); }
  size_t sample_count() const;

  // SeriesReader. A series whose newest sample in the lookback window is a stale
  // marker is absent from instant selections, as in Prometheus.
  void SelectInstant(const std::vector<LabelMatcher>& matchers, int64_t at_ms, int64_t lookback_ms,
                     const InstantVisitor& visit) const override;
  void SelectRange(const std::vector<LabelMatcher>& matchers, int64_t at_ms, int64_t range_ms,
                   const RangeVisitor& visit) const override;

 private:
  struct Series {
    Labels labels;
    std::vector<Point> points;  // by timestamp, at most one per timestamp
  };
  std::vector<Series> series_;
  absl::flat_hash_map<Labels, SeriesId> ids_;
};

}  // namespace klaxon

#endif  // KLAXON_RULES_SAMPLE_STORE_H_
