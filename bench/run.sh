#!/usr/bin/env bash
# Runs klaxon's benchmarks from a build folder (default: build) and prints the
# results; bench/RESULTS.md records them with the command that made them.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
cmake --build "$build" -j2 --target detector_benchmark
"$build"/bench/detector_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
