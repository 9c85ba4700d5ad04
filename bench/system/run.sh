#!/usr/bin/env bash
# Whole-system comparison (issue 6, figures 1 and 2): klaxon against the stack
# ops would otherwise assemble from Debian's prometheus, prometheus-blackbox-
# exporter and prometheus-alertmanager, on the same work, on 127.0.0.1 only.
# One load driver (bench/load_driver.cc) plays the targets, the pages and the
# ticket receiver, so every time is read from one clock.
#
# Figure 1, detection to ticket. In each run klaxon and two peer stacks probe
# the same TARGETS targets and see the same OUTAGES outages, side by side:
#   klaxon   HTTP probes every INTERVAL_S, rule `probe_success == 0` with
#            `for` FOR_S, a webhook sink at the driver;
#   fast     prometheus (scrape and evaluation interval INTERVAL_S) scraping
#            the blackbox exporter (/probe, module http_2xx) for the same
#            targets, alerting rule `probe_success == 0` with `for` FOR_S,
#            alertmanager with group_wait 0s, group_interval 1s, delivering to
#            the driver's webhook: the peers' shortest sensible settings;
#   default  the same with the settings most deployments live with: 15s scrape
#            and evaluation (the example prometheus.yml's), alertmanager's
#            defaults (group_wait 30s, group_interval 5m).
# Both peer stacks share one blackbox exporter; each stack's probes have their
# own path, so the target knows which prober found it down. Per outage:
#   (a) ticket arrival - the moment the target went down;
#   (b) ticket arrival - (the first probe that found it down, as the target
#       recorded it, + FOR_S): the pipeline's own delay.
# Percentiles are nearest-rank over every outage of every run.
#
# Figure 2, scrape ingest: klaxon, then prometheus, scraping PAGES pages of
# SERIES counters every 5 s from the driver with one rule reading them all
# (FIG2_EXPR, as an alerting rule in both); CPU seconds (/proc/PID/stat utime +
# stime) per million samples served, over FIG2_WINDOWS windows of FIG2_WINDOW_S
# after FIG2_WARMUP_S; steady RSS (VmRSS at each window's end) and peak (VmHWM).
#
# Usage: bench/system/run.sh [BUILD_DIR]    (default: build)
# Environment (defaults in brackets): QUICK [0] (1: a ~3-minute smoke run);
# RUNS [2] of figure 1, each of OUTAGES [25] outages over TARGETS [30] targets,
# INTERVAL_S [5], FOR_S [10], DOWN_S [90] (long enough for the default stack);
# FIG1 [1], FIG2 [1] to skip one; PAGES [100], SERIES [1000], FIG2_WARMUP_S
# [65], FIG2_WINDOWS [5], FIG2_WINDOW_S [20], FIG2_EXPR
# ['rate(bench_requests_total[1m]) > 1e9'; `none`: no rule, the ingest alone],
# FIG2_STACKS ['klaxon prometheus']; KEEP [0] (1: keep the work folder);
# JOBS [1] for the build.
# Prints every run's figures and writes the Markdown summary to
# BUILD/bench/system-results.md. Exits non-zero when a measurement is invalid
# (a stack does not start, an outage is not detected); a missed goal is
# reported, not an error.
set -euo pipefail

