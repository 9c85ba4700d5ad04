#!/usr/bin/env bash
# Runs klaxon's benchmarks from a build folder (default: build) and prints the
# results; bench/RESULTS.md records them with the command that made them.
# The micro-benchmarks first, then the sources against their peers (mtail, the
# blackbox exporter: bench/sources/run.sh, about 7 minutes; SOURCES=0 skips it),
# push ingest (bench/push/run.sh), scale (bench/scale_bench.sh) and the whole system against Prometheus,
# the blackbox exporter and Alertmanager (bench/system/run.sh).
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
bench/sources/setup-peers.sh  # the peers, and GNU time for peak RSS
cmake --build "$build" -j2 --target detector_benchmark window_benchmark prom_text_benchmark
"$build"/bench/detector_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
"$build"/bench/window_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
# Prometheus text parsing; samples/s is per CPU-second. The peak RSS includes
# the benchmark's own 9.7 MB body.
/usr/bin/time -f 'prom_text_benchmark peak RSS: %M KiB' \
  "$build"/bench/prom_text_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
# Push ingest (issue 6, figure 3): wrk against `klaxon run`, about a minute.
bench/push/run.sh "$build"
# Scale (issue 6, figure 4): 1,000,000 series under 1,000 rules, about 6
# minutes; SCALE=0 skips it.
if [ "${SCALE:-1}" != 0 ]; then
  bench/scale_bench.sh "$build"
fi
if [ "${SOURCES:-1}" != 0 ]; then
  bench/sources/run.sh "$build"
fi
# Detection to ticket and scrape cost against Prometheus + the blackbox
# exporter + Alertmanager (issue 6, figures 1 and 2): about 14 minutes;
# SYSTEM=0 skips it.
if [ "${SYSTEM:-1}" != 0 ]; then
  bench/system/run.sh "$build"
fi
