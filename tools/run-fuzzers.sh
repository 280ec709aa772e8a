#!/usr/bin/env bash
# Fuzzes each libFuzzer target for SECONDS (default 600), one after another, and prints what
# docs/reliability.md records: executions, corpus size, crashes. New corpus inputs stay in
# build/fuzz/fuzz-corpus/; crash inputs go to build/fuzz/fuzz-artifacts/ (add each to
# tests/fuzz/corpus/<target>/ as crash-<what>, with a unit test).
# Usage: tools/run-fuzzers.sh [SECONDS [TARGET...]]   targets: safetensors_file load_weights
#                                                              weight_conversion tfjs_model
# FUZZ_RUNS=N stops each target after N executions (or SECONDS, whichever comes first);
# FUZZ_EMPTY_CORPUS=1 starts from an empty corpus (the structure-aware mutator's reach).
# Memory: -rss_limit_mb=1024 and -malloc_limit_mb=512, so an input that makes the library
# allocate out of proportion is a finding, as docs/reliability.md's bound says.
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
  corpora=("$out/fuzz-corpus/$t" "tests/fuzz/corpus/$t")
  if [ "${FUZZ_EMPTY_CORPUS:-0}" = 1 ]; then
    corpora=("$out/fuzz-empty-corpus-$t")
    rm -rf "${corpora[0]}" && mkdir -p "${corpora[0]}"
  fi
  runs=()
  [ -n "${FUZZ_RUNS:-}" ] && runs=(-runs="$FUZZ_RUNS")
  dict=()
  case "$t" in
    weight_conversion) ;;
    tfjs_model) dict=(-dict=tests/fuzz/tfjs_model.dict) ;;
    *) dict=(-dict=tests/fuzz/safetensors.dict) ;;
  esac
  log="$out/fuzz-$t.log"
  echo "==> $t for ${seconds} s (log: $log)"
  "$out/tests/fuzz_$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=1024 -malloc_limit_mb=512 \
    -print_final_stats=1 "${runs[@]}" "${dict[@]}" -artifact_prefix="$out/fuzz-artifacts/$t-" \
    "${corpora[@]}" >"$log" 2>&1 || status=1
  executed=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
  rate=$(awk '/stat::average_exec_per_sec/ { print $2 }' "$log")
  corpus=$(find "${corpora[@]}" -type f | wc -l)
  crashes=$(find "$out/fuzz-artifacts" -name "$t-*" -type f | wc -l)
  echo "<== $t: ${executed:-?} executions (${rate:-?}/s), corpus ${corpus} inputs, ${crashes} crash inputs"
done
exit $status
