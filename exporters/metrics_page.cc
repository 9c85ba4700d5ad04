#include "exporters/metrics_page.h"

#include <charconv>
#include <cmath>
#include <map>
#include <sstream>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "prometheus/gauge.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace klaxon {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

// A sample value as prometheus-cpp's serializer writes it (printf's %.16g),
// so that both halves of the page read alike.
void AppendValue(double value, std::string& out) {
  if (std::isnan(value)) {
    out += "Nan";
  } else if (std::isinf(value)) {
    out += value < 0 ? "-Inf" : "+Inf";
  } else {
    char buffer[64];
    auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value,
                                      std::chars_format::general, 16);
    out.append(buffer, error == std::errc() ? end : buffer);
  }
}

void AppendLabelValue(absl::string_view value, std::string& out) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// Source series, one family per metric name in name order, without
// timestamps, as the blackbox exporter and mtail export theirs: a name ending
// in _total is a counter (the Prometheus naming convention every source here
// follows), anything else a gauge. Written straight into the text: one
// prometheus-cpp ClientMetric per series made up half the page's cost.
void AppendSourceSeries(const std::vector<SourceSeriesValue>& series, std::string& out) {
  std::map<absl::string_view, std::vector<const SourceSeriesValue*>> by_name;
  for (const SourceSeriesValue& s : series) {
    absl::string_view name = s.labels->MetricName();
    if (!name.empty()) by_name[name].push_back(&s);
  }
  for (const auto& [name, members] : by_name) {
    absl::StrAppend(&out, "# HELP ", name, " Produced by a klaxon source\n# TYPE ", name,
                    absl::EndsWith(name, "_total") ? " counter\n" : " gauge\n");
    for (const SourceSeriesValue* s : members) {
      out.append(name.data(), name.size());
      bool first = true;
      for (LabelRef l : s->labels->items()) {
        if (l.name == kMetricNameLabel) continue;
        out += first ? '{' : ',';
        first = false;
        out.append(l.name.data(), l.name.size());
        out += "=\"";
        AppendLabelValue(l.value, out);
        out += '"';
      }
      if (!first) out += '}';
      out += ' ';
      AppendValue(s->value, out);
      out += '\n';
    }
  }
}

void Add(MetricFamily& family, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric metric;
  metric.label = std::move(labels);
  switch (family.type) {
    case MetricType::Counter: metric.counter.value = value; break;
    case MetricType::Gauge: metric.gauge.value = value; break;
    default: metric.untyped.value = value; break;
  }
  family.metric.push_back(std::move(metric));
}

void AddHistogram(MetricFamily& family, std::vector<ClientMetric::Label> labels,
                  const HistogramSnapshot& snapshot) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.histogram.sample_count = snapshot.count;
  metric.histogram.sample_sum = snapshot.sum_seconds;
  for (const auto& [bound, count] : snapshot.cumulative) {
    metric.histogram.bucket.push_back({count, bound});
  }
  family.metric.push_back(std::move(metric));
}

}  // namespace

MetricsPage::MetricsPage(std::string version) : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::BuildGauge()
      .Name("klaxon_build_info")
      .Help("klaxon's version; always 1")
      .Register(*registry_)
      .Add({{"version", version}})
      .Set(1);
  prometheus::BuildGauge()
      .Name("klaxon_start_time_seconds")
      .Help("When this klaxon process started, in seconds since the epoch")
      .Register(*registry_)
      .Add({})
      .Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
}

MetricsPage::~MetricsPage() = default;

