#!/usr/bin/env bash
# klaxon's sources against the tools an ops team would otherwise run, each pair
# measured in this one run on this machine:
#   logs    klaxon's LogTailer + LogMatcher (bench/log_bench) against Debian's
#           mtail in one-shot mode, the same ten patterns over the same
#           generated nginx access log; the counts must agree;
#   probes  klaxon's HttpProber (bench/probe_bench) against Debian's
#           prometheus-blackbox-exporter driven through /probe
#           (bench/blackbox_driver), the same probes at the same rate against
#           one loopback nginx; only the prober's own CPU is counted;
#   scale   10,000 probes at a 10 s interval on one core: start lateness.
# Prints every run's figures, then the medians as a Markdown table (also
# written to BUILD/bench/sources-results.md). Exits non-zero if a measurement is
# invalid (counts differ, probes fail, a peer does not start); a goal that is
# not met is reported, not an error.
#
# Usage: bench/sources/run.sh [BUILD_DIR]    (default: build)
# Environment (defaults in brackets): REPS [5] runs of each timed case;
# LOG_LINES [2000000]; PROBES [1000] and PROBE_INTERVAL_MS [2000] (so 500
# probes/s) for PROBE_SECONDS [10]; SCALE_RUNS [5] of SCALE_SECONDS [30] with
# SCALE_PROBES [10000] at SCALE_INTERVAL_MS [10000]; MTAIL_LITERAL_REPS [1].
set -euo pipefail

build=${1:-build}
cd "$(dirname "$0")/../.."
root=$PWD
case "$build" in /*) ;; *) build="$root/$build" ;; esac

REPS=${REPS:-5}
LOG_LINES=${LOG_LINES:-2000000}
PROBES=${PROBES:-1000}
PROBE_INTERVAL_MS=${PROBE_INTERVAL_MS:-2000}
PROBE_SECONDS=${PROBE_SECONDS:-10}
SCALE_RUNS=${SCALE_RUNS:-5}
SCALE_SECONDS=${SCALE_SECONDS:-30}
SCALE_PROBES=${SCALE_PROBES:-10000}
SCALE_INTERVAL_MS=${SCALE_INTERVAL_MS:-10000}
MTAIL_LITERAL_REPS=${MTAIL_LITERAL_REPS:-1}
probe_rate=$((PROBES * 1000 / PROBE_INTERVAL_MS))
probe_count=$((probe_rate * PROBE_SECONDS))

bench/sources/setup-peers.sh
cmake --build "$build" -j2 --target log_bench probe_bench blackbox_driver
bin=$build/bench

work=$(mktemp -d /tmp/klaxon-sources-bench.XXXXXX)
started_pids=()
cleanup() {
  local pid
  for pid in "${started_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${started_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "bench/sources: $*" >&2
  exit 1
}

# `value KEY FILE`: the value of a `key value` line.
value() { awk -v k="$1" '$1 == k { print $2; exit }' "$2"; }
# Median of the numbers on stdin, one per line.
median() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# `median_of KEY FILES...`
median_of() {
  local key=$1 f
  shift
  for f in "$@"; do value "$key" "$f"; done | median
}
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
# Waits up to 10 s for something to listen on 127.0.0.1:$1.
wait_port() {
  local _
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
# `timed OUT CMD...`: runs CMD with GNU time; its figures are appended to OUT.
# Returns CMD's status.
timed() {
  local out=$1 status=0
  shift
  /usr/bin/time -o "$out.time" -f $'time_wall_s %e\ntime_user_s %U\ntime_sys_s %S\ntime_max_rss_kb %M' \
    "$@" || status=$?
  cat "$out.time" >>"$out"
  awk '$1 == "time_user_s" { u = $2 } $1 == "time_sys_s" { s = $2 }
       END { printf "time_cpu_s %.2f\n", u + s }' "$out.time" >>"$out"
  return "$status"
}
# `per_cpu_s NAME OUT [STARTUP_CPU_S]`: appends NAME = lines / (CPU - startup).
per_cpu_s() {
  local cpu
  cpu=$(value time_cpu_s "$2")
  if awk "BEGIN { exit !($cpu - ${3:-0} > 0) }"; then
    echo "$1 $(calc "$LOG_LINES / ($cpu - ${3:-0})" 0)" >>"$2"
  fi
}

cpus=$(nproc)
echo "== klaxon sources bench: $(date -u +%FT%TZ), $cpus CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   work dir $work; REPS=$REPS"

# ---------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------
log=$work/access.log
"$bin/log_bench" generate --out="$log" --lines="$LOG_LINES"
cat "$log" >/dev/null  # into the page cache, where both tools read it from
head -n 1 "$log" >"$work/one-line.log"
log_bytes=$(stat -c %s "$log")
for set in mixed literal; do
  mkdir -p "$work/mtail-$set"
  "$bin/log_bench" mtail-program --patterns="$set" >"$work/mtail-$set/nginx.mtail"
done
mkdir -p "$work/logs"

# mtail's sums per counter (over label sets), as `count NAME N` lines.
mtail_counts() {
  awk '!/^#/ && NF >= 2 { name = $1; sub(/\{.*/, "", name); sum[name] += $NF }
       END { for (n in sum) printf "count %s %.0f\n", n, sum[n] }' "$1"
}

