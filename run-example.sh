#!/usr/bin/env bash
# Builds and runs the main example: the multi-head attention block of "Attention Is All You
# Need" (h=8, d_model=512, batch 64, sequence 5) with weights exported from PyTorch, compared
# with PyTorch's output. Installs missing Debian packages first.
set -euo pipefail
cd "$(dirname "$0")"
tools/install-deps.sh cmake make g++ xtensor-dev libxsimd-dev libboost-dev nlohmann-json3-dev
cmake -S . -B build/example -DCMAKE_BUILD_TYPE=Release -DTYPEFORMER_BUILD_TESTS=OFF \
  -DTYPEFORMER_BUILD_EXAMPLES=ON >/dev/null
cmake --build build/example --target attention_is_all_you_need -j 2
./build/example/examples/attention_is_all_you_need "$@"
