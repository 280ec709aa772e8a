#!/usr/bin/env bash
# Runs the ONNX Runtime peer of the benchmarks: installs what is missing, exports the models once,
# then runs the harness, which prints its table on stdout and writes build/onnx-results.json.
#
#   bench/onnxruntime/run.sh [--quick] [more ort_bench.mjs options, e.g. --threads 1 --only b1_s128]
#   bench/onnxruntime/run.sh --variants [--quick]   the attention variants of variants_bench
#                                                   (build/onnx-variants, build/onnx-variants.json),
#                                                   with each model's peak memory (--peak-memory)
#
# Works from any directory. Only the harness writes to stdout (set-up chatter goes to stderr), and
# the exit status is the harness's: non-zero if a model failed to load, run or match PyTorch.
# ORT_BENCH_MODELS and ORT_BENCH_JSON override the models directory and the JSON path.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export_args=()
default_models=build/onnx-models default_json=build/onnx-results.json
if [ "${1:-}" = "--variants" ]; then
  shift
  export_args=(--variants-only)
  default_models=build/onnx-variants default_json=build/onnx-variants.json
  set -- --peak-memory "$@"  # variants_bench's peak-memory column
fi
models="${ORT_BENCH_MODELS:-$root/$default_models}"
json="${ORT_BENCH_JSON:-$root/$default_json}"

"$root/tools/install-deps.sh" python3-onnx python3-torch python3-numpy >&2

if [ ! -d "$here/node_modules/onnxruntime-node" ]; then
  # The package ships the linux-x64 CPU library; its postinstall would only fetch CUDA providers
  # from NuGet, which is neither needed nor reachable here.
  (cd "$here" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund) >&2
fi

# manifest.json is written last, so an interrupted export is redone; so is one older than the
# export script.
if [ ! -f "$models/manifest.json" ] || [ "$root/tools/export_onnx_attention.py" -nt "$models/manifest.json" ]; then
  /usr/bin/python3 "$root/tools/export_onnx_attention.py" "${export_args[@]}" "$models" >&2
fi

exec node "$here/ort_bench.mjs" --models "$models" --json "$json" "$@"
