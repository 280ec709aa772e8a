// The attention block Keras users wrap around MultiHeadAttention:
//
//   attention = layers.MultiHeadAttention(num_heads=8, key_dim=512)
//   norm = layers.LayerNormalization(epsilon=1e-6)
//   y = norm(x + attention(x, x))
//
// on d_model 512, with Keras's weight layout (query/kernel (512, 8, 512), attention_output/kernel
// (8, 512, 512)). Note key_dim 512 per head, as Keras examples often declare it, not 512 / 8.
// Weights and a sample come from TensorFlow.js's Keras port
// (tools/keras_goldens/make_layer_goldens_keras.mjs --example); the program checks our output
// against it and times a larger batch.
//
//   ./run-example.sh keras_wrapper_attention   (generates the data with Node first if missing)

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <typeformer/typeformer.hpp>

#include "example_support.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

using wrapper_block = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<512>, max_batch<8>, max_seq<128>>,
    tfm::residual<tfm::multi_head_attention<"mha", heads<8>, key_dim_per_head<512>>,
                  tfm::post_norm<tfm::layer_norm<"norm", tfm::epsilon<1, -6>>>>>;

// 4 kernels of 512·8·512, their biases, and the norm's scale and offset.
static_assert(wrapper_block::parameter_count == 4 * 512 * 8 * 512 + 3 * 8 * 512 + 512 + 2 * 512);

int main(int argc, char** argv) try {
  const std::string path = argc > 1 ? argv[1]
                                    : std::string(TYPEFORMER_EXAMPLE_DATA) +
                                          "/generated/keras_wrapper_block_512.safetensors";
  std::cout << tfm::summary<wrapper_block>();

  const auto file = tfm::io::safetensors_file::open(path);
  const auto weights = tfm::load_weights<wrapper_block>(file, tfm::naming::keras);

  const auto* shape = file.find("selftest.input");
  const auto B = static_cast<std::size_t>(shape->shape[0]);
  const auto L = static_cast<std::size_t>(shape->shape[1]);
  xt::xtensor<float, 3> x = xt::empty<float>({B, L, std::size_t(512)});
  const auto input = file.read_floats("selftest.input");
  std::copy(input.begin(), input.end(), x.begin());

  tfm::runner<wrapper_block> run(weights, {.threads = 2});
  xt::xtensor<float, 3> y = xt::empty<float>(x.shape());
  run(x, y);

  std::printf("sample (%zu, %zu, 512): ", B, L);
  const std::size_t outside =
      example::compare_with_reference(file, y.data(), "selftest.output", "TensorFlow.js");

  // A larger batch, timed: the median of 5 warm calls (allocation-free after construction).
  xt::xtensor<float, 3> big =
      xt::empty<float>({std::size_t(8), std::size_t(128), std::size_t(512)});
  for (std::size_t i = 0; i < big.size(); ++i) big.data()[i] = std::sin(0.37f * float(i));
  xt::xtensor<float, 3> big_y = xt::empty<float>(big.shape());
  run(big, big_y);
  std::vector<double> times;
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run(big, big_y);
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  std::printf("(8, 128, 512) on %zu threads: %.2f ms (median of 5)\n", run.threads(), times[2]);
  return outside == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "keras_wrapper_attention: %s\n", e.what());
  return 2;
}
