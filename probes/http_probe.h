// HttpProber runs every configured HTTP probe on one thread with libcurl's multi
// interface and emits each result as a batch of blackbox-exporter-named series.
// Owned by the daemon; Start() and Stop() from one thread, results go to the
// consumer from the prober's thread.
#ifndef KLAXON_PROBES_HTTP_PROBE_H_
#define KLAXON_PROBES_HTTP_PROBE_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "detector/clock.h"
#include "detector/sample.h"
#include "detector/series_index.h"

namespace klaxon {

struct HttpProbeOptions {
  std::string name;     // the `probe` label
  std::string service;  // the `service` label
  std::string url;
  absl::Duration interval = absl::Seconds(15);  // Default: 15s. Start to start.
  absl::Duration timeout = absl::Seconds(5);    // Default: 5s. Whole probe, DNS to last byte.
  // Accepted status codes; empty means any 2xx, as the blackbox exporter.
  std::vector<int> expect_status;
  // RE2 pattern the body must contain somewhere (unanchored); unset: no check.
  std::optional<std::string> expect_body;
};

class HttpProber {
 public:
  HttpProber(std::vector<HttpProbeOptions> probes, SeriesIndex& index, const Clock& clock,
             SampleConsumer consumer);
  // Non-copyable: owns a thread and curl handles.
  HttpProber(const HttpProber&) = delete;
  HttpProber& operator=(const HttpProber&) = delete;
  ~HttpProber();  // Stops.

  // Starts the probing thread; each probe runs first at a spread offset within
  // its interval, then every interval.
  absl::Status Start();
  void Stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace klaxon

#endif  // KLAXON_PROBES_HTTP_PROBE_H_