std::string MetricsPage::Render(const LedgerStats& ledger,
                                const std::vector<IncidentKey>& incident_keys,
                                const std::vector<std::string>& sinks,
                                const std::vector<SourceSeriesValue>& series,
                                const EngineFacts& engine,
                                const std::vector<ServiceAvailabilityValue>& availability) const {
  std::vector<MetricFamily> families = registry_->Collect();

  std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>> incidents;
  for (const IncidentKey& key : incident_keys) incidents[{key.service, key.severity}];
  for (const auto& row : ledger.open) incidents[{row.service, row.severity}].first = row.count;
  for (const auto& row : ledger.opened) incidents[{row.service, row.severity}].second = row.count;
  MetricFamily open = Family("klaxon_incidents_open", "Incidents not yet resolved",
                             MetricType::Gauge);
  MetricFamily opened = Family("klaxon_incidents_total", "Incidents ever opened",
                               MetricType::Counter);
  for (const auto& [key, counts] : incidents) {
    Add(open, {{"service", key.first}, {"severity", key.second}}, counts.first);
    Add(opened, {{"service", key.first}, {"severity", key.second}}, counts.second);
  }
  families.push_back(std::move(open));
  families.push_back(std::move(opened));

  MetricFamily breaches = Family("klaxon_sla_clock_breaches_total",
                                 "SLA clocks whose deadline passed before they were met",
                                 MetricType::Counter);
  for (const auto& row : ledger.clock_breaches) {
    Add(breaches, {{"service", row.service}, {"clock", row.clock}}, row.count);
  }
  families.push_back(std::move(breaches));
  MetricFamily met = Family("klaxon_sla_clock_met_total", "SLA clocks met before their deadline",
                            MetricType::Counter);
  for (const auto& row : ledger.clock_met) {
    Add(met, {{"service", row.service}, {"clock", row.clock}}, row.count);
  }
  families.push_back(std::move(met));

  MetricFamily availability_ratio =
      Family("klaxon_sla_availability_ratio",
             "Availability this calendar month in the service's time zone: 1 - downtime / "
             "(month - maintenance)",
             MetricType::Gauge);
  MetricFamily budget_ratio = Family("klaxon_sla_error_budget_remaining_ratio",
                                     "Share of this month's allowed downtime not yet used; "
                                     "negative when overspent",
                                     MetricType::Gauge);
  for (const ServiceAvailabilityValue& value : availability) {
    Add(availability_ratio, {{"service", value.service}}, value.availability);
    Add(budget_ratio, {{"service", value.service}}, value.error_budget_remaining);
  }
  families.push_back(std::move(availability_ratio));
  families.push_back(std::move(budget_ratio));

  struct SinkCounts {
    int64_t pending = 0;
    int64_t delivered = 0;
    int64_t failed = 0;
    int64_t dead = 0;
  };
  std::map<std::string, SinkCounts> by_sink;
  for (const std::string& sink : sinks) by_sink[sink];
  for (const auto& row : ledger.outbox_pending) by_sink[row.sink].pending = row.count;
  for (const auto& row : ledger.delivered) by_sink[row.sink].delivered = row.count;
  for (const auto& row : ledger.failed_attempts) by_sink[row.sink].failed = row.count;
  for (const auto& row : ledger.dead_letters) by_sink[row.sink].dead = row.count;
  MetricFamily dead = Family("klaxon_outbox_dead_letters",
                             "Deliveries given up on after the sink's dead_letter_after; "
                             "POST /api/v1/outbox/{id}/retry sends one again",
                             MetricType::Gauge);
  MetricFamily pending = Family("klaxon_outbox_pending", "Deliveries owed and not yet confirmed",
                                MetricType::Gauge);
  MetricFamily delivered = Family("klaxon_sink_deliveries_total",
                                  "Delivery attempts by outcome: success (the receiver "
                                  "accepted) or failure (retried later)",
                                  MetricType::Counter);
  for (const auto& [sink, counts] : by_sink) {
    Add(pending, {{"sink", sink}}, counts.pending);
    Add(dead, {{"sink", sink}}, counts.dead);
    Add(delivered, {{"sink", sink}, {"result", "success"}}, counts.delivered);
    Add(delivered, {{"sink", sink}, {"result", "failure"}}, counts.failed);
  }
  families.push_back(std::move(pending));
  families.push_back(std::move(dead));
  families.push_back(std::move(delivered));

  MetricFamily samples = Family("klaxon_samples_ingested_total",
                                "Samples received from every source", MetricType::Counter);
  Add(samples, {}, static_cast<double>(engine.samples_ingested));
  families.push_back(std::move(samples));
  MetricFamily series_count = Family("klaxon_series", "Series klaxon has seen", MetricType::Gauge);
  Add(series_count, {}, static_cast<double>(engine.series));
  families.push_back(std::move(series_count));
  MetricFamily tick_duration = Family("klaxon_engine_tick_duration_seconds",
                                      "How long each rule evaluation tick took",
                                      MetricType::Histogram);
  AddHistogram(tick_duration, {}, engine.tick_duration);
  families.push_back(std::move(tick_duration));
  MetricFamily lateness = Family("klaxon_engine_timer_lateness_seconds",
                                 "How late the engine ran a timer after it was due: the "
                                 "evaluation tick, or a rule's `for` deadline",
                                 MetricType::Histogram);
  AddHistogram(lateness, {{"timer", "tick"}}, engine.tick_lateness);
  AddHistogram(lateness, {{"timer", "for"}}, engine.for_lateness);
  families.push_back(std::move(lateness));

  std::ostringstream out;
  // The serializer writes through the stream's locale; the classic one keeps
  // "0.5" from becoming "0,5" under a foreign global locale.
  out.imbue(std::locale::classic());
  prometheus::TextSerializer().Serialize(out, families);
  std::string text = out.str();
  AppendSourceSeries(series, text);
  return text;
}

}  // namespace klaxon
