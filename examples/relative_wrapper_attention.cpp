// The wrapper attention block with relative positions, as Keras users write it around a
// relative-position attention layer (Shaw et al. 2018, max_relative_position = 10):
//
//   attention = RelativeMultiHeadAttention(d_model=128, num_heads=8, max_relative_position=10)
//   y = LayerNormalization(epsilon=1e-6)(x + attention(x, x))
//
// attention's Dense projections are named wq, wk, wv and dense, its tables rel_k and rel_v
// (21, 16); the block is named "block". Weights and a sample come from the float64 reference of
// tools/make_keras_attention_goldens.py --example (the formula of tensor2tensor's
// dot_product_attention_relative); the program checks its output against the sample and times a
// call on 1 and 2 threads. No (query, key, depth) tensor is formed: the relative terms enter
// the row kernel by bucket.
//
//   ./run-example.sh relative_wrapper_attention

#include <cmath>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include <typeformer/typeformer.hpp>

#include "example_support.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

using block = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<128>, max_batch<8>, max_seq<128>>,
    tfm::wrapper_attention_block<"block", heads<8>, tfm::max_relative_position<10>>>;

// Four 128×128 kernels and biases, two (21, 16) tables, the norm's scale and offset.
static_assert(block::parameter_count == 4 * (128 * 128 + 128) + 2 * 21 * 16 + 2 * 128);

int main(int argc, char** argv) try {
  const std::string path =
      argc > 1 ? argv[1]
               : std::string(TYPEFORMER_EXAMPLE_DATA) + "/keras_relative_wrapper_block.safetensors";
  std::cout << tfm::summary<block>();
  const auto file = tfm::io::safetensors_file::open(path);
  const auto weights = tfm::load_weights<block>(file, tfm::naming::keras);

  const auto* shape = file.find("selftest.query");
  xt::xtensor<float, 3> x = xt::empty<float>(
      {std::size_t(shape->shape[0]), std::size_t(shape->shape[1]), std::size_t(128)});
  const auto input = file.read_floats("selftest.query");
  std::copy(input.begin(), input.end(), x.begin());

  tfm::runner<block> run(weights, {.threads = 2});
  xt::xtensor<float, 3> y = xt::empty<float>(x.shape());
  run(x, y);

  const std::size_t outside =
      example::compare_with_reference(file, y.data(), "selftest.output", "float64 reference");

  // A larger batch, timed.
  xt::xtensor<float, 3> big =
      xt::empty<float>({std::size_t(8), std::size_t(128), std::size_t(128)});
  for (std::size_t i = 0; i < big.size(); ++i) big.data()[i] = std::sin(0.37f * float(i));
  xt::xtensor<float, 3> big_y = xt::empty<float>(big.shape());
  example::print_times<block>(weights, big, big_y, "(8, 128, 128)", 11);
  return outside == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "relative_wrapper_attention: %s\n", e.what());
  return 2;
}