run_mtail() {  # SET OUT
  local set=$1 out=$2 port
  port=$("$bin/probe_bench" free-port)
  # One-shot still opens its HTTP listener: on loopback, on a free port.
  timed "$out" mtail --one_shot --one_shot_format=prometheus --progs "$work/mtail-$set" \
    --logs "$log" --address=127.0.0.1 --port="$port" --logtostderr \
    >"$out.metrics" 2>"$out.stderr" || fail "mtail failed; see $out.stderr"
  mtail_counts "$out.metrics" | sort >"$out.counts"
  echo "lines $LOG_LINES" >>"$out"
  per_cpu_s lines_per_cpu_s "$out"
}

# mtail's fixed cost (Go runtime, program compile, exit) on a one-line log, to
# take out of its per-line figure as klaxon's loop figure leaves out its own.
run_mtail_startup() {  # SET OUT
  local set=$1 out=$2 port
  port=$("$bin/probe_bench" free-port)
  timed "$out.startup" mtail --one_shot --one_shot_format=prometheus --progs "$work/mtail-$set" \
    --logs "$work/one-line.log" --address=127.0.0.1 --port="$port" --logtostderr \
    >/dev/null 2>"$out.startup.stderr" || fail "mtail failed; see $out.startup.stderr"
  local startup
  startup=$(value time_cpu_s "$out.startup")
  echo "startup_cpu_s $startup" >>"$out"
  per_cpu_s steady_lines_per_cpu_s "$out" "$startup"
}

run_klaxon_log() {  # SET OUT
  local set=$1 out=$2
  timed "$out" "$bin/log_bench" match --file="$log" --patterns="$set" >"$out.raw" ||
    fail "log_bench failed"
  cat "$out.raw" >>"$out"
  { grep '^count ' "$out.raw" || true; } | sort >"$out.counts"
  [ "$(value lines "$out.raw")" = "$LOG_LINES" ] ||
    fail "klaxon counted $(value lines "$out.raw") lines, the file has $LOG_LINES"
  per_cpu_s process_lines_per_cpu_s "$out"
}

check_counts() {  # KLAXON_OUT MTAIL_OUT
  echo "   counts (klaxon | mtail):"
  paste "$1.counts" "$2.counts" | awk '{ printf "     %-18s %10s | %-18s %10s\n", $2, $3, $5, $6 }'
  cmp -s "$1.counts" "$2.counts" || fail "klaxon's and mtail's counts differ ($1.counts, $2.counts)"
}

for rep in $(seq "$REPS"); do
  run_klaxon_log mixed "$work/logs/klaxon-mixed-$rep.txt"
  run_klaxon_log literal "$work/logs/klaxon-literal-$rep.txt"
  run_klaxon_log none "$work/logs/klaxon-none-$rep.txt"
  "$bin/log_bench" split --file="$log" >"$work/logs/split-$rep.txt"
  run_mtail mixed "$work/logs/mtail-mixed-$rep.txt"
  run_mtail_startup mixed "$work/logs/mtail-mixed-$rep.txt"
  if [ "$rep" -le "$MTAIL_LITERAL_REPS" ]; then
    run_mtail literal "$work/logs/mtail-literal-$rep.txt"
  fi
  f=$work/logs
  printf '   logs run %d: klaxon mixed %s lines/CPU-s (%s s CPU in all), literal %s GB/CPU-s; mtail mixed %s lines/CPU-s (%s s CPU)\n' \
    "$rep" "$(value lines_per_cpu_s "$f/klaxon-mixed-$rep.txt")" "$(value time_cpu_s "$f/klaxon-mixed-$rep.txt")" \
    "$(value gb_per_cpu_s "$f/klaxon-literal-$rep.txt")" "$(value lines_per_cpu_s "$f/mtail-mixed-$rep.txt")" \
    "$(value time_cpu_s "$f/mtail-mixed-$rep.txt")"
  if [ "$rep" -eq 1 ]; then
    echo "   mixed patterns:"
    check_counts "$f/klaxon-mixed-1.txt" "$f/mtail-mixed-1.txt"
  fi
  if [ "$rep" -eq 1 ] && [ "$MTAIL_LITERAL_REPS" -ge 1 ]; then
    echo "   literal patterns:"
    check_counts "$f/klaxon-literal-1.txt" "$f/mtail-literal-1.txt"
  fi
