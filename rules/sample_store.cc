#include "rules/sample_store.h"

#include <algorithm>

namespace klaxon {
namespace {

bool Earlier(const SeriesReader::Point& p, int64_t t) { return p.timestamp_ms < t; }

}  // namespace

SeriesId SampleStore::Add(const Labels& labels, int64_t timestamp_ms, double value) {
  auto [it, inserted] = ids_.try_emplace(labels, static_cast<SeriesId>(series_.size()));
  if (inserted) series_.push_back({labels, {}});
  std::vector<Point>& points = series_[it->second].points;
  // Samples nearly always arrive in order; the search is for the rare one that does not.
  if (points.empty() || points.back().timestamp_ms < timestamp_ms) {
    points.push_back({timestamp_ms, value});
  } else {
    auto at = std::lower_bound(points.begin(), points.end(), timestamp_ms, Earlier);
    if (at != points.end() && at->timestamp_ms == timestamp_ms) {
      at->value = value;
    } else {
      points.insert(at, {timestamp_ms, value});
    }
  }
  return it->second;
}

size_t SampleStore::sample_count() const {
  size_t n = 0;
  for (const Series& s : series_) n += s.points.size();
  return n;
}

void SampleStore::SelectInstant(const std::vector<LabelMatcher>& matchers, int64_t at_ms,
                                int64_t lookback_ms, const InstantVisitor& visit) const {
  for (size_t i = 0; i < series_.size(); ++i) {
    const Series& s = series_[i];
    if (!MatchesAll(matchers, s.labels)) continue;
    // The newest sample at or before at_ms.
    auto after = std::upper_bound(s.points.begin(), s.points.end(), at_ms,
                                  [](int64_t t, const Point& p) { return t < p.timestamp_ms; });
    if (after == s.points.begin()) continue;
    const Point& newest = *(after - 1);
    if (at_ms - newest.timestamp_ms > lookback_ms || IsStaleNaN(newest.value)) continue;
    visit(static_cast<SeriesId>(i), s.labels, newest.timestamp_ms, newest.value);
  }
}

void SampleStore::SelectRange(const std::vector<LabelMatcher>& matchers, int64_t at_ms,
                              int64_t range_ms, const RangeVisitor& visit) const {
  std::vector<Point> window;
  for (size_t i = 0; i < series_.size(); ++i) {
    const Series& s = series_[i];
    if (!MatchesAll(matchers, s.labels)) continue;
    auto from = std::lower_bound(s.points.begin(), s.points.end(), at_ms - range_ms, Earlier);
    window.clear();
    for (auto it = from; it != s.points.end() && it->timestamp_ms <= at_ms; ++it) {
      if (!IsStaleNaN(it->value)) window.push_back(*it);
    }
    if (!window.empty()) visit(static_cast<SeriesId>(i), s.labels, window);
  }
}

}  // namespace klaxon
