// DurationHistogram counts how long something took (or how late it ran) in
// Prometheus's default histogram buckets, so that /metrics can export it as a
// histogram. The engine owns its timing histograms and records on its own
// thread; Snapshot() may run on any thread (the /metrics handler's).
#ifndef KLAXON_DETECTOR_DURATION_HISTOGRAM_H_
#define KLAXON_DETECTOR_DURATION_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace klaxon {

struct HistogramSnapshot {
  // (upper bound in seconds, observations at or below it), ascending; the
  // +Inf bucket is `count`.
  std::vector<std::pair<double, uint64_t>> cumulative;
  double sum_seconds = 0;
  uint64_t count = 0;
};

class DurationHistogram {
 public:
  // Prometheus's client libraries' default buckets.
  static constexpr std::array<double, 11> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,    2.5,   5,    10};

  void Observe(absl::Duration d) {
    double seconds = absl::ToDoubleSeconds(d);
    size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_relaxed);
  }

  HistogramSnapshot Snapshot() const {
    HistogramSnapshot snapshot;
    uint64_t running = 0;
    for (size_t i = 0; i < kBounds.size(); ++i) {
      running += buckets_[i].load(std::memory_order_relaxed);
      snapshot.cumulative.emplace_back(kBounds[i], running);
    }
    snapshot.count = running + buckets_[kBounds.size()].load(std::memory_order_relaxed);
    snapshot.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return snapshot;
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};  // the last is +Inf
  std::atomic<int64_t> sum_ns_{0};
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_DURATION_HISTOGRAM_H_
