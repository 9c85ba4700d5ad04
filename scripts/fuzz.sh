#!/usr/bin/env bash
# Builds klaxon's libFuzzer targets with clang (in build-fuzz) and runs each
# for SECONDS (default 300). `make test` runs them briefly, `make fuzz` long.
# A crash fails the run and leaves its input in build-fuzz/crashes/.
set -euo pipefail
seconds=${1:-300}
cd "$(dirname "$0")/.."
build=build-fuzz
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DKLAXON_FUZZ=ON >/dev/null
fi
fuzzers=(prom_text_fuzzer syslog_fuzzer log_matcher_fuzzer)
cmake --build "$build" -j"${JOBS:-2}" --target "${fuzzers[@]}"
mkdir -p "$build/crashes"
for fuzzer in "${fuzzers[@]}"; do
  name=${fuzzer%_fuzzer}
  corpus="$build/corpus/$name"
  mkdir -p "$corpus"
  seeds=()
  [ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
  echo "fuzz: $fuzzer for ${seconds}s"
  "$build/tests/fuzz/$fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$build/crashes/$name-" -rss_limit_mb=2048 -timeout=10 \
    "$corpus" "${seeds[@]}" 2>"$build/$name.log" || {
      tail -50 "$build/$name.log" >&2
      echo "fuzz: $fuzzer FAILED (input in $build/crashes/)" >&2
      exit 1
    }
  grep -E "stat::number_of_executed_units|cov:" "$build/$name.log" | tail -2
done
echo "fuzz: all targets ran ${seconds}s without a crash"
