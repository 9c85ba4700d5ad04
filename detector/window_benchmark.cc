// Appending to a window in steady state (the per-sample cost on the engine
// thread) and the memory a window holds per stored sample.
#include "benchmark/benchmark.h"
#include "detector/window.h"

namespace klaxon {
namespace {

// A 5m window of 1s samples, appended to for ever: eviction and append.
void BM_WindowAppendSteadyState(benchmark::State& state) {
  SampleWindow w;
  int64_t t = 0;
  const int64_t retention_ms = 300'000;
  for (; t < 600'000; t += 1000) w.Append({t, 1.0}, t - retention_ms);
  for (auto _ : state) {
    t += 1000;
    w.Append({t, 1.0}, t - retention_ms);
    benchmark::DoNotOptimize(w);
  }
  state.counters["bytes_per_sample"] = double(w.capacity_bytes()) / double(w.size());
}
BENCHMARK(BM_WindowAppendSteadyState);

}  // namespace
}  // namespace klaxon
