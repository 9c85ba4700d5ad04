// TestingSeriesReader is an in-memory SeriesReader for the tests of rules/: a
// list of (labels, timestamp, value) rows, read back with the contract of
// SeriesReader::SelectInstant. Test-only; thread-compatible.
#ifndef KLAXON_RULES_INTERNAL_TESTING_SERIES_READER_H_
#define KLAXON_RULES_INTERNAL_TESTING_SERIES_READER_H_

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "detector/label_matcher.h"
#include "detector/labels.h"
#include "detector/sample.h"
#include "detector/series_reader.h"

namespace klaxon::rules_internal {

class TestingSeriesReader : public SeriesReader {
 public:
  // Returns the series' id: one per distinct label set, in order of first Add.
  SeriesId Add(const Labels& labels, int64_t timestamp_ms, double value) {
    for (size_t i = 0; i < series_.size(); ++i) {
      if (series_[i].labels == labels) {
        series_[i].samples.emplace_back(timestamp_ms, value);
        return static_cast<SeriesId>(i);
      }
    }
    series_.push_back({labels, {{timestamp_ms, value}}});
    return static_cast<SeriesId>(series_.size() - 1);
  }

  void SelectInstant(const std::vector<LabelMatcher>& matchers, int64_t at_ms, int64_t lookback_ms,
                     const InstantVisitor& visit) const override {
    for (size_t i = 0; i < series_.size(); ++i) {
      const Series& s = series_[i];
      if (!MatchesAll(matchers, s.labels)) continue;
      const std::pair<int64_t, double>* newest = nullptr;
      for (const auto& sample : s.samples) {
        if (sample.first <= at_ms && (newest == nullptr || sample.first >= newest->first)) {
          newest = &sample;
        }
      }
      if (newest == nullptr || at_ms - newest->first > lookback_ms || IsStaleNaN(newest->second)) {
        continue;
      }
      visit(static_cast<SeriesId>(i), s.labels, newest->first, newest->second);
    }
  }

  void SelectRange(const std::vector<LabelMatcher>& matchers, int64_t at_ms, int64_t range_ms,
                   const RangeVisitor& visit) const override {
    for (size_t i = 0; i < series_.size(); ++i) {
      const Series& s = series_[i];
      if (!MatchesAll(matchers, s.labels)) continue;
      std::vector<Point> points;
      for (const auto& [t, v] : s.samples) {
        if (t >= at_ms - range_ms && t <= at_ms && !IsStaleNaN(v)) points.push_back({t, v});
      }
      std::sort(points.begin(), points.end(),
                [](const Point& a, const Point& b) { return a.timestamp_ms < b.timestamp_ms; });
      if (!points.empty()) visit(static_cast<SeriesId>(i), s.labels, points);
    }
  }

 private:
  struct Series {
    Labels labels;
    std::vector<std::pair<int64_t, double>> samples;
  };
  std::vector<Series> series_;
};

}  // namespace klaxon::rules_internal

#endif  // KLAXON_RULES_INTERNAL_TESTING_SERIES_READER_H_
