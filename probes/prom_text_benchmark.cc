// Throughput of ExpositionParser on a node_exporter-like body of 100k samples:
// families with HELP and TYPE, names of ~30 bytes, 2-4 labels, float values.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "probes/prom_text.h"

namespace klaxon {
namespace {

constexpr int kSamples = 100'000;

std::string NodeExporterBody(ExpositionFormat format) {
  const char* const kFamilies[] = {
      "node_cpu_seconds_total",        "node_network_receive_bytes_total",
      "node_disk_written_bytes_total", "node_filesystem_avail_bytes",
      "node_netstat_Tcp_RetransSegs",  "node_memory_MemAvailable_bytes",
      "node_softnet_processed_total",  "node_disk_io_time_weighted_seconds_total",
  };
  const char* const kModes[] = {"idle", "user", "system", "iowait", "irq", "softirq", "steal"};
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> value(0, 1e7);
  std::string body;
  int written = 0;
  for (int family = 0; written < kSamples; ++family) {
    const std::string name = absl::StrCat(kFamilies[family % 8], "_", family / 8);
    absl::StrAppend(&body, "# HELP ", name, " A node_exporter-like family.\n# TYPE ", name,
                    family % 2 == 0 ? " counter\n" : " gauge\n");
    for (int i = 0; i < 100 && written < kSamples; ++i, ++written) {
      switch (i % 3) {
        case 0:
          absl::StrAppend(&body, name, "{cpu=\"", i, "\",mode=\"", kModes[i % 7], "\"}");
          break;
        case 1:
          absl::StrAppend(&body, name, "{device=\"sda", i, "\",instance=\"host-", family,
                          ":9100\",job=\"node\"}");
          break;
        default:
          absl::StrAppend(&body, name, "{device=\"/dev/nvme0n", i,
                          "\",fstype=\"ext4\",mountpoint="
                          "\"/srv/data\",instance=\"h",
                          family, "\"}");
      }
      absl::StrAppend(&body, " ", absl::StrFormat("%.10g", value(rng)), "\n");
    }
  }
  if (format == ExpositionFormat::kOpenMetrics) body += "# EOF\n";
  return body;
}

void BM_Parse(benchmark::State& state, ExpositionFormat format) {
  const std::string body = NodeExporterBody(format);
  ExpositionParser parser;
  int64_t samples = 0;
  for (auto _ : state) {
    double sum = 0;
    const absl::Status status = parser.Parse(body, format, [&](const ExpositionSample& s) {
      sum += s.value + static_cast<double>(s.labels.size());
      ++samples;
    });
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    benchmark::DoNotOptimize(sum);
  }
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
  state.counters["bytes/sample"] = static_cast<double>(body.size()) / kSamples;
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body.size()));
}
BENCHMARK_CAPTURE(BM_Parse, text, ExpositionFormat::kPrometheusText)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Parse, openmetrics, ExpositionFormat::kOpenMetrics)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace klaxon

BENCHMARK_MAIN();
