#!/usr/bin/env bash
# Builds and runs an example; installs missing Debian packages first.
#   ./run-example.sh                       the main example: the multi-head attention block of
#                                          "Attention Is All You Need" (h=8, d_model=512, batch
#                                          64, sequence 5), weights exported from PyTorch,
#                                          compared with PyTorch's output
#   ./run-example.sh transformer_encoder   a 6-layer nn.TransformerEncoder; exports its weights
#                                          with PyTorch first (installs python3-torch) if missing
#   ./run-example.sh translation           greedy encoder-decoder translation of a model trained
#                                          in PyTorch (trains it first, ~2 min, if missing)
#   ./run-example.sh keras_wrapper_attention
#                                          LayerNormalization(x + MultiHeadAttention(x, x)) in
#                                          Keras layout; TensorFlow.js writes its weights first
#                                          (installs nodejs and npm, ~4 min) if missing
#   ./run-example.sh multi_head_lstm       keras-multi-head's MultiHead(LSTM(64), 3) classifier
#   ./run-example.sh multi_head_cnn        three Conv1D heads (kernels 3, 5, 7), stacked
#   ./run-example.sh relative_wrapper_attention
#                                          LayerNormalization(x + relative attention(x, x))
#   ./run-example.sh keras_attention_layers
#                                          Attention, AdditiveAttention, Bahdanau, keras-multi-head
#                                          and the tutorials' MultiHeadAttention, one file
#   ./run-example.sh llama_attention       a LLaMA attention layer (grouped key/value heads,
#                                          rotary embedding), decoded step by step from the cache
#
# Generated weights are made again when they are missing or older than their generator.
set -euo pipefail
cd "$(dirname "$0")"
example=attention_is_all_you_need
if [ $# -gt 0 ] && [ -f "examples/$1.cpp" ]; then example=$1; shift; fi
tools/install-deps.sh cmake make g++ xtensor-dev libxsimd-dev nlohmann-json3-dev
if [ "$example" = transformer_encoder ] && [ $# -eq 0 ] &&
  [ tools/export_torch.py -nt examples/data/generated/encoder_6x512.safetensors ]; then
  tools/install-deps.sh python3-torch python3-numpy
  /usr/bin/python3 tools/export_torch.py examples/pytorch_modules.py:encoder_6x512 \
    --out examples/data/generated/encoder_6x512.safetensors \
    --input-shape 4,40,512 --key-lengths 40,33,17,1 --atol 2e-4 --rtol 2e-3
fi
if [ "$example" = translation ] && [ $# -eq 0 ] &&
  [ tools/export_translation_pytorch.py -nt examples/data/generated/translation.safetensors ]; then
  tools/install-deps.sh python3-torch python3-numpy
  /usr/bin/python3 tools/export_translation_pytorch.py
fi
if [ "$example" = keras_wrapper_attention ] && [ $# -eq 0 ] &&
  [ tools/keras_goldens/make_layer_goldens_keras.mjs -nt examples/data/generated/keras_wrapper_block_512.safetensors ]; then
  command -v node >/dev/null || tools/install-deps.sh nodejs npm
  (cd tools/keras_goldens && npm ci --no-audit --no-fund &&
    node make_layer_goldens_keras.mjs --example ../../examples/data/generated/keras_wrapper_block_512.safetensors)
fi
cmake -S . -B build/example -DCMAKE_BUILD_TYPE=Release -DTYPEFORMER_BUILD_TESTS=OFF \
  -DTYPEFORMER_BUILD_EXAMPLES=ON >/dev/null
cmake --build build/example --target "$example" -j 2
"./build/example/examples/$example" "$@"
