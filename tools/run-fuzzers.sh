#!/usr/bin/env bash
# Fuzzes each libFuzzer target for SECONDS (default 600), one after another, and prints what
# docs/reliability.md records: executions, corpus size, crashes. New corpus inputs stay in
# build/fuzz/fuzz-corpus/; crash inputs go to build/fuzz/fuzz-artifacts/ (add each to
# tests/fuzz/corpus/<target>/ as crash-<what>, with a unit test).
# Usage: tools/run-fuzzers.sh [SECONDS [TARGET...]]   targets: safetensors_file load_weights
#                                                              weight_conversion tfjs_model
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors_file load_weights weight_conversion tfjs_model)

tools/install-deps.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
out=build/fuzz
mkdir -p "$out/fuzz-artifacts"
status=0
for t in "${targets[@]}"; do
  mkdir -p "$out/fuzz-corpus/$t"
  dict=()
  case "$t" in
    weight_conversion) ;;
    tfjs_model) dict=(-dict=tests/fuzz/tfjs_model.dict) ;;
    *) dict=(-dict=tests/fuzz/safetensors.dict) ;;
  esac
  log="$out/fuzz-$t.log"
  echo "==> $t for ${seconds} s (log: $log)"
  "$out/tests/fuzz_$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
    -print_final_stats=1 "${dict[@]}" -artifact_prefix="$out/fuzz-artifacts/$t-" \
    "$out/fuzz-corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 || status=1
  runs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
  corpus=$(find "$out/fuzz-corpus/$t" "tests/fuzz/corpus/$t" -type f | wc -l)
  crashes=$(find "$out/fuzz-artifacts" -name "$t-*" -type f | wc -l)
  echo "<== $t: ${runs:-?} executions, corpus ${corpus} inputs, ${crashes} crash inputs"
done
exit $status
