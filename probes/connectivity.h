// ConnectivityMonitor judges whether klaxon itself can reach the outside world,
// from the results of the canary probes ([connectivity] canaries): when every
// canary fails, klaxon's own network is down, not the services. Probers report
// canary results to it and ask it before blaming a target. Thread-safe: the
// HTTP and TCP probers call it from their own threads.
#ifndef KLAXON_PROBES_CONNECTIVITY_H_
#define KLAXON_PROBES_CONNECTIVITY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "detector/clock.h"
#include "detector/sample.h"
#include "detector/series_index.h"

namespace klaxon {

// The reason a probe failure gets while klaxon is cut off.
inline constexpr char kMonitorCutOffReason[] = "monitor cut off";

class ConnectivityMonitor {
 public:
  // `canaries` are the names of the canary probes. Emits klaxon_connectivity_up
  // (1 or 0) to `consumer` on every canary result, from the reporting
  // prober's thread, so that the series stays as fresh as the canaries.
  ConnectivityMonitor(std::vector<std::string> canaries, SeriesIndex& index, const Clock& clock,
                      SampleConsumer consumer);
  // Non-copyable: probers hold a pointer to it.
  ConnectivityMonitor(const ConnectivityMonitor&) = delete;
  ConnectivityMonitor& operator=(const ConnectivityMonitor&) = delete;

  void RecordCanary(const std::string& canary, bool success);
  // True once every canary has reported and the latest result of each failed.
  bool CutOff() const;

 private:
  bool CutOffLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  const SampleConsumer consumer_;
  const SeriesId up_series_;
  mutable absl::Mutex mu_;
  // Canary name -> latest result; absent until the canary first reports.
  absl::flat_hash_map<std::string, std::optional<bool>> latest_ ABSL_GUARDED_BY(mu_);
};

}  // namespace klaxon

#endif  // KLAXON_PROBES_CONNECTIVITY_H_