done
# Every run must count the same.
for rep in $(seq "$REPS"); do
  cmp -s "$work/logs/klaxon-mixed-1.txt.counts" "$work/logs/klaxon-mixed-$rep.txt.counts" ||
    fail "klaxon's counts changed between runs"
  cmp -s "$work/logs/mtail-mixed-1.txt.counts" "$work/logs/mtail-mixed-$rep.txt.counts" ||
    fail "mtail's counts changed between runs"
done

L=$work/logs
k_mixed_loop=$(median_of lines_per_cpu_s "$L"/klaxon-mixed-*.txt)
k_mixed_proc=$(median_of process_lines_per_cpu_s "$L"/klaxon-mixed-*.txt)
k_mixed_cpu=$(median_of time_cpu_s "$L"/klaxon-mixed-*.txt)
k_mixed_rss=$(median_of time_max_rss_kb "$L"/klaxon-mixed-*.txt)
m_mixed=$(median_of lines_per_cpu_s "$L"/mtail-mixed-*.txt)
m_mixed_cpu=$(median_of time_cpu_s "$L"/mtail-mixed-*.txt)
m_mixed_rss=$(median_of time_max_rss_kb "$L"/mtail-mixed-*.txt)
m_mixed_steady=$(median_of steady_lines_per_cpu_s "$L"/mtail-mixed-*.txt)
m_startup=$(median_of startup_cpu_s "$L"/mtail-mixed-*.txt)
k_mixed_loop_cpu=$(median_of cpu_s "$L"/klaxon-mixed-*.txt)
k_lit_gb=$(median_of gb_per_cpu_s "$L"/klaxon-literal-*.txt)
k_lit_wall_gb=$(median_of gb_per_wall_s "$L"/klaxon-literal-*.txt)
k_lit_lines=$(median_of lines_per_cpu_s "$L"/klaxon-literal-*.txt)
k_lit_rss=$(median_of time_max_rss_kb "$L"/klaxon-literal-*.txt)
k_none_gb=$(median_of gb_per_cpu_s "$L"/klaxon-none-*.txt)
split_gb=$(median_of gb_per_cpu_s "$L"/split-*.txt)
if [ "$MTAIL_LITERAL_REPS" -ge 1 ]; then
  m_lit=$(median_of lines_per_cpu_s "$L"/mtail-literal-*.txt)
  m_lit_rss=$(median_of time_max_rss_kb "$L"/mtail-literal-*.txt)
else
  m_lit=nan
  m_lit_rss=nan
fi
ratio_proc=$(calc "$k_mixed_proc / $m_mixed" 1)
ratio_steady=$(calc "$k_mixed_loop / $m_mixed_steady" 1)

# ---------------------------------------------------------------------------
# Probes
# ---------------------------------------------------------------------------
nginx_dir=$work/nginx
mkdir -p "$nginx_dir"
nginx_port=$("$bin/probe_bench" free-port)
sed -e "s|@DIR@|$nginx_dir|g" -e "s|@PORT@|$nginx_port|g" bench/sources/nginx.conf.in \
  >"$nginx_dir/nginx.conf"
# The target gets the second core where there is one, so that on the scale run
# it does not take the prober's core; its CPU is counted for neither side.
pin_target=()
pin_prober=()
if [ "$cpus" -ge 2 ]; then
  pin_target=(taskset -c 1)
  pin_prober=(taskset -c 0)
