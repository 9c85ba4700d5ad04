// Config is klaxon's typed configuration, loaded from TOML. Loading validates
// everything (types, units, unknown keys, cross-references, rule expressions)
// and names the file:line:column and key of each error; klaxon refuses to start
// on any. A loaded Config is an immutable value. `klaxon test` files load here
// too, with the same error form.
#ifndef KLAXON_DETECTOR_CONFIG_H_
#define KLAXON_DETECTOR_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "detector/maintenance.h"
#include "exporters/sink.h"
#include "probes/http_probe.h"
#include "probes/log_source.h"
#include "probes/scraper.h"
#include "probes/tcp_probe.h"
#include "rules/alerting_rule.h"
#include "rules/expr.h"
#include "rules/recording_rule.h"
#include "rules/rule_test_runner.h"
#include "rules/slo.h"

namespace klaxon {

struct ServerConfig {
  std::string listen = "127.0.0.1:9477";  // Default: 127.0.0.1:9477. host:port of the HTTP API.
  // Default: "data", relative to the config file's folder. Holds klaxon.db.
  std::string data_dir = "data";
  // Bearer tokens (resolved secrets) accepted by the push API; none: pushes are
  // refused. Compared in constant time.
  std::vector<std::string> push_tokens;
  // Who may acknowledge incidents over the API: name (the actor recorded on
  // the timeline) to bearer token (a resolved secret). None: acknowledging
  // over the API is refused.
  std::vector<std::pair<std::string, std::string>> api_tokens;
  // Default: 16 MiB. Larger request bodies get 413.
  size_t max_body_bytes = 16 << 20;
};

// When an incident's clocks start.
enum class ClockStart { kFirstEvidence, kDetection };

struct SlaConfig {
  // Default: first_evidence (when the rule first saw the condition, before
  // `for`); "detection": when the incident opened.
  ClockStart clock_start = ClockStart::kFirstEvidence;
  // Monthly availability objective ("99.9%" -> 0.999); unset: no availability
  // report or budget for this service.
  std::optional<double> availability;
  // Default: critical. Incidents at or above this severity count as downtime.
  std::string availability_severity = "critical";
  // Met when a sink confirms the ticket.
  std::optional<absl::Duration> time_to_ticket;
  // Met when a person acknowledges the incident (or it resolves first).
  std::optional<absl::Duration> time_to_acknowledge;
  // Met when the incident resolves.
  std::optional<absl::Duration> time_to_resolve;
};

// One [[service.slo]]: an objective for the ratio of two counters' increases,
// tracked by an SloTracker and alerted on by two generated rules (see rules/slo.h).
struct SloConfig {
  std::string name;      // unique within its service; the `slo` label
  double objective = 0;  // "99.9%" -> 0.999; in (0, 1)
  // Default: 30d. The error budget's window; at most 1y.
  absl::Duration window = absl::Hours(24 * 30);
  // PromQL giving the current totals of the bad-events and all-events
  // counters, as written and parsed once at load (set whenever loading succeeded).
  std::string errors;
  ExprPtr parsed_errors;
  std::string total;
  ExprPtr parsed_total;
  // Of the generated ...BurnRatePage and ...BurnRateTicket rules.
  std::string page_severity = "critical";
  std::string ticket_severity = "warning";
};

// One [[service.escalation]] step: if nobody has acknowledged the incident
// `after` its opening, its notifiers tell `notify`.
struct EscalationStep {
  absl::Duration after;
  std::vector<std::string> notify;
};

struct ServiceConfig {
  std::string name;
  SlaConfig sla;
  // Default: "UTC". IANA zone of the service's calendar: availability months.
  std::string time_zone = "UTC";
  // Who the notifier sinks (chat, email) tell about this service's incidents.
  std::vector<std::string> notify;
  // Steps in order of `after` (strictly increasing); an acknowledgement stops them.
  std::vector<EscalationStep> escalation;
  // Default: 0s (off). An acknowledged incident still open this long after the
  // acknowledgement (and every as long again) reminds the notify list.
  absl::Duration ack_timeout = absl::ZeroDuration();
  // Default: 20. No incident of this service sends more notifier messages.
  int max_notifications = 20;
  // Default: "" (none). An incident at or above this severity opens a
  // post-mortem ticket when it resolves.
  std::string postmortem_severity;
  std::vector<SloConfig> slos;  // [[service.slo]], file order
  // Ticket sinks (by name) that get this service's incidents; empty: every sink.
  std::vector<std::string> tickets;
  // Default: 2h. Changes reported for this service this long before an
  // incident's first evidence go on its timeline.
  absl::Duration change_lookback = absl::Hours(2);
};

struct RuleConfig {
  std::string name;
  std::string service;               // Default: "" (no service: ticketed to every sink).
  std::string severity = "warning";  // critical, major, minor, warning or info.
  std::string expr;
  ExprPtr parsed_expr;  // `expr` parsed once at load; set whenever loading succeeded
  absl::Duration for_duration = absl::ZeroDuration();  // `for`. Default: 0s.
  // Default: 0s. A firing alert whose condition cleared keeps firing this long.
  absl::Duration keep_firing_for = absl::ZeroDuration();
  // Template: {{ $labels.x }}, {{ $value | humanize }}. The "summary"
  // annotation; `annotations.summary` in the file lands here too.
  std::string summary;
  std::vector<Label> labels;       // extra alert labels (values are templates), file order
  std::vector<Label> annotations;  // templates, file order; never "summary"
  // Rules this one depends on: while one of them fires, this rule's alerts are
  // attached to its incident and open no ticket of their own.
  std::vector<std::string> depends_on;
  // Default: true. false: the incident stays open when the condition clears,
  // until a person resolves it (POST /api/v1/incidents/{id}/resolve).
  bool auto_resolve = true;
  // Default: 0s (off). An alert firing again this soon after its incident
  // resolved reopens that incident (same ticket) instead of opening another.
  absl::Duration reopen_window = absl::ZeroDuration();
  // Default: 3. An incident reopened this many times is flapping: its
  // notifications are held until it stays resolved for a reopen_window.
  int flap_threshold = 3;
  // Alerts sharing these labels' values form one incident (one ticket for
  // forty hosts); empty: one incident per alert.
  std::vector<std::string> group_by;
  // For the burn-rate rules generated from a [[service.slo]]: its name (the
  // rule's `service` is the SLO's service). Empty for a [[rule]].
  std::string slo;
};

// Severity rank: critical 0, major 1, minor 2, warning 3, info 4; 5 unknown.
int SeverityRank(absl::string_view severity);

// The alerting-rule settings of one [[rule]], for the engine and `klaxon test`.
AlertingRuleOptions AlertingOptionsFor(const RuleConfig& rule);

struct RecordConfig {
  std::string record;  // the output metric name
  std::string expr;
  ExprPtr parsed_expr;        // `expr` parsed once at load; set whenever loading succeeded
  std::vector<Label> labels;  // set on every output sample (static text), file order
};

// The recording-rule settings of one [[record]].
RecordingRuleOptions RecordingOptionsFor(const RecordConfig& record);

// The tracker settings of one [[service.slo]] of `service`.
SloOptions SloOptionsFor(const ServiceConfig& service, const SloConfig& slo);

// [rules]: how the engine evaluates every rule.
struct RulesSettings {
  // Default: 1s. Every rule is also evaluated this often (and every SLO
  // updated), for what changes with time passing alone.
  absl::Duration tick = absl::Seconds(1);
  // Default: 5m, Prometheus's lookback delta. How far back an instant selector
  // looks for a series' newest sample; a series silent longer is absent.
  absl::Duration lookback = absl::Minutes(5);
};

struct Config {
  std::string path;  // the file it came from, for messages
  ServerConfig server;
  RulesSettings rules_settings;  // [rules]
  std::vector<ServiceConfig> services;
  // [[probe.http]] in file order, then the [connectivity] canaries that are URLs.
  std::vector<HttpProbeOptions> http_probes;
  // [[probe.tcp]] in file order, then the tcp:// canaries.
  std::vector<TcpProbeOptions> tcp_probes;
  // [connectivity] canaries: the names of their probes (each the target as written).
  std::vector<std::string> connectivity_canaries;
  std::vector<ScrapeOptions> scrapes;  // [[scrape]], file order
  std::vector<LogSourceOptions> logs;  // [[log]], file order; paths resolved
  // The [[rule]]s in file order, then the two rules generated for each
  // [[service.slo]] (see SloConfig), in file order too.
  std::vector<RuleConfig> rules;
  std::vector<RecordConfig> records;
  std::vector<SinkOptions> sinks;
  std::vector<MaintenanceWindow> maintenance;  // [[maintenance]], file order

  const ServiceConfig* FindService(absl::string_view name) const;
  // data_dir resolved against the config file's folder.
  std::string DataDir() const;
};

// All errors found, one per line, each "FILE:LINE:COLUMN: KEY: what is wrong".
absl::StatusOr<Config> LoadConfigFile(const std::string& path);
// `path` is used in messages and to resolve relative paths.
absl::StatusOr<Config> LoadConfigString(absl::string_view toml, const std::string& path);

// A `klaxon test` file (rule unit tests, see README), with the same error
// form as a config: kInvalidArgument listing every problem as
// "FILE:LINE:COLUMN: KEY: what is wrong". The rule files it names are not
// loaded here; their paths are resolved against the test file's folder.
absl::StatusOr<RuleTestFile> LoadRuleTestFile(const std::string& path);
absl::StatusOr<RuleTestFile> LoadRuleTestString(absl::string_view toml, const std::string& path);

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_CONFIG_H_
