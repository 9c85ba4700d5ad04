#!/usr/bin/env bash
# Scale (issue 6, figure 4): `klaxon run` with 1,000 rules over 1,000,000
# pushed series; its memory (VmRSS, VmHWM from /proc) and how long each
# evaluation tick takes (klaxon_engine_tick_duration_seconds on /metrics), and
# how late ticks start (klaxon_engine_timer_lateness_seconds{timer="tick"}).
# Goals: under 1 GiB RSS, under 1 s per tick.
#
# The load (bench/scale_driver.cc): 1,000 shards x 10 instances x 100 series of
# http_requests_total{job,shard,instance,handler,method,code}; one rule per
# shard, four shapes in turn (rate > x; sum by instance of rate; sum by
# handler of increase; error ratio of two sums), each with `for`, none firing.
# The pusher backfills 20 intervals (5 minutes) of 15 s history with
# timestamps, then pushes every series live every 15 s, one request per shard
# spread over the interval, without timestamps, as a scrape delivers them.
# After one more interval, WINDOWS windows of WINDOW_S seconds are measured:
# each ends by reading VmRSS, then /metrics (whose 1,000,000 pushed series make
# it a large page: its render is part of VmHWM), and reports the ticks of that
# window. Medians over the windows. About 8 to 9 minutes in all, the backfill
# being the most variable part.
#
# Usage: bench/scale_bench.sh [BUILD_DIR]   (default: build)
# Environment: SHARDS [1000] (rules; series = SHARDS x INSTANCES x 100),
# INSTANCES [10], WINDOWS [5], WINDOW_S [45], KLAXON [BUILD_DIR/klaxon] (to
# measure another binary against the same driver), JOBS [1] for the build.
set -euo pipefail