fi
"${pin_target[@]}" nginx -p "$nginx_dir" -c "$nginx_dir/nginx.conf" >"$nginx_dir/stdout" 2>&1 &
started_pids+=($!)
wait_port "$nginx_port" || fail "nginx did not start; see $nginx_dir/error.log"
target_base=http://127.0.0.1:$nginx_port/p/

bb_dir=$work/blackbox
mkdir -p "$bb_dir"
bb_port=$("$bin/probe_bench" free-port)
prometheus-blackbox-exporter --config.file="$root/bench/sources/blackbox.yml" \
  --web.listen-address="127.0.0.1:$bb_port" >"$bb_dir/log" 2>&1 &
bb_pid=$!
started_pids+=("$bb_pid")
wait_port "$bb_port" || fail "the blackbox exporter did not start; see $bb_dir/log"

P=$work/probes
mkdir -p "$P"
check_probes() {  # OUT WHO
  local completed succeeded
  completed=$(value completed "$1")
  succeeded=$(value succeeded "$1")
  if [ "$completed" -eq 0 ] || [ "$completed" != "$succeeded" ]; then
    grep failure_reason "$1" >&2 || true
    fail "$2: $succeeded of $completed probes succeeded ($1)"
  fi
}
# Alternating, so that whatever else the machine does falls on both alike.
for rep in $(seq "$REPS"); do
  "$bin/probe_bench" --base_url="$target_base" --probes="$PROBES" \
    --interval_ms="$PROBE_INTERVAL_MS" --duration_s="$PROBE_SECONDS" >"$P/klaxon-$rep"
  check_probes "$P/klaxon-$rep" klaxon
  "$bin/blackbox_driver" --exporter="http://127.0.0.1:$bb_port" --target_base="$target_base" \
    --pid="$bb_pid" --targets="$PROBES" --rate="$probe_rate" --count="$probe_count" \
    --warmup=$((probe_rate)) >"$P/blackbox-$rep"
  check_probes "$P/blackbox-$rep" "blackbox exporter"
  printf '   probes run %d: klaxon %s CPU-s/1000 (%s probes), blackbox exporter %s CPU-s/1000 (%s probes)\n' \
    "$rep" "$(value cpu_s_per_1000 "$P/klaxon-$rep")" "$(value completed "$P/klaxon-$rep")" \
    "$(value cpu_s_per_1000 "$P/blackbox-$rep")" "$(value completed "$P/blackbox-$rep")"
done
# The exporter's cost of answering HTTP at all: a path that probes nothing.
"$bin/blackbox_driver" --exporter="http://127.0.0.1:$bb_port" --target_base="$target_base" \
  --pid="$bb_pid" --rate="$probe_rate" --count="$probe_count" --warmup=$((probe_rate)) \
  --plain_path=/-/healthy >"$P/blackbox-healthy"
check_probes "$P/blackbox-healthy" "blackbox exporter /-/healthy"

k_probe=$(median_of cpu_s_per_1000 "$P"/klaxon-[0-9]*)
k_probe_rss=$(median_of max_rss_kb "$P"/klaxon-[0-9]*)
b_probe=$(median_of cpu_s_per_1000 "$P"/blackbox-[0-9]*)
b_probe_rss=$(median_of max_rss_kb "$P"/blackbox-[0-9]*)
b_healthy=$(value cpu_s_per_1000 "$P/blackbox-healthy")
probe_ratio=$(calc "$k_probe / $b_probe" 3)

S=$work/scale
mkdir -p "$S"
for rep in $(seq "$SCALE_RUNS"); do
  "${pin_prober[@]}" "$bin/probe_bench" --base_url="$target_base" --probes="$SCALE_PROBES" \
    --interval_ms="$SCALE_INTERVAL_MS" --duration_s="$SCALE_SECONDS" >"$S/klaxon-$rep"
  check_probes "$S/klaxon-$rep" "klaxon (scale)"
  printf '   scale run %d: %s runs started, %s skipped, %s started >100 ms late, max lateness %s ms, %s of a core, peak RSS %s KiB\n' \
    "$rep" "$(value runs_started "$S/klaxon-$rep")" "$(value runs_skipped "$S/klaxon-$rep")" \
    "$(value started_late "$S/klaxon-$rep")" "$(value max_lateness_ms "$S/klaxon-$rep")" \
    "$(value cpu_utilisation "$S/klaxon-$rep")" "$(value max_rss_kb "$S/klaxon-$rep")"