build=${1:-build}
cd "$(dirname "$0")/../.."
root=$PWD
case "$build" in /*) ;; *) build="$root/$build" ;; esac

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  : "${RUNS:=1}" "${OUTAGES:=5}" "${TARGETS:=10}" "${DOWN_S:=30}" "${DEFAULT_STACK:=0}"
  : "${PAGES:=10}" "${FIG2_WARMUP_S:=15}" "${FIG2_WINDOWS:=2}" "${FIG2_WINDOW_S:=10}"
fi
RUNS=${RUNS:-2}
OUTAGES=${OUTAGES:-25}
TARGETS=${TARGETS:-30}
INTERVAL_S=${INTERVAL_S:-5}
FOR_S=${FOR_S:-10}
DOWN_S=${DOWN_S:-90}
DEFAULT_STACK=${DEFAULT_STACK:-1}
FIG1=${FIG1:-1}
FIG2=${FIG2:-1}
PAGES=${PAGES:-100}
SERIES=${SERIES:-1000}
FIG2_WARMUP_S=${FIG2_WARMUP_S:-65}
FIG2_WINDOWS=${FIG2_WINDOWS:-5}
FIG2_WINDOW_S=${FIG2_WINDOW_S:-20}
FIG2_INTERVAL_S=5
FIG2_EXPR=${FIG2_EXPR:-'rate(bench_requests_total[1m]) > 1e9'}
FIG2_STACKS=${FIG2_STACKS:-klaxon prometheus}
KEEP=${KEEP:-0}
JOBS=${JOBS:-1}
WARMUP_S=30     # from the driver's start to the first outage
SPACING_S=4     # between outage starts, plus a jitter of up to
JITTER_S=5      # this much (uniform), so down times fall at every phase of the probes

began=$(date +%s)
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

# The peers, from Debian, only those missing (as bench/sources/setup-peers.sh).
missing=()
for p in prometheus prometheus-blackbox-exporter prometheus-alertmanager curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench/system: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
cmake --build "$build" -j"$JOBS" --target klaxon load_driver probe_bench
bin=$build/bench

work=$(mktemp -d /tmp/klaxon-system-bench.XXXXXX)
started_pids=()
cleanup() {
  local pid
  for pid in "${started_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${started_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$KEEP" = 1 ]; then echo "work folder kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "bench/system: $*" >&2; exit 1; }
free_port() { "$bin/probe_bench" free-port; }
# wait_url URL WHAT LOG: up to 30 s for URL to answer 2xx.
wait_url() {
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "$2 did not start; see $3"
}
# stop PID: ends one process this script started, and waits for it.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
value() { awk -v k="$1" '$1 == k { print $2; exit }' "$2"; }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
median() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# pct P: the nearest-rank P-quantile (0 < P <= 1) of the numbers on stdin.
pct() {
  grep -v nan | sort -g | awk -v p="$1" '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    i = int(p * NR); if (i < p * NR) i++; if (i < 1) i = 1; print v[i] }'
}
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo "**not met**"; fi; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

# start_driver DIR ARGS...: starts the load driver, sets driver_pid and drv.
start_driver() {
  local dir=$1
  shift
  "$bin/load_driver" --port_file="$dir/driver.port" --out="$dir/result" "$@" \
    >"$dir/driver.out" 2>"$dir/driver.err" &
  driver_pid=$!
  started_pids+=("$driver_pid")
  for _ in $(seq 100); do [ -s "$dir/driver.port" ] && break; sleep 0.1; done
  [ -s "$dir/driver.port" ] || fail "the load driver did not start; see $dir/driver.err"
  drv=127.0.0.1:$(cat "$dir/driver.port")
}

start_klaxon() {  # DIR CONFIG
  local port
  port=$(free_port)
  sed -i "s|@PORT@|$port|" "$2"
  "$build/klaxon" check --config "$2" >/dev/null || fail "klaxon check refused $2"
  "$build/klaxon" run --config "$2" >"$1/klaxon.log" 2>&1 &
  klaxon_pid=$!
  started_pids+=("$klaxon_pid")
  wait_url "http://127.0.0.1:$port/metrics" klaxon "$1/klaxon.log"
  klaxon_url=http://127.0.0.1:$port
}

start_prometheus() {  # DIR CONFIG -> prom_pid, prom_url
  local port
  port=$(free_port)
  promtool check config "$2" >"$1/promtool.log" 2>&1 || fail "promtool refused $2: $(cat "$1/promtool.log")"
  prometheus --config.file="$2" --storage.tsdb.path="$1/tsdb" \
    --web.listen-address="127.0.0.1:$port" >"$1/prometheus.log" 2>&1 &
  prom_pid=$!
  started_pids+=("$prom_pid")
  wait_url "http://127.0.0.1:$port/-/ready" prometheus "$1/prometheus.log"
  prom_url=http://127.0.0.1:$port
}

start_alertmanager() {  # DIR CONFIG -> am_port
  am_port=$(free_port)
  amtool check-config "$2" >"$1/amtool.log" 2>&1 || fail "amtool refused $2: $(cat "$1/amtool.log")"
  # --cluster.listen-address= turns off the HA gossip (it would listen on 0.0.0.0).
  prometheus-alertmanager --config.file="$2" --storage.path="$1/am-data" \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= >"$1/alertmanager.log" 2>&1 &
  started_pids+=($!)
  wait_url "http://127.0.0.1:$am_port/-/ready" alertmanager "$1/alertmanager.log"
}

v_prometheus=$(prometheus --version 2>&1 | head -1)
v_blackbox=$(prometheus-blackbox-exporter --version 2>&1 | head -1)
v_alertmanager=$(prometheus-alertmanager --version 2>&1 | head -1)
v_klaxon=$("$build/klaxon" --version 2>&1 | head -1)
summary=$build/bench/system-results.md
mkdir -p "$build/bench"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }

note "Measured $(date -u '+%F %H:%M') UTC by \`bench/system/run.sh\`$([ "$QUICK" = 1 ] && echo ' (QUICK=1 smoke run)'): $(nproc) CPUs, load average at the start $(cut -d' ' -f1-3 /proc/loadavg)."
note "Versions: $v_klaxon; $v_prometheus; $v_blackbox; $v_alertmanager (Debian packages)."
note

# ---------------------------------------------------------------------------
# Figure 1: detection to ticket
# ---------------------------------------------------------------------------
write_klaxon_fig1() {  # FILE
  {
    cat <<TOML
[server]
listen = "127.0.0.1:@PORT@"
data_dir = "$(dirname "$1")/klaxon-data"

[[service]]
name = "bench"
tickets = ["driver"]

[[rule]]
name = "TargetDown"
service = "bench"
severity = "critical"
expr = 'probe_success == 0'
for = "${FOR_S}s"

[[sink]]
name = "driver"
type = "webhook"
url = "http://$drv/webhook/klaxon"
timeout = "5s"
TOML
    for i in $(seq 0 $((TARGETS - 1))); do
      printf '\n[[probe.http]]\nname = "t%d"\nservice = "bench"\nurl = "http://%s/p/klaxon/%d"\ninterval = "%ds"\n' \
        "$i" "$drv" "$i" "$INTERVAL_S"
    done
  } >"$1"
}

write_prometheus_fig1() {  # FILE STACK SCRAPE_S AM_PORT BB_PORT
  local file=$1 stack=$2 every=$3
  cat >"$(dirname "$file")/rules-$stack.yml" <<YAML
groups:
  - name: bench
    rules:
      - alert: TargetDown
        expr: probe_success == 0
        for: ${FOR_S}s
        labels:
          severity: critical
YAML
  {
    cat <<YAML
global:
  scrape_interval: ${every}s
  evaluation_interval: ${every}s
  scrape_timeout: $([ "$every" -lt 10 ] && echo "${every}s" || echo 10s)
rule_files:
  - rules-$stack.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$4']
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params:
      module: [http_2xx]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:$5
    static_configs:
YAML
    for i in $(seq 0 $((TARGETS - 1))); do
      printf "      - targets: ['http://%s/p/%s/%d']\n        labels: {target: t%d}\n" "$drv" "$stack" "$i" "$i"
    done
  } >"$file"
}

write_alertmanager() {  # FILE STACK GROUP_WAIT GROUP_INTERVAL
  # group_by ['...']: every alert is its own group, so no outage waits for
  # another's group_interval (with group_by [alertname] the second outage of a
  # group would wait for the group's next flush, 5 minutes by default).
  cat >"$1" <<YAML
route:
  receiver: driver
  group_by: ['...']
  group_wait: $3
  group_interval: $4
  repeat_interval: 4h
receivers:
  - name: driver
    webhook_configs:
      - url: http://$drv/webhook/$2
        send_resolved: true
YAML
}

fig1_stacks="klaxon fast"
[ "$DEFAULT_STACK" = 1 ] && fig1_stacks="klaxon fast default"
if [ "$FIG1" = 1 ]; then
  bb_dir=$work/blackbox
  mkdir -p "$bb_dir"
  bb_port=$(free_port)
  prometheus-blackbox-exporter --config.file="$root/bench/sources/blackbox.yml" \
    --web.listen-address="127.0.0.1:$bb_port" >"$bb_dir/log" 2>&1 &
  bb_pid=$!
  started_pids+=("$bb_pid")
  wait_url "http://127.0.0.1:$bb_port/-/healthy" "the blackbox exporter" "$bb_dir/log"

  for run in $(seq "$RUNS"); do
    d=$work/fig1-$run
    mkdir -p "$d"
    start_driver "$d" --targets="$TARGETS" --outages="$OUTAGES" --warmup_s="$WARMUP_S" \
      --spacing_s="$SPACING_S" --jitter_s="$JITTER_S" --down_s="$DOWN_S" --for_s="$FOR_S" \
      --pages=0 --seed="$run"
    run_pids=()
    write_klaxon_fig1 "$d/klaxon.toml"
    start_klaxon "$d" "$d/klaxon.toml"
    run_pids+=("$klaxon_pid")
    for stack in fast default; do
      [[ " $fig1_stacks " == *" $stack "* ]] || continue
      s=$d/$stack
      mkdir -p "$s"
      if [ "$stack" = fast ]; then every=$INTERVAL_S gw=0s gi=1s; else every=15 gw=30s gi=5m; fi
      write_alertmanager "$s/alertmanager.yml" "$stack" "$gw" "$gi"
      start_alertmanager "$s" "$s/alertmanager.yml"
      run_pids+=("${started_pids[-1]}")
      write_prometheus_fig1 "$s/prometheus.yml" "$stack" "$every" "$am_port" "$bb_port"
      start_prometheus "$s" "$s/prometheus.yml"
      run_pids+=("$prom_pid")
    done
    echo "figure 1, run $run of $RUNS: $OUTAGES outages over $TARGETS targets; the driver stops after $(value duration_s "$d/driver.out") s"
    wait "$driver_pid" || fail "the load driver failed; see $d/driver.err"
    curl -fsS "$klaxon_url/metrics" >"$d/klaxon.metrics" || true
    awk '/^klaxon_engine_timer_lateness_seconds_bucket\{timer="for",le="0.025"\}/ { a = $2 }
         /^klaxon_engine_timer_lateness_seconds_bucket\{timer="for",le="0.1"\}/ { b = $2 }
         /^klaxon_engine_timer_lateness_seconds_count\{timer="for"\}/ { n = $2 }
         END { printf "   klaxon: %d for deadlines, %d ran > 25 ms late, %d > 100 ms late\n", n, n - a, n - b }' "$d/klaxon.metrics"
    for pid in "${run_pids[@]}"; do stop "$pid"; done
    cp "$d/result.outages.tsv" "$work/fig1-$run.outages.tsv"
    grep '^stack ' "$d/driver.out" | sed 's/^/   /'
    for stack in $fig1_stacks; do
      rows=$(awk -F'\t' -v s="$stack" '$1 == s' "$d/result.outages.tsv")
      missed=$(grep "^stack $stack " "$d/driver.out" | awk '{ print $6 }')
      [ -n "$missed" ] || fail "run $run: no $stack probes or tickets at all; see $d"
      [ "$missed" = 0 ] || fail "run $run: $stack missed $missed outages; see $d/result.outages.tsv"
      printf '   %-8s a p50 %8.0f ms  p99 %8.0f ms | b p50 %8.0f ms  p99 %8.0f ms  (n=%d)\n' "$stack" \
        "$(cut -f8 <<<"$rows" | pct 0.5)" "$(cut -f8 <<<"$rows" | pct 0.99)" \
        "$(cut -f9 <<<"$rows" | pct 0.5)" "$(cut -f9 <<<"$rows" | pct 0.99)" "$(wc -l <<<"$rows")"
    done
  done
  stop "$bb_pid"

  all=$work/fig1-all.tsv
  cat "$work"/fig1-[0-9]*.outages.tsv | grep -v '^stack' >"$all"
  col() { awk -F'\t' -v s="$1" -v c="$2" '$1 == s { print $c }' "$all"; }
  n_out=$(col klaxon 2 | wc -l)
  k_a50=$(col klaxon 8 | pct 0.5); k_a99=$(col klaxon 8 | pct 0.99)
  k_b50=$(col klaxon 9 | pct 0.5); k_b99=$(col klaxon 9 | pct 0.99)
  f_a50=$(col fast 8 | pct 0.5); f_a99=$(col fast 8 | pct 0.99)
  f_b50=$(col fast 9 | pct 0.5); f_b99=$(col fast 9 | pct 0.99)
  goal_a=$((INTERVAL_S * 1000 + FOR_S * 1000 + 100))
  fig1_row() {  # STACK LABEL
    local s=$1
    printf '| %s | %.0f | %.0f | %.0f | %.0f | %.0f / %.0f |\n' "$2" \
      "$(col "$s" 8 | pct 0.5)" "$(col "$s" 8 | pct 0.99)" "$(col "$s" 9 | pct 0.5)" \
      "$(col "$s" 9 | pct 0.99)" "$(col "$s" 9 | pct 0)" "$(col "$s" 9 | pct 1)"
  }
  note "## Figure 1: detection to ticket"
  note
  note "$RUNS run(s) of $OUTAGES outages each over $TARGETS targets, $n_out outages per stack in all; each target down ${DOWN_S}s (503), one outage per target per run; probe/scrape interval ${INTERVAL_S}s, \`for\` ${FOR_S}s. Milliseconds; nearest-rank percentiles over all outages (with n=$n_out, p99 is the $(awk -v n="$n_out" 'BEGIN { i = int(0.99 * n); if (i < 0.99 * n) i++; print i }')th of $n_out)."
  note
  note "| stack | (a) p50 | (a) p99 | (b) p50 | (b) p99 | (b) min / max |"
  note "| --- | --- | --- | --- | --- | --- |"
  fig1_row klaxon "klaxon (probe interval ${INTERVAL_S}s)" | tee -a "$summary"
  fig1_row fast "prometheus + blackbox + alertmanager, shortest (scrape/eval ${INTERVAL_S}s, group_wait 0s, group_interval 1s)" | tee -a "$summary"
  if [ "$DEFAULT_STACK" = 1 ]; then
    fig1_row default "prometheus + blackbox + alertmanager, defaults (scrape/eval 15s, group_wait 30s, group_interval 5m)" | tee -a "$summary"
  fi
  note
  note "Where (b) goes: \`fired\` is when the stack says the alert fired (klaxon's incident \`opened_at\`, the \`for\` deadline's evaluation; Alertmanager's \`startsAt\`, which Prometheus sets to the evaluation that fired it); (b) = fired - (first down probe + for) + (ticket - fired)."
  note
  note "| stack | fired - (first down probe + for) p50 / p99 | ticket - fired p50 / p99 |"
  note "| --- | --- | --- |"
  for stack in $fig1_stacks; do
    printf '| %s | %.1f / %.1f | %.1f / %.1f |\n' "$stack" "$(col "$stack" 11 | pct 0.5)" "$(col "$stack" 11 | pct 0.99)" \
      "$(col "$stack" 12 | pct 0.5)" "$(col "$stack" 12 | pct 0.99)" | tee -a "$summary"
  done
  note
  note "Goals: klaxon (a) p99 $(calc "$k_a99" 0) ms <= interval + for + 100 ms = $goal_a ms: $(verdict "$k_a99 <= $goal_a"); klaxon (b) p99 $(calc "$k_b99" 1) ms < 100 ms: $(verdict "$k_b99 < 100"); and < peer (b) p50 / 5 = $(calc "$f_b50 / 5" 0) ms: $(verdict "$k_b99 < $f_b50 / 5")."
  note
  note "Per run (ms, a p50/p99, b p50/p99):"
  for run in $(seq "$RUNS"); do
    f=$work/fig1-$run.outages.tsv
    line="- run $run:"
    for stack in $fig1_stacks; do
      r=$(awk -F'\t' -v s="$stack" '$1 == s' "$f")
      line+=" $stack $(cut -f8 <<<"$r" | pct 0.5 | xargs printf %.0f)/$(cut -f8 <<<"$r" | pct 0.99 | xargs printf %.0f), $(cut -f9 <<<"$r" | pct 0.5 | xargs printf %.1f)/$(cut -f9 <<<"$r" | pct 0.99 | xargs printf %.1f);"
    done
    note "$line"
  done
  note
  note "Settings: klaxon \`[[probe.http]]\` interval ${INTERVAL_S}s (timeout default 5s, fresh connection per probe), \`[rules] tick\` 1s (default), webhook sink. Blackbox exporter: bench/sources/blackbox.yml (http_2xx, ip4, timeout 5s), one exporter for both peer stacks. Prometheus: scrape_timeout = interval (fast) / 10s (default), no other flags than config, storage path and listen address. Alertmanager: group_by ['...'], repeat_interval 4h, webhook with send_resolved, --cluster.listen-address= (no gossip)."
  note
fi

# ---------------------------------------------------------------------------
# Figure 2: scrape ingest cost
# ---------------------------------------------------------------------------
# measure NAME PID DIR: FIG2_WINDOWS windows of CPU per million samples.
measure() {
  local name=$1 pid=$2 dir=$3 w t0 t1 s0 s1
  sleep "$FIG2_WARMUP_S"
  for w in $(seq "$FIG2_WINDOWS"); do
    t0=$(cpu_ticks "$pid")
    s0=$(curl -fsS "http://$drv/stats" | awk '$1 == "samples_served" { print $2 }')
    sleep "$FIG2_WINDOW_S"
    t1=$(cpu_ticks "$pid")
    s1=$(curl -fsS "http://$drv/stats" | awk '$1 == "samples_served" { print $2 }')
    [ "$s1" -gt "$s0" ] || fail "$name scraped nothing in window $w"
    cpu=$(calc "($t1 - $t0) / $hz" 2)
    per_m=$(calc "($t1 - $t0) / $hz / (($s1 - $s0) / 1e6)" 3)
    rss=$(status_kb "$pid" VmRSS)
    echo "cpu_s_per_million $per_m" >>"$dir/$name.windows"
    echo "rss_kb $rss" >>"$dir/$name.windows"
    printf '   %-10s window %d: %s CPU-s over %d samples = %s CPU-s per million; RSS %d MiB\n' \
      "$name" "$w" "$cpu" $((s1 - s0)) "$per_m" $((rss / 1024))
  done
  echo "hwm_kb $(status_kb "$pid" VmHWM)" >>"$dir/$name.windows"
}

if [ "$FIG2" = 1 ]; then
  d=$work/fig2
  mkdir -p "$d"
  per_stack=$((FIG2_WARMUP_S + FIG2_WINDOWS * FIG2_WINDOW_S + 30))
  start_driver "$d" --outages=0 --pages="$PAGES" --series="$SERIES" --duration_s=$((2 * per_stack + 60))
  {
    cat <<TOML
[server]
listen = "127.0.0.1:@PORT@"
data_dir = "$d/klaxon-data"
TOML
    [ "$FIG2_EXPR" = none ] || printf '\n[[rule]]\nname = "BenchRate"\nexpr = '"'"'%s'"'"'\n' "$FIG2_EXPR"
    # One job per page: klaxon's instance label is host:port, the same for
    # every page of the one driver, and up{job,instance} must differ.
    for k in $(seq 0 $((PAGES - 1))); do
      printf '\n[[scrape]]\njob = "bench-%d"\ntargets = ["http://%s/metrics/%d"]\ninterval = "%ds"\n' \
        "$k" "$drv" "$k" "$FIG2_INTERVAL_S"
    done
  } >"$d/klaxon.toml"
  k_samples= p_samples= p_series= k_ticks= k_late= p_eval=
  if [[ " $FIG2_STACKS " == *" klaxon "* ]]; then
  start_klaxon "$d" "$d/klaxon.toml"
  echo "figure 2: klaxon scraping $PAGES pages of $SERIES series every ${FIG2_INTERVAL_S}s, rule '$FIG2_EXPR'"
  measure klaxon "$klaxon_pid" "$d"
  curl -fsS "$klaxon_url/metrics" >"$d/klaxon.metrics"
  k_samples=$(awk '$1 == "klaxon_samples_ingested_total" { print $2 }' "$d/klaxon.metrics")
  # The engine's own account: mean tick (every rule evaluated) and late ticks.
  k_ticks=$(awk '/^klaxon_engine_tick_duration_seconds_(sum|count)/ { v[$1] = $2 } END {
      c = v["klaxon_engine_tick_duration_seconds_count"]; if (c > 0) printf "%.0f ms mean over %d ticks", 1000 * v["klaxon_engine_tick_duration_seconds_sum"] / c, c }' "$d/klaxon.metrics")
  k_late=$(awk -F'[ ]' '/^klaxon_engine_timer_lateness_seconds_bucket\{timer="tick",le="0.1"\}/ { ok = $2 }
      /^klaxon_engine_timer_lateness_seconds_count\{timer="tick"\}/ { n = $2 } END { print n - ok }' "$d/klaxon.metrics")
  stop "$klaxon_pid"
  fi

  if [[ " $FIG2_STACKS " == *" prometheus "* ]]; then
  if [ "$FIG2_EXPR" = none ]; then
    echo "groups: []" >"$d/rules.yml"
  else
    printf 'groups:\n  - name: bench\n    rules:\n      - alert: BenchRate\n        expr: %s\n' "$FIG2_EXPR" >"$d/rules.yml"
  fi
  {
    cat <<YAML
global:
  scrape_interval: ${FIG2_INTERVAL_S}s
  evaluation_interval: ${FIG2_INTERVAL_S}s
  scrape_timeout: ${FIG2_INTERVAL_S}s
rule_files:
  - rules.yml
scrape_configs:
  - job_name: bench
    static_configs:
YAML
    for k in $(seq 0 $((PAGES - 1))); do
      printf "      - targets: ['%s']\n        labels: {__metrics_path__: /metrics/%d, instance: 'page-%d'}\n" "$drv" "$k" "$k"
    done
  } >"$d/prometheus.yml"
  start_prometheus "$d" "$d/prometheus.yml"
  echo "figure 2: prometheus, the same pages and rule"
  measure prometheus "$prom_pid" "$d"
  p_samples=$(curl -fsS "$prom_url/metrics" | awk '$1 ~ /^prometheus_tsdb_head_samples_appended_total/ { s += $2 } END { print s }')
  p_series=$(curl -fsS "$prom_url/metrics" | awk '$1 == "prometheus_tsdb_head_series" { print $2 }')
  p_eval=$(curl -fsS "$prom_url/metrics" | awk '$1 ~ /^prometheus_rule_group_last_duration_seconds/ { printf "%.0f ms", $2 * 1000 }')
  stop "$prom_pid"
  fi
  stop "$driver_pid"
  touch "$d/klaxon.windows" "$d/prometheus.windows"

  wv() { awk -v k="$1" '$1 == k { print $2 }' "$d/$2.windows"; }
  k_cpu=$(wv cpu_s_per_million klaxon | median); p_cpu=$(wv cpu_s_per_million prometheus | median)
  k_rss=$(wv rss_kb klaxon | median); p_rss=$(wv rss_kb prometheus | median)
  k_hwm=$(wv hwm_kb klaxon); p_hwm=$(wv hwm_kb prometheus)
  mib() { [ -n "$1" ] && [ "$1" != nan ] && echo "$(($1 / 1024)) MiB" || echo -; }
  # ratio A B DIGITS: A / B, or - when either is missing.
  ratio() { if [ -n "$1" ] && [ -n "$2" ] && [ "$1" != nan ] && [ "$2" != nan ]; then calc "$1 / $2" "$3"; else echo -; fi; }
  holds() { if [ "$1" = - ]; then echo -; else verdict "$1"; fi; }
  r_cpu=$(ratio "$k_cpu" "$p_cpu" 3); r_rss=$(ratio "$k_rss" "$p_rss" 2); r_hwm=$(ratio "$k_hwm" "$p_hwm" 2)
  rule_text="one alerting rule \`$FIG2_EXPR\` in both (klaxon's [rules] tick 1s; prometheus's evaluation_interval ${FIG2_INTERVAL_S}s)"
  [ "$FIG2_EXPR" = none ] && rule_text="no rule (the ingest alone)"
  note "## Figure 2: scrape ingest"
  note
  note "$PAGES pages x $SERIES counters every ${FIG2_INTERVAL_S}s from the load driver ($((PAGES * SERIES / FIG2_INTERVAL_S)) samples/s), $rule_text. Medians of $FIG2_WINDOWS windows of ${FIG2_WINDOW_S}s after ${FIG2_WARMUP_S}s of warm-up; samples are those the driver served (the page samples; klaxon adds 3 and prometheus 5 series of its own per scrape). Samples ingested by the end: klaxon ${k_samples:--}, prometheus ${p_samples:--} (head series ${p_series:--}). Rule evaluation: klaxon ticks ${k_ticks:--}, ${k_late:--} ticks more than 100 ms late (klaxon evaluates the rule on a scrape's arrival and on its 1 s tick, but no sooner than 100 times its last evaluation's duration after the one before, so a tick that finds it too soon costs nothing); prometheus's last group evaluation ${p_eval:--} (every ${FIG2_INTERVAL_S}s)."
  note
  note "| | klaxon | prometheus | klaxon/prometheus | goal | verdict |"
  note "| --- | --- | --- | --- | --- | --- |"
  note "| CPU-s per million samples (windows: $(wv cpu_s_per_million klaxon | tr '\n' ' ')/ $(wv cpu_s_per_million prometheus | tr '\n' ' ')) | $k_cpu | $p_cpu | $r_cpu | <= 0.2 | $(holds "$([ "$r_cpu" = - ] && echo - || echo "$r_cpu <= 0.2")") |"
  note "| steady RSS (VmRSS, median of window ends) | $(mib "$k_rss") | $(mib "$p_rss") | $r_rss | less | $(holds "$([ "$r_rss" = - ] && echo - || echo "$r_rss < 1")") |"
  note "| peak RSS (VmHWM) | $(mib "$k_hwm") | $(mib "$p_hwm") | $r_hwm | less | $(holds "$([ "$r_hwm" = - ] && echo - || echo "$r_hwm < 1")") |"
  note
fi

note "The script took $(( ($(date +%s) - began) / 60 )) min $(( ($(date +%s) - began) % 60 )) s."
echo "(written to $summary)"
