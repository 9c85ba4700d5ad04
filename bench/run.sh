#!/usr/bin/env bash
# Runs klaxon's benchmarks from a build folder (default: build), prints the
# results and writes them into bench/RESULTS.md, between the "make bench"
# markers (the rest of that file is the analysis: profiles, history, what each
# figure means). The micro-benchmarks first, then the sources against their
# peers (mtail, the blackbox exporter: bench/sources/run.sh, about 7 minutes;
# SOURCES=0 skips it), push ingest (bench/push/run.sh), scale
# (bench/scale_bench.sh, about 6 minutes; SCALE=0 skips it) and the whole
# system against Prometheus, the blackbox exporter and Alertmanager
# (bench/system/run.sh, about 14 minutes; SYSTEM=0 skips it).
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
bench/sources/setup-peers.sh  # the peers, and GNU time for peak RSS
cmake --build "$build" -j2 --target detector_benchmark window_benchmark prom_text_benchmark

report="$build/bench/make-bench.md"
mkdir -p "$(dirname "$report")"
{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`make bench\` on $(nproc) CPUs" \
    "($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg) at the start; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo "Medians of 5 runs unless a part says otherwise; each part's own command is named in its heading."
} >"$report"
# part TITLE COMMAND...: runs COMMAND, showing its output and keeping it in
# the report as a text block.
part() {
  local title=$1
  shift
  echo
  echo "== $title"
  { echo; echo "### $title"; echo; echo '```text'; } >>"$report"
  "$@" 2>&1 | tee -a "$report"
  echo '```' >>"$report"
}

part "Detection path micro-benchmarks: $build/bench/detector_benchmark" \
  "$build"/bench/detector_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
part "Sample windows: $build/bench/window_benchmark" \
  "$build"/bench/window_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
# Prometheus text parsing; samples/s is per CPU-second. The peak RSS includes
# the benchmark's own 9.7 MB body.
part "Prometheus text parsing: $build/bench/prom_text_benchmark" \
  /usr/bin/time -f 'prom_text_benchmark peak RSS: %M KiB' \
  "$build"/bench/prom_text_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
# Push ingest (issue 6, figure 3): wrk against `klaxon run`, about a minute.
part "Push ingest (issue 6, figure 3): bench/push/run.sh" bench/push/run.sh "$build"
if [ "${SOURCES:-1}" != 0 ]; then
  part "Sources against mtail and the blackbox exporter (issue 4): bench/sources/run.sh" \
    bench/sources/run.sh "$build"
fi
if [ "${SCALE:-1}" != 0 ]; then
  part "Scale, 1,000,000 series under 1,000 rules (issue 6, figure 4): bench/scale_bench.sh" \
    bench/scale_bench.sh "$build"
fi
# Detection to ticket and scrape cost against Prometheus + the blackbox
# exporter + Alertmanager (issue 6, figures 1 and 2).
if [ "${SYSTEM:-1}" != 0 ]; then
  part "Against Prometheus + blackbox exporter + Alertmanager (issue 6, figures 1 and 2): bench/system/run.sh" \
    bench/system/run.sh "$build"
fi

# Into bench/RESULTS.md, replacing the previous run's section.
begin='<!-- make bench: begin -->'
end='<!-- make bench: end -->'
results=bench/RESULTS.md
if ! grep -qF "$begin" "$results"; then
  printf '\n## Latest `make bench` run\n\n%s\n%s\n' "$begin" "$end" >>"$results"
fi
awk -v begin="$begin" -v end="$end" -v report="$report" '
  $0 == begin { print; while ((getline line < report) > 0) print line; skipping = 1; next }
  $0 == end { skipping = 0 }
  !skipping' "$results" >"$results.new"
mv "$results.new" "$results"
echo
echo "written to $results (section \"Latest \`make bench\` run\")"
