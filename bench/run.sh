#!/usr/bin/env bash
# Every side-by-side benchmark in one run: ONNX Runtime first (a Node.js process timing every
# variant of every model; its times go to build/onnx-results.json), then the C++ benchmarks, which
# time typeformer, PyTorch (libtorch, same process), OpenBLAS and ORT's fastest variant of each
# shape (the same Node.js harness as a child process, --serve) in alternating blocks. Installs
# what is missing.
#
#   bench/run.sh [--quick]
#
# Tables go to stdout; JSON to build/onnx-results.json, build/bench-mha.json,
# build/bench-variants.json and
# build/bench-kernels{,-o2}.json. Run it on an otherwise idle machine: every
# peer is timed on the same cores, one after the other.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)

tools/install-deps.sh cmake make g++ xtensor-dev libxsimd-dev nlohmann-json3-dev \
  libtorch-dev libopenblas-dev >&2
# Node.js 20 or newer for the ONNX Runtime harness: taken as found (Debian 12's own nodejs is 18,
# and its npm package conflicts with a Node.js installed from elsewhere).
if ! command -v node > /dev/null; then
  echo "bench/run.sh: the ONNX Runtime peer needs Node.js >= 20 (node) and npm on PATH" >&2
  exit 1
fi
cmake --preset bench >&2
cmake --build --preset bench >&2

echo "== ONNX Runtime (onnxruntime-node)"
bench/onnxruntime/run.sh "${quick[@]}"
echo
echo "== Multi-head attention"
ort=(--ort build/onnx-results.json --ort-harness bench/onnxruntime/ort_bench.mjs
  --ort-models build/onnx-models)
build/bench/bench/mha_bench "${quick[@]}" "${ort[@]}" --json build/bench-mha.json
echo
echo "== Encoder layer"
build/bench/bench/encoder_bench "${quick[@]}" "${ort[@]}"
echo
echo "== Incremental decoding"
build/bench/bench/decode_bench "${quick[@]}"
echo
echo "== The multi-head LSTM"
build/bench/bench/multi_head_bench "${quick[@]}"
echo
echo "== Attention variants as score and mask functions (docs/expressions.md)"
bench/onnxruntime/run.sh --variants "${quick[@]}" > /dev/null
build/bench/bench/variants_bench "${quick[@]}" --ort build/onnx-variants.json \
  --ort-harness bench/onnxruntime/ort_bench.mjs --ort-models build/onnx-variants \
  --json build/bench-variants.json
echo
echo "== The GEMM and the attention core alone, built at -O3 (Release)"
build/bench/bench/kernel_bench "${quick[@]}" --json build/bench-kernels.json
echo
echo "== The same kernels built at -O2 (RelWithDebInfo's level), which must be as fast"
build/bench/bench/kernel_bench_o2 "${quick[@]}" --json build/bench-kernels-o2.json
