// Costs on the detection path: interning a series, a probe result through the
// engine to an evaluated rule, and one durable ledger transaction.
#include <malloc.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "detector/clock.h"
#include "detector/config.h"
#include "detector/engine.h"
#include "detector/ledger.h"
#include "detector/series_index.h"
#include "exporters/metrics_page.h"

namespace klaxon {
namespace {

void BM_SeriesIndexInternExisting(benchmark::State& state) {
  SeriesIndex index;
  Labels labels{{"__name__", "probe_success"}, {"probe", "checkout-home"}, {"service", "checkout"}};
  index.Intern(labels);
  for (auto _ : state) benchmark::DoNotOptimize(index.Intern(labels));
}
BENCHMARK(BM_SeriesIndexInternExisting);

// One probe result (3 samples) into the engine and the rule that reads it
// evaluated, with the condition false (the common case: the service is up).
void BM_EngineProbeResultToEvaluatedRule(benchmark::State& state) {
  std::string dir = (std::filesystem::temp_directory_path() / "klaxon-bench-engine").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  absl::StatusOr<Config> config = LoadConfigString(R"(
[[rule]]
name = "Down"
expr = 'probe_success{probe="p"} == 0'
for = "30s"
)",
                                                   dir + "/klaxon.toml");
  if (!config.ok()) {
    state.SkipWithError(std::string(config.status().message()).c_str());
    return;
  }
  auto ledger = Ledger::Open(dir + "/klaxon.db");
  SeriesIndex index;
  FakeClock clock;
  Engine engine(*config, index, **ledger, clock, nullptr);
  (void)engine.Init();
  SeriesId success = index.Intern({{"__name__", "probe_success"}, {"probe", "p"}});
  SeriesId duration = index.Intern({{"__name__", "probe_duration_seconds"}, {"probe", "p"}});
  SeriesId status = index.Intern({{"__name__", "probe_http_status_code"}, {"probe", "p"}});
  int64_t t = absl::ToUnixMillis(clock.WallNow());
  for (auto _ : state) {
    clock.Advance(absl::Milliseconds(10));
    t += 10;
    engine.Ingest({{{success, t, 1}, {duration, t, 0.01}, {status, t, 200}}, {}});
    engine.ProcessPending();
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_EngineProbeResultToEvaluatedRule);

// One incident opened with a clock and an outbox row: a synchronous=FULL
// SQLite transaction, the floor of detection-to-delivery latency.
void BM_LedgerOpenIncident(benchmark::State& state) {
  std::string dir = (std::filesystem::temp_directory_path() / "klaxon-bench-ledger").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto ledger = Ledger::Open(dir + "/klaxon.db");
  Incident incident;
  incident.rule = "Down";
  incident.severity = "critical";
  incident.first_evidence = absl::Now();
  incident.opened_at = absl::Now();
  uint64_t n = 0;
  for (auto _ : state) {
    incident.fingerprint = ++n;
    incident.labels = Labels{{"alertname", "Down"}, {"probe", absl::StrCat("p", n)}};
    auto opened = (*ledger)->OpenIncident(incident, {{"time_to_ticket", absl::Minutes(5)}},
                                          Routing{{"tickets"}});
    benchmark::DoNotOptimize(opened);
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_LedgerOpenIncident)->Unit(benchmark::kMicrosecond);

// The tick that evaluates every rule: 100 rules, each `rate(...[5m]) > 10` over
// 1,000 of 100,000 active counters (one value of a `team` label) holding 5
// minutes of 15s samples, none of them firing.
void BM_EngineTick100RulesOver100kSeries(benchmark::State& state) {
  std::string dir = (std::filesystem::temp_directory_path() / "klaxon-bench-tick").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string rules;
  for (int r = 0; r < 100; ++r) {
    absl::StrAppend(&rules, "[[rule]]\nname = \"HighRate", r,
                    "\"\nexpr = 'rate(http_requests_total{team=\"t", r, "\"}[5m]) > 10'\n");
  }
  absl::StatusOr<Config> config = LoadConfigString(rules, dir + "/klaxon.toml");
  if (!config.ok()) {
    state.SkipWithError(std::string(config.status().message()).c_str());
    return;
  }
  auto ledger = Ledger::Open(dir + "/klaxon.db");
  SeriesIndex index;
  FakeClock clock;
  EngineOptions options;
  options.tick = absl::Milliseconds(1);
  Engine engine(*config, index, **ledger, clock, nullptr, options);
  (void)engine.Init();
  std::vector<SeriesId> ids;
  for (int i = 0; i < 100'000; ++i) {
    ids.push_back(index.Intern({{"__name__", "http_requests_total"},
                                {"team", absl::StrCat("t", i % 100)},
                                {"instance", absl::StrCat("host-", i)}}));
  }
  for (int step = 0; step <= 20; ++step) {
    clock.Advance(absl::Seconds(15));
    SampleBatch batch;
    int64_t t = absl::ToUnixMillis(clock.WallNow());
    for (SeriesId id : ids) batch.samples.push_back({id, t, step * 15.0});
    engine.Ingest(std::move(batch));
    engine.ProcessPending();
  }
  for (auto _ : state) {
    clock.Advance(absl::Milliseconds(1));  // exactly one tick due: all 100 rules evaluated
    engine.ProcessPending();
  }
  state.counters["rules"] = 100;
  state.counters["series"] = 100'000;
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_EngineTick100RulesOver100kSeries)->Unit(benchmark::kMillisecond);

// Heap bytes the engine holds per series, for 100,000 series that no rule
// reads against 100,000 that one rule reads with a 5m window of 15s samples.
void BM_EngineMemoryPerSeries(benchmark::State& state) {
  const bool read_by_rule = state.range(0) == 1;
  std::string dir = (std::filesystem::temp_directory_path() / "klaxon-bench-memory").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  absl::StatusOr<Config> config = LoadConfigString(R"(
[[rule]]
name = "Fast"
expr = 'rate(read_total[5m]) > 1000'
)",
                                                   dir + "/klaxon.toml");
  auto ledger = Ledger::Open(dir + "/klaxon.db");
  for (auto _ : state) {
    SeriesIndex index;
    std::vector<SeriesId> ids;
    for (int i = 0; i < 100'000; ++i) {
      ids.push_back(index.Intern({{"__name__", read_by_rule ? "read_total" : "unread_total"},
                                  {"instance", absl::StrCat("host-", i)}}));
    }
    FakeClock clock;
    size_t before = mallinfo2().uordblks;
    {
      Engine engine(*config, index, **ledger, clock, nullptr);
      (void)engine.Init();
      for (int step = 0; step <= 20; ++step) {
        clock.Advance(absl::Seconds(15));
        SampleBatch batch;
        for (SeriesId id : ids) batch.samples.push_back({id, absl::ToUnixMillis(clock.WallNow()), 1.0 * step});
        engine.Ingest(std::move(batch));
        engine.ProcessPending();
      }
      state.counters["bytes_per_series"] = double(mallinfo2().uordblks - before) / ids.size();
    }
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_EngineMemoryPerSeries)->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace klaxon

// Issue 6, figure 5: /metrics with 10,000 probe series rendered in under 20 ms.
// Arg: series per probe (1: probe_success only, 10,000 series; 8: the
// blackbox set per probe, 80,000 series). The ledger's counts are those of a
// busy day: 50 services x 5 severities.
void BM_MetricsPageRender10kProbes(benchmark::State& state) {
  const int per_probe = static_cast<int>(state.range(0));
  static const char* kNames[] = {"probe_success",
                                 "probe_duration_seconds",
                                 "probe_http_status_code",
                                 "probe_http_redirects",
                                 "probe_http_ssl",
                                 "probe_ssl_earliest_cert_expiry",
                                 "probe_failed_due_to_regex",
                                 "probe_http_content_length"};
  klaxon::SeriesIndex index;
  std::vector<klaxon::SourceSeriesValue> series;
  std::vector<klaxon::SeriesId> ids;
  for (int p = 0; p < 10000; ++p) {
    for (int n = 0; n < per_probe; ++n) {
      ids.push_back(index.Intern(klaxon::Labels({{"__name__", kNames[n]},
                                                 {"probe", absl::StrCat("probe-", p)},
                                                 {"service", absl::StrCat("svc-", p % 50)}})));
    }
  }
  for (size_t i = 0; i < ids.size(); ++i) series.push_back({&index.Get(ids[i]), double(i % 7)});
  klaxon::LedgerStats stats;
  std::vector<klaxon::IncidentKey> keys;
  for (int s = 0; s < 50; ++s) {
    for (const char* severity : {"critical", "major", "minor", "warning", "info"}) {
      std::string service = absl::StrCat("svc-", s);
      keys.push_back({service, severity});
      stats.opened.push_back({service, severity, 12});
      stats.open.push_back({service, severity, 1});
    }
  }
  klaxon::MetricsPage page("bench");
  klaxon::EngineFacts facts;
  facts.samples_ingested = 1000000;
  facts.series = ids.size();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = page.Render(stats, keys, {"tickets", "chat"}, series, facts, {});
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["series"] = double(series.size());
  state.counters["bytes"] = double(bytes);
}
BENCHMARK(BM_MetricsPageRender10kProbes)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
