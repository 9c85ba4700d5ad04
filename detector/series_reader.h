// SeriesReader is the one way rules read series: the engine implements it over
// its windows, `klaxon test` over a simulated store. Thread-compatible: called
// from the thread that evaluates rules.
#ifndef KLAXON_DETECTOR_SERIES_READER_H_
#define KLAXON_DETECTOR_SERIES_READER_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "detector/label_matcher.h"
#include "detector/labels.h"
#include "absl/types/span.h"
#include "detector/sample.h"

namespace klaxon {

class SeriesReader {
 public:
  virtual ~SeriesReader() = default;

  // Calls `visit` with every stored series matching all `matchers` whose newest
  // sample at or before `at_ms` is no older than `lookback_ms` (the window
  // [at - lookback, at], both ends included, as in Prometheus 2.x), with that sample.
  using InstantVisitor =
      std::function<void(SeriesId, const Labels&, int64_t timestamp_ms, double value)>;
  virtual void SelectInstant(const std::vector<LabelMatcher>& matchers, int64_t at_ms,
                             int64_t lookback_ms, const InstantVisitor& visit) const = 0;

  // One stored sample; 16 bytes.
  struct Point {
    int64_t timestamp_ms;
    double value;
  };
  // Calls `visit` with every stored series matching all `matchers` that has
  // samples in [at - range, at] (both ends included, as Prometheus 2.x), with
  // those samples oldest first. Stale markers are not passed on. The span is
  // valid only during the call.
  using RangeVisitor =
      std::function<void(SeriesId, const Labels&, absl::Span<const Point> points)>;
  virtual void SelectRange(const std::vector<LabelMatcher>& matchers, int64_t at_ms,
                           int64_t range_ms, const RangeVisitor& visit) const = 0;
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_SERIES_READER_H_
