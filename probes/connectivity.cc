#include "probes/connectivity.h"

#include <utility>

#include "detector/labels.h"

namespace klaxon {

ConnectivityMonitor::ConnectivityMonitor(std::vector<std::string> canaries, SeriesIndex& index,
                                         const Clock& clock, SampleConsumer consumer)
    : clock_(clock),
      consumer_(std::move(consumer)),
      up_series_(
          index.Intern(Labels({{std::string(kMetricNameLabel), "klaxon_connectivity_up"}}))) {
  for (std::string& name : canaries) latest_.try_emplace(std::move(name));
}

void ConnectivityMonitor::RecordCanary(const std::string& canary, bool success) {
  absl::MutexLock lock(&mu_);
  auto it = latest_.find(canary);
  // A probe marked canary but not named in the list still counts: the list is
  // only what the monitor waits for before it may judge.
  if (it == latest_.end()) it = latest_.try_emplace(canary).first;
  it->second = success;
  // Every result is emitted, not only changes, so that the series stays fresh
  // for windows and staleness. Under the lock: two probers' results must reach
  // the engine in the order in which they changed what the monitor knows.
  SampleBatch batch;
  batch.samples.push_back(
      {up_series_, absl::ToUnixMillis(clock_.WallNow()), CutOffLocked() ? 0.0 : 1.0});
  consumer_(std::move(batch));
}

bool ConnectivityMonitor::CutOff() const {
  absl::MutexLock lock(&mu_);
  return CutOffLocked();
}

bool ConnectivityMonitor::CutOffLocked() const {
  if (latest_.empty()) return false;
  for (const auto& [name, result] : latest_) {
    if (!result.has_value() || *result) return false;
  }
  return true;
}

}  // namespace klaxon