done
s_late_total=$(for f in "$S"/klaxon-*; do value started_late "$f"; done | awk '{ s += $1 } END { print s }')
s_started_total=$(for f in "$S"/klaxon-*; do value runs_started "$f"; done | awk '{ s += $1 } END { print s }')
s_skipped_total=$(for f in "$S"/klaxon-*; do value runs_skipped "$f"; done | awk '{ s += $1 } END { print s }')
s_max_median=$(median_of max_lateness_ms "$S"/klaxon-*)
s_max_worst=$(for f in "$S"/klaxon-*; do value max_lateness_ms "$f"; done | sort -g | tail -1)
s_util=$(median_of cpu_utilisation "$S"/klaxon-*)
s_cpu1000=$(median_of cpu_s_per_1000 "$S"/klaxon-*)
s_rss=$(median_of max_rss_kb "$S"/klaxon-*)
s_setup_rss=$(median_of setup_rss_kb "$S"/klaxon-*)

# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo "**not met**"; fi; }
mib() { calc "$1 / 1024" 1; }
summary=$build/bench/sources-results.md
{
  echo "Measured $(date -u +%F) by \`bench/sources/run.sh\`: $cpus CPUs, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Medians of $REPS runs (mtail literal: $MTAIL_LITERAL_REPS; scale: $SCALE_RUNS runs of ${SCALE_SECONDS} s). $LOG_LINES-line log of $log_bytes bytes."
  echo
  echo "| what | klaxon | peer (same run) | goal | verdict |"
  echo "| --- | --- | --- | --- | --- |"
  echo "| logs, 10 mixed patterns: lines per CPU-second, steady state (start-up left out of both) | $(calc "$k_mixed_loop / 1e6" 2)M ($k_mixed_loop_cpu CPU-s reading and matching) | mtail $(calc "$m_mixed_steady / 1e3" 0)k (its $m_startup CPU-s start-up taken off); **${ratio_steady}x** | ≥ 30x mtail | $(verdict "$ratio_steady >= 30") |"
  echo "| logs, 10 mixed patterns: lines per CPU-second, whole process on this file (start-up included) | $(calc "$k_mixed_proc / 1e6" 2)M ($k_mixed_cpu CPU-s) | mtail $(calc "$m_mixed / 1e3" 0)k ($m_mixed_cpu CPU-s); **${ratio_proc}x** | ≥ 30x mtail | $(verdict "$ratio_proc >= 30") |"
  echo "| logs, 10 literal patterns: GB per CPU-second (read + match loop) | $k_lit_gb GB/CPU-s ($k_lit_wall_gb GB/s wall, $(calc "$k_lit_lines / 1e6" 2)M lines/CPU-s) | mtail $(calc "$m_lit / 1e3" 0)k lines/CPU-s | > 2 GB/s | $(verdict "$k_lit_gb > 2") |"
  echo "| logs: tailer alone, no pattern / pread + memchr alone | $k_none_gb / $split_gb GB/CPU-s | | (the ceiling) | |"
  echo "| logs: peak RSS (mixed / literal) | $(mib "$k_mixed_rss") / $(mib "$k_lit_rss") MiB | mtail $(mib "$m_mixed_rss") / $(mib "$m_lit_rss") MiB | | |"
  echo "| HTTP probes: CPU-seconds per 1,000 probes at $probe_rate/s | $k_probe | blackbox exporter $b_probe (of which ~$b_healthy is serving any HTTP request); klaxon/exporter **$probe_ratio** | ≤ 0.2 of the exporter | $(verdict "$probe_ratio <= 0.2") |"
  echo "| HTTP probes: peak RSS, $PROBES probes | $(mib "$k_probe_rss") MiB | blackbox exporter $(mib "$b_probe_rss") MiB | | |"
  echo "| scale: $SCALE_PROBES probes at $((SCALE_INTERVAL_MS / 1000)) s on one core: starts > 100 ms late | $s_late_total of $s_started_total (skipped $s_skipped_total); max lateness median $s_max_median ms, worst $s_max_worst ms | | none late | $(verdict "$s_late_total == 0 && $s_started_total > 0") |"
  echo "| scale: CPU and memory | $s_util of one core ($s_cpu1000 CPU-s/1000); peak RSS $(mib "$s_rss") MiB ($(mib "$s_setup_rss") MiB before the first run) | | | |"
} >"$summary"
echo
cat "$summary"
echo
echo "(written to $summary)"
