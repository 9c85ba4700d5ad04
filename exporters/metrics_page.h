// MetricsPage renders klaxon's /metrics in the Prometheus text format: its own
// state (from the ledger's durable counts), the newest value of every series
// its sources produced, and process-level facts, through prometheus-cpp's core
// registry and text serializer. Thread-safe: Render() may run on any thread.
#ifndef KLAXON_EXPORTERS_METRICS_PAGE_H_
#define KLAXON_EXPORTERS_METRICS_PAGE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "detector/duration_histogram.h"
#include "detector/incident.h"
#include "detector/labels.h"

namespace prometheus {
class Registry;
}

namespace klaxon {

struct SourceSeriesValue {
  const Labels* labels;  // owned by the SeriesIndex, which outlives the render
  double value;
};

struct EngineFacts {
  uint64_t samples_ingested = 0;
  uint64_t series = 0;
  HistogramSnapshot tick_duration;
  HistogramSnapshot tick_lateness;
  HistogramSnapshot for_lateness;
};

// A service's availability this calendar month (see detector/availability.h).
struct ServiceAvailabilityValue {
  std::string service;
  double availability;
  double error_budget_remaining;
};

// A (service, severity) pair klaxon can open incidents for; exported at 0 when
// nothing is open, so that queries and alerts on it see a value, not absence.
struct IncidentKey {
  std::string service;
  std::string severity;
};

class MetricsPage {
 public:
  explicit MetricsPage(std::string version);
  // Non-copyable: owns the registry.
  MetricsPage(const MetricsPage&) = delete;
  MetricsPage& operator=(const MetricsPage&) = delete;
  ~MetricsPage();

  std::string Render(const LedgerStats& ledger, const std::vector<IncidentKey>& incident_keys,
                     const std::vector<std::string>& sinks,
                     const std::vector<SourceSeriesValue>& series, const EngineFacts& engine,
                     const std::vector<ServiceAvailabilityValue>& availability) const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
};

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_METRICS_PAGE_H_
