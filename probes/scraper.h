// Scraper pulls the Prometheus text format (or OpenMetrics) from targets at an
// interval, as Prometheus does, on one thread with libcurl's multi interface,
// and delivers each scrape as one SampleBatch. Owned by the daemon; Start() and
// Stop() from one thread, batches go to the consumer from the scraper's thread.
//
// Per target and scrape the batch holds every scraped sample (stamped with the
// scrape's start unless the line has its own timestamp), stale markers for the
// series that went away, and `up`, `scrape_duration_seconds`,
// `scrape_samples_scraped` and `scrape_samples_post_metric_relabeling`, all with
// the target labels (job, instance, configured labels). A failed scrape (no
// connection, non-2xx, parse error, sample_limit, body too large) gives up=0, a
// SeriesNote with the reason on `up`, and stale markers for every series of the
// last successful scrape.
#ifndef KLAXON_PROBES_SCRAPER_H_
#define KLAXON_PROBES_SCRAPER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "detector/clock.h"
#include "detector/labels.h"
#include "detector/sample.h"
#include "detector/series_index.h"

namespace klaxon {

// What Prometheus sends: OpenMetrics preferred, the text format accepted.
inline constexpr char kScrapeAcceptHeader[] =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

struct ScrapeOptions {
  std::string job;                   // the `job` label; required
  std::vector<std::string> targets;  // URLs, e.g. "http://127.0.0.1:9100/metrics"; `instance`
                                     // is each URL's host:port (the scheme's port when absent)
  absl::Duration interval = absl::Seconds(15);  // Default: 15s. Start to start.
  absl::Duration timeout = absl::Seconds(10);   // Default: 10s. Connect to last byte; <= interval.
  // Target labels added to every series. They override `job` and `instance`
  // when they name them, as static_configs labels do in Prometheus.
  std::vector<Label> labels;
  // false: a scraped label that clashes with a target label is kept as
  // exported_<name> (exported_exported_<name> if that is taken too) and the
  // target label wins. true: the scraped value wins.
  bool honor_labels = false;
  // 0: no limit. A scrape with more samples fails whole (up=0), as in Prometheus.
  size_t sample_limit = 0;
  // Default: 64 MiB of decoded body; a larger body fails the scrape.
  size_t body_size_limit = size_t{64} << 20;
};

class Scraper {
 public:
  Scraper(std::vector<ScrapeOptions> jobs, SeriesIndex& index, const Clock& clock,
          SampleConsumer consumer);
  // Non-copyable: owns a thread, curl handles and per-target series caches.
  Scraper(const Scraper&) = delete;
  Scraper& operator=(const Scraper&) = delete;
  ~Scraper();  // Stops.

  // Checks every job (kInvalidArgument naming the job) and starts the thread.
  // Each target is first scraped at a stable offset within its interval (a
  // hash of job and URL), then every interval.
  absl::Status Start();
  // Returns promptly, abandoning scrapes in flight. Idempotent.
  void Stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace klaxon

#endif  // KLAXON_PROBES_SCRAPER_H_
