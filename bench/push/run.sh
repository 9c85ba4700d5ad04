#!/usr/bin/env bash
# Push ingest (issue 6, figure 3): samples per second `klaxon run` accepts on
# POST /api/v1/write over loopback, with wrk posting on the same 2 cores, and
# whether the rule ticks stayed on time meanwhile (the engine's own
# klaxon_engine_timer_lateness_seconds{timer="tick"} histogram).
# Each request is one Prometheus text body of SAMPLES samples, one per series
# (push_metric{instance="iNNNNN",job="bench"}), read by one rule.
#
# Usage: bench/push/run.sh [BUILD_DIR]   (default: build)
# Environment: REPS [5] wrk runs of RUN_SECONDS [10], CONNECTIONS [4], SAMPLES [10000].
set -euo pipefail

build=${1:-build}
cd "$(dirname "$0")/../.."
root=$PWD
case "$build" in /*) ;; *) build="$root/$build" ;; esac
REPS=${REPS:-5}
SECONDS_PER_RUN=${RUN_SECONDS:-10}
CONNECTIONS=${CONNECTIONS:-4}
SAMPLES=${SAMPLES:-10000}

bench/sources/setup-peers.sh  # wrk and curl among them
cmake --build "$build" -j2 --target klaxon probe_bench

work=$(mktemp -d /tmp/klaxon-push-bench.XXXXXX)
klaxon_pid=
cleanup() {
  if [ -n "$klaxon_pid" ]; then kill "$klaxon_pid" 2>/dev/null || true; wait "$klaxon_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "bench/push: $*" >&2; exit 1; }
median() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

port=$("$build/bench/probe_bench" free-port)
awk -v n="$SAMPLES" 'BEGIN { for (i = 0; i < n; i++) printf "push_metric{instance=\"i%05d\",job=\"bench\"} %d\n", i, i % 5 }' >"$work/body.txt"
cat >"$work/klaxon.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
data_dir = "$work/data"
push_tokens = ["env:BENCH_TOKEN"]

[[rule]]
name = "PushHigh"
expr = 'push_metric > 100'
TOML
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer bench-token"
wrk.headers["Content-Type"] = "text/plain; version=0.0.4"
local f = io.open("$work/body.txt", "rb")
wrk.body = f:read("*all")
f:close()
LUA

BENCH_TOKEN=bench-token "$build/klaxon" run --config "$work/klaxon.toml" >"$work/klaxon.log" 2>&1 &
klaxon_pid=$!
for _ in $(seq 100); do
  if curl -fsS "http://127.0.0.1:$port/metrics" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/metrics" >/dev/null || fail "klaxon did not start: $(cat "$work/klaxon.log")"
url="http://127.0.0.1:$port/api/v1/write"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer bench-token' --data-binary @"$work/body.txt" "$url")
[ "$code" = 200 ] || [ "$code" = 204 ] || fail "a push was answered $code"

wrk -t1 -c"$CONNECTIONS" -d3s -s "$work/post.lua" "$url" >/dev/null  # warm-up
hz=$(getconf CLK_TCK)
before_metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
rates=()
for run in $(seq "$REPS"); do
  cpu0=$(cpu_ticks "$klaxon_pid")
  wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "$work/post.lua" "$url" >"$work/wrk.$run"
  cpu1=$(cpu_ticks "$klaxon_pid")
  grep -q 'Non-2xx' "$work/wrk.$run" && fail "run $run: some pushes were refused: $(cat "$work/wrk.$run")"
  rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$work/wrk.$run")
  rate=$(awk -v r="$rps" -v n="$SAMPLES" 'BEGIN { printf "%.0f", r * n }')
  cores=$(awk -v c=$((cpu1 - cpu0)) -v hz="$hz" -v s="$SECONDS_PER_RUN" 'BEGIN { printf "%.2f", c / hz / s }')
  echo "run $run: $rps requests/s = $rate samples/s; klaxon used $cores cores"
  rates+=("$rate")
done
after_metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
rss=$(awk '$1 == "VmRSS:" { r = $2 } $1 == "VmHWM:" { h = $2 } END { printf "%d MiB (peak %d MiB)", r / 1024, h / 1024 }' "/proc/$klaxon_pid/status")

# Ticks during the measured runs: the histogram's growth between the two pages.
bucket() {  # bucket TEXT LE -> cumulative count of ticks at most LE seconds late
  awk -v le="$2" '/^klaxon_engine_timer_lateness_seconds_bucket\{timer="tick",le="/ {
      split($0, p, "le=\""); split(p[2], q, "\""); if (q[1] == le) print $2 }' <<<"$1"
}
ticks=$(( $(bucket "$after_metrics" +Inf) - $(bucket "$before_metrics" +Inf) ))
late_100ms=$(( ticks - ($(bucket "$after_metrics" 0.1) - $(bucket "$before_metrics" 0.1)) ))
late_25ms=$(( ticks - ($(bucket "$after_metrics" 0.025) - $(bucket "$before_metrics" 0.025)) ))
tick_sum() { awk '/^klaxon_engine_tick_duration_seconds_sum/ { print $2 }' <<<"$1"; }
tick_count() { awk '/^klaxon_engine_tick_duration_seconds_count/ { print $2 }' <<<"$1"; }
mean_tick_ms=$(awk -v s0="$(tick_sum "$before_metrics")" -v s1="$(tick_sum "$after_metrics")" \
  -v c0="$(tick_count "$before_metrics")" -v c1="$(tick_count "$after_metrics")" \
  'BEGIN { if (c1 > c0) printf "%.1f", (s1 - s0) / (c1 - c0) * 1000; else print "nan" }')

med=$(printf '%s\n' "${rates[@]}" | median)
echo
echo "| figure | value | goal |"
echo "| --- | --- | --- |"
echo "| samples/s accepted, median of $REPS runs ($(printf '%s ' "${rates[@]}")) | $med | > 2,000,000 |"
echo "| ticks during the runs / more than 100 ms late / more than 25 ms late | $ticks / $late_100ms / $late_25ms | none > 100 ms late |"
echo "| mean tick duration | $mean_tick_ms ms | |"
echo "| klaxon RSS after the runs | $rss | |"
