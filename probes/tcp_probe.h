// TcpProber runs every configured TCP connect probe ([[probe.tcp]]) on one
// thread and emits each result as blackbox-exporter-named series: connect,
// optionally send a line, optionally expect a reply matching a regex. Owned by
// the daemon; Start() and Stop() from one thread, results go to the consumer
// from the prober's thread.
#ifndef KLAXON_PROBES_TCP_PROBE_H_
#define KLAXON_PROBES_TCP_PROBE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "detector/clock.h"
#include "detector/sample.h"
#include "detector/series_index.h"
#include "probes/connectivity.h"
#include "probes/http_probe.h"

namespace klaxon {

struct TcpProbeOptions {
  std::string name;                             // the `probe` label
  std::string service;                          // the `service` label
  std::string address;                          // "host:port"; [v6]:port for a literal IPv6 address
  absl::Duration interval = absl::Seconds(15);  // Default: 15s. Start to start.
  absl::Duration timeout = absl::Seconds(5);    // Default: 5s. Connect to last byte.
  // Written after connecting, followed by "\n" unless it already ends in one.
  std::string send;
  // RE2, unanchored: a line of the reply must match before the timeout.
  std::optional<std::string> expect;
  IpFamily ip_family = IpFamily::kAny;
  bool canary = false;  // see HttpProbeOptions::canary
};

// What every run emits, one batch per run, each series labelled {probe,
// service}: probe_success (with the failure reason as its note),
// probe_duration_seconds (DNS lookup to the matching line, or to the
// connection when nothing is expected) and
// probe_failed_due_to_regex (1 when a reply came but no line matched
// `expect`). The first address of the host that accepts is used, as a client
// library would; "localhost" is ::1 and 127.0.0.1 without asking the resolver.
class TcpProber {
 public:
  // `connectivity` may be null (no canaries configured); it outlives the prober.
  TcpProber(std::vector<TcpProbeOptions> probes, SeriesIndex& index, const Clock& clock,
            SampleConsumer consumer, ConnectivityMonitor* connectivity = nullptr);
  // Non-copyable: owns a thread and its sockets.
  TcpProber(const TcpProber&) = delete;
  TcpProber& operator=(const TcpProber&) = delete;
  ~TcpProber();  // Stops.

  // kInvalidArgument for an option the prober cannot use (bad address, bad regex).
  absl::Status Start();
  void Stop();

  // Thread-safe; counts since construction.
  ProberStats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace klaxon

#endif  // KLAXON_PROBES_TCP_PROBE_H_
