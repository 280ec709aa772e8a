#!/usr/bin/env bash
# Builds and runs the whole test suite: Release builds with g++ 12 and clang 14, an ASan+UBSan
# build with clang 14, then the fuzz targets (libFuzzer, 25 s each), a valgrind memcheck and the
# concurrency tests under ThreadSanitizer. (The g++ `asan` preset is kept for local use: in CI
# it cost the most build time of any step for what the clang one already checks.) Installs
# missing Debian packages first. Prints each step's wall time against its limit in .ci/budget;
# a step over its limit is reported, and the run fails once the steps together overrun the
# sum of the limits (the 40-minute CI budget), so one step's noise on a busy VM can borrow
# another's slack but the whole run cannot grow.
set -euo pipefail
cd "$(dirname "$0")"

budget_of() { awk -v s="$1" '$1 == s { print $2 }' .ci/budget; }
total_budget=$(awk '!/^#/ && NF == 2 { sum += $2 } END { print sum }' .ci/budget)
overruns=()
step() {
  local name=$1; shift
  local limit; limit=$(budget_of "$name")
  [ -n "$limit" ] || { echo "run-tests: step '$name' has no budget in .ci/budget" >&2; exit 1; }
  echo "==> $name (budget ${limit} s)"
  local start=$SECONDS
  "$@"
  local took=$((SECONDS - start))
  echo "<== $name: ${took} s of ${limit} s"
  timings+=("$(printf '%-22s %5d s  (budget %5d s)' "$name" "$took" "$limit")")
  if [ "$took" -gt "$limit" ]; then
    echo "run-tests: warning: step '$name' took ${took} s, over its budget of ${limit} s" >&2
    overruns+=("$name: ${took} s of ${limit} s")
  fi
  local elapsed=$((SECONDS - total_start))
  if [ "$elapsed" -gt "$total_budget" ]; then
    echo "run-tests: the steps so far took ${elapsed} s, over the whole run's budget of" \
      "${total_budget} s (.ci/budget)" >&2
    exit 1
  fi
}
timings=()
total_start=$SECONDS

step deps tools/install-deps.sh
for preset in release release-clang asan-clang; do
  step "build:$preset" bash -c "cmake --preset $preset >/dev/null && cmake --build --preset $preset"
  step "test:$preset" ctest --preset "$preset"
done
# libFuzzer + ASan + UBSan: each target fuzzed for 25 s from the committed corpus.
step "build:fuzz" bash -c "cmake --preset fuzz >/dev/null && cmake --build --preset fuzz"
step "test:fuzz" ctest --preset fuzz
# Valgrind memcheck of one example, built for x86-64-v3 (valgrind 3.19 cannot run AVX-512).
step "build:valgrind" bash -c "cmake --preset valgrind >/dev/null && cmake --build --preset valgrind"
step "test:valgrind" valgrind --quiet --error-exitcode=1 --leak-check=full \
  --errors-for-leak-kinds=definite,indirect build/valgrind/examples/attention_is_all_you_need
# Every C++ block of README.md and docs/ compiles (one translation unit of fragments).
step "build:docs" bash -c "cmake --preset docs >/dev/null && cmake --build --preset docs"
# Runners sharing weights across threads, under ThreadSanitizer (one small target).
step "build:tsan" bash -c "cmake --preset tsan >/dev/null && cmake --build --preset tsan"
step "test:tsan" ctest --preset tsan

echo
echo "step timings:"
printf '  %s\n' "${timings[@]}"
echo "  total                  $((SECONDS - total_start)) s  (budget ${total_budget} s)"
if [ "${#overruns[@]}" -gt 0 ]; then
  echo "steps over their own budget (the total stayed within its own):"
  printf '  %s\n' "${overruns[@]}"
fi
