// What every scheduled source in probes/ shares: stable start offsets over an
// interval, the start-lateness statistics behind ProberStats, and the quoting
// of a peer's text in a failure reason. Internal to probes/.
#ifndef KLAXON_PROBES_INTERNAL_PROBE_SCHEDULE_H_
#define KLAXON_PROBES_INTERNAL_PROBE_SCHEDULE_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "probes/http_probe.h"

namespace klaxon::probes_internal {

// A run started later than this after its due time counts as late.
inline constexpr absl::Duration kLateStart = absl::Milliseconds(100);

// FNV-1a: the same name gets the same offset within its interval on every
// start and every machine, so restarts do not reshuffle when targets are hit.
inline uint64_t StableHash(absl::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// A peer's text quoted for a failure reason: cut, so that one huge header or
// line cannot flood the incident timeline.
inline std::string Quote(absl::string_view text, size_t max_chars = 80) {
  if (text.size() <= max_chars) return absl::StrCat("\"", text, "\"");
  return absl::StrCat("\"", text.substr(0, max_chars), "...\"");
}

// The lateness of started runs, written by the prober's thread and read by any.
class StartStats {
 public:
  void Skipped() { skipped_.fetch_add(1, std::memory_order_relaxed); }
  void Started(absl::Duration lateness) {
    started_.fetch_add(1, std::memory_order_relaxed);
    const int64_t ns = absl::ToInt64Nanoseconds(lateness);
    const int bucket = ns <= 1'000'000 ? 0 : ns <= 10'000'000 ? 1 : ns <= 100'000'000 ? 2 : 3;
    buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    if (lateness > kLateStart) late_.fetch_add(1, std::memory_order_relaxed);
    if (ns > max_ns_.load(std::memory_order_relaxed)) max_ns_.store(ns, std::memory_order_relaxed);
  }
  ProberStats Read() const {
    ProberStats stats;
    stats.runs_started = started_.load(std::memory_order_relaxed);
    stats.runs_skipped = skipped_.load(std::memory_order_relaxed);
    stats.started_late = late_.load(std::memory_order_relaxed);
    stats.max_start_lateness = absl::Nanoseconds(max_ns_.load(std::memory_order_relaxed));
    for (int i = 0; i < 4; ++i) stats.lateness_buckets[i] = buckets_[i].load();
    return stats;
  }

 private:
  std::atomic<uint64_t> started_{0};
  std::atomic<uint64_t> skipped_{0};
  std::atomic<uint64_t> late_{0};
  std::atomic<int64_t> max_ns_{0};
  std::atomic<uint64_t> buckets_[4] = {0, 0, 0, 0};
};

}  // namespace klaxon::probes_internal

#endif  // KLAXON_PROBES_INTERNAL_PROBE_SCHEDULE_H_