build=${1:-build}
cd "$(dirname "$0")/.."
root=$PWD
case "$build" in /*) ;; *) build="$root/$build" ;; esac
SHARDS=${SHARDS:-1000}
INSTANCES=${INSTANCES:-10}
WINDOWS=${WINDOWS:-5}
WINDOW_S=${WINDOW_S:-45}
INTERVAL_S=15
BACKFILL=20
KLAXON=${KLAXON:-$build/klaxon}
series=$((SHARDS * INSTANCES * 100))

cmake --build "$build" -j"${JOBS:-1}" --target klaxon scale_driver >/dev/null
driver="$build/bench/scale_driver"

work=$(mktemp -d /tmp/klaxon-scale-bench.XXXXXX)
klaxon_pid=
pusher_pid=
cleanup() {
  if [ -n "$pusher_pid" ]; then kill "$pusher_pid" 2>/dev/null || true; wait "$pusher_pid" 2>/dev/null || true; fi
  if [ -n "$klaxon_pid" ]; then kill "$klaxon_pid" 2>/dev/null || true; wait "$klaxon_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
  echo "bench/scale: $*" >&2
  tail -5 "$work/klaxon.log" "$work/push.log" >&2 2>/dev/null || true
  exit 1
}
median() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$klaxon_pid/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$klaxon_pid/stat"; }
alive() { kill -0 "$klaxon_pid" 2>/dev/null || fail "klaxon exited"; }

port=$("$driver" free-port)
"$driver" config --port="$port" --data_dir="$work/data" --shards="$SHARDS" >"$work/klaxon.toml"
SCALE_TOKEN=scale-token "$KLAXON" run --config "$work/klaxon.toml" >"$work/klaxon.log" 2>&1 &
klaxon_pid=$!
for _ in $(seq 100); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || fail "klaxon did not start"
idle_rss=$(status_kib VmRSS)

live_s=$((INTERVAL_S + WINDOWS * WINDOW_S + 30))
started=$(date +%s)
"$driver" push --port="$port" --token=scale-token --shards="$SHARDS" --instances="$INSTANCES" \
  --interval_s="$INTERVAL_S" --backfill="$BACKFILL" --duration_s="$live_s" >"$work/push.log" 2>&1 &
pusher_pid=$!
for _ in $(seq 900); do  # the backfill: at most 15 minutes
  grep -q '^live 1:' "$work/push.log" && break
  kill -0 "$pusher_pid" 2>/dev/null || fail "the pusher stopped: $(cat "$work/push.log")"
  alive
  sleep 1
done
grep -q '^live 1:' "$work/push.log" || fail "the backfill did not end within 15 minutes"
backfill_s=$(($(date +%s) - started))
echo "backfill of $BACKFILL x $series samples (and one live interval): ${backfill_s}s; RSS $((idle_rss / 1024)) MiB before it"

# One /metrics page, to a file; prints how long it took, in ms.
fetch_metrics() {
  local t0 t1
  t0=$(date +%s%N)
  curl -fsS --max-time 120 -o "$1" "http://127.0.0.1:$port/metrics" || fail "/metrics failed"
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}
# Histogram fields of one /metrics page: `count sum le=0.5 le=1 le=2.5` of
# the tick durations, then `count sum le=0.1 le=1` of the tick lateness.
histograms() {
  awk '
    /^klaxon_engine_tick_duration_seconds_count/ { dc = $2 }
    /^klaxon_engine_tick_duration_seconds_sum/ { ds = $2 }
    /^klaxon_engine_tick_duration_seconds_bucket\{le="0.5"\}/ { d05 = $2 }
    /^klaxon_engine_tick_duration_seconds_bucket\{le="1"\}/ { d1 = $2 }
    /^klaxon_engine_tick_duration_seconds_bucket\{le="2.5"\}/ { d25 = $2 }
    /^klaxon_engine_timer_lateness_seconds_count\{timer="tick"\}/ { lc = $2 }
    /^klaxon_engine_timer_lateness_seconds_sum\{timer="tick"\}/ { ls = $2 }
    /^klaxon_engine_timer_lateness_seconds_bucket\{timer="tick",le="0.1"\}/ { l01 = $2 }
    /^klaxon_engine_timer_lateness_seconds_bucket\{timer="tick",le="1"\}/ { l1 = $2 }
    END { print dc + 0, ds + 0, d05 + 0, d1 + 0, d25 + 0, lc + 0, ls + 0, l01 + 0, l1 + 0 }' "$1"
}

sleep "$INTERVAL_S"  # one more interval: the backfill's queue drained, every window live
alive
fetch_metrics "$work/metrics.0" >/dev/null
read -r -a prev <<<"$(histograms "$work/metrics.0")"
hz=$(getconf CLK_TCK)
rss_list=() tick_list=() late_list=() cpu_list=() render_list=()
echo
echo "| window | VmRSS MiB | ticks | mean tick ms | ticks > 0.5 s / > 1 s / > 2.5 s | mean tick lateness ms | ticks > 0.1 s / > 1 s late | klaxon cores | /metrics ms |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for w in $(seq "$WINDOWS"); do
  cpu0=$(cpu_ticks)
  sleep "$WINDOW_S"
  alive
  cpu1=$(cpu_ticks)
  rss=$(status_kib VmRSS)
  render_ms=$(fetch_metrics "$work/metrics.$w")
  read -r -a cur <<<"$(histograms "$work/metrics.$w")"
  row=$(awk -v w="$w" -v rss="$rss" -v cpu=$((cpu1 - cpu0)) -v hz="$hz" -v s="$WINDOW_S" \
    -v render="$render_ms" -v p="${prev[*]}" -v c="${cur[*]}" 'BEGIN {
      split(p, a, " "); split(c, b, " ")
      n = b[1] - a[1]; ln = b[6] - a[6]
      mean = n > 0 ? (b[2] - a[2]) / n * 1000 : 0
      lmean = ln > 0 ? (b[7] - a[7]) / ln * 1000 : 0
      printf "%d %.0f %d %.1f %d/%d/%d %.1f %d/%d %.2f %d\n", w, rss / 1024, n, mean,
        n - (b[3] - a[3]), n - (b[4] - a[4]), n - (b[5] - a[5]), lmean,
        ln - (b[8] - a[8]), ln - (b[9] - a[9]), cpu / hz / s, render }')
  read -r _ rss_mib ticks mean over late late_over cores render <<<"$row"
  echo "| $w | $rss_mib | $ticks | $mean | $over | $late | $late_over | $cores | $render |"
  rss_list+=("$rss_mib") tick_list+=("$mean") late_list+=("$late") cpu_list+=("$cores") render_list+=("$render")
  prev=("${cur[@]}")
done
hwm=$(status_kib VmHWM)
kill -0 "$pusher_pid" 2>/dev/null || wait "$pusher_pid" || fail "the pusher failed: $(tail -3 "$work/push.log")"
worst_lag=$(awk '/^live/ { v = $(NF - 3); if (v > m) m = v } END { print m + 0 }' "$work/push.log")

med_rss=$(printf '%s\n' "${rss_list[@]}" | median)
med_tick=$(printf '%s\n' "${tick_list[@]}" | median)
echo
echo "| figure ($SHARDS rules, $series series) | median of $WINDOWS windows of ${WINDOW_S}s | goal |"
echo "| --- | --- | --- |"
echo "| VmRSS (MiB) | $med_rss ($(printf '%s ' "${rss_list[@]}")) | < 1024 |"
echo "| VmHWM at the end (MiB), /metrics renders included | $((hwm / 1024)) | |"
echo "| mean tick duration (ms) | $med_tick ($(printf '%s ' "${tick_list[@]}")) | < 1000 |"
echo "| mean tick lateness (ms) | $(printf '%s\n' "${late_list[@]}" | median) | |"
echo "| klaxon CPU (cores) | $(printf '%s\n' "${cpu_list[@]}" | median) | |"
echo "| /metrics fetch (ms) | $(printf '%s\n' "${render_list[@]}" | median) | |"
echo "| pusher: worst lag behind its schedule (ms) | $worst_lag | |"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v r="$med_rss" -v t="$med_tick" 'BEGIN {
  printf "goals: RSS %s, tick %s\n", (r < 1024 ? "met" : "NOT met"), (t < 1000 ? "met" : "NOT met") }'
