// HttpProber runs every configured HTTP probe on one thread with libcurl's multi
// interface and emits each result as a batch of blackbox-exporter-named series.
// Owned by the daemon; Start() and Stop() from one thread, results go to the
// consumer from the prober's thread.
#ifndef KLAXON_PROBES_HTTP_PROBE_H_
#define KLAXON_PROBES_HTTP_PROBE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "detector/clock.h"
#include "detector/labels.h"
#include "detector/sample.h"
#include "detector/series_index.h"
#include "probes/connectivity.h"

namespace klaxon {

// Which addresses a probe may connect to.
enum class IpFamily { kAny, kIPv4, kIPv6 };

// An accepted range of HTTP status codes; a single code is {code, code}.
struct StatusRange {
  int low = 0;
  int high = 0;
  friend bool operator==(const StatusRange&, const StatusRange&) = default;
};

// A response header that must be present and whose value must match `regex`
// (RE2, unanchored).
struct HeaderExpectation {
  std::string name;  // case-insensitive
  std::string regex;
};

struct HttpProbeOptions {
  std::string name;     // the `probe` label
  std::string service;  // the `service` label
  std::string url;
  std::string method = "GET";  // Default: GET.
  std::vector<Label> headers;  // sent as given
  std::string body;            // sent when not empty
  // Basic auth when `basic_auth_user` is set; the password is the resolved
  // secret (config reads "env:VAR" or "file:PATH"), never logged.
  std::optional<std::string> basic_auth_user;
  std::string basic_auth_password;
  std::string bearer_token;                     // resolved secret; empty: no Authorization header
  absl::Duration interval = absl::Seconds(15);  // Default: 15s. Start to start.
  absl::Duration timeout = absl::Seconds(5);    // Default: 5s. Whole probe, DNS to last byte.
  // Accepted status codes; empty means any 2xx, as the blackbox exporter.
  std::vector<StatusRange> expect_status;
  // RE2 patterns the body must (expect_body) or must not (expect_body_not)
  // contain somewhere, unanchored; unset: no check.
  std::optional<std::string> expect_body;
  std::optional<std::string> expect_body_not;
  std::vector<HeaderExpectation> expect_header;
  // A response slower than this fails the probe ("slow: 2.3s, max_latency 2s").
  std::optional<absl::Duration> max_latency;
  bool follow_redirects = true;  // Default: true, as the blackbox exporter; at most 10.
  IpFamily ip_family = IpFamily::kAny;
  bool tls_verify = true;   // Default: true. false accepts any certificate.
  std::string tls_ca_file;  // PEM bundle to trust instead of the system's; empty: system
  // The probe fails when the peer's earliest certificate expires sooner.
  std::optional<int> tls_min_days;
  // Default: false. Each run makes a fresh DNS lookup, connection and TLS
  // handshake, as a customer's first visit would.
  bool reuse_connection = false;
  // A connectivity canary (see ConnectivityMonitor): its result says whether
  // klaxon itself can reach the outside, not whether a service is up.
  bool canary = false;
};

// How punctually a prober starts its runs, for the scale benchmark and for
// klaxon's own metrics. A run is late by how long after its due time it started.
struct ProberStats {
  uint64_t runs_started = 0;
  // Due while the previous run of the same probe was still in flight (timeout
  // longer than the interval): skipped, since overlapping runs would measure
  // the prober rather than the target.
  uint64_t runs_skipped = 0;
  uint64_t started_late = 0;  // more than 100ms after the due time
  absl::Duration max_start_lateness = absl::ZeroDuration();
  // Runs started within 1ms, 10ms, 100ms of their due time, and later.
  uint64_t lateness_buckets[4] = {0, 0, 0, 0};
};

// What every run emits, one batch per run, each series labelled {probe,
// service} (service omitted when empty), named as the blackbox exporter's:
//   probe_success                   1 or 0; the failure reason is the batch's
//                                   note on it ("" on success)
//   probe_duration_seconds          the whole run, DNS to last byte
//   probe_http_duration_seconds{phase="resolve|connect|tls|processing|transfer"}
//                                   summed over redirects; 0 for a phase not reached
//   probe_http_status_code          of the final response; 0 without one
//   probe_http_redirects
//   probe_http_ssl                  1 when the final response came over TLS
//   probe_ssl_earliest_cert_expiry  unix seconds, earliest NotAfter of the chain
//                                   the peer sent; only when it spoke TLS
//   probe_failed_due_to_regex       1 when expect_header, expect_body or
//                                   expect_body_not failed
// A non-canary failure while the ConnectivityMonitor says klaxon is cut off
// gets the reason "monitor cut off (<reason>)". Secrets (passwords, tokens)
// are replaced by "<redacted>" in every reason.
class HttpProber {
 public:
  // `connectivity` may be null (no canaries configured); it outlives the prober.
  HttpProber(std::vector<HttpProbeOptions> probes, SeriesIndex& index, const Clock& clock,
             SampleConsumer consumer, ConnectivityMonitor* connectivity = nullptr);
  // Non-copyable: owns a thread and curl handles.
  HttpProber(const HttpProber&) = delete;
  HttpProber& operator=(const HttpProber&) = delete;
  ~HttpProber();  // Stops.

  // Starts the probing thread; each probe runs first at a spread offset within
  // its interval, then every interval. kInvalidArgument for an option the
  // prober cannot use (bad URL, bad regex, bad header, unreadable CA file).
  absl::Status Start();
  void Stop();

  // Thread-safe; counts since construction.
  ProberStats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace klaxon

#endif  // KLAXON_PROBES_HTTP_PROBE_H_
