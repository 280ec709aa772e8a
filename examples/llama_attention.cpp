// A LLaMA-style attention layer as a type: grouped key/value heads, rotary position embedding
// and a causal mask function, declared as options of multi_head_attention.
//
//   q, k, v = q_proj(x), k_proj(x), v_proj(x)       8 query heads over 2 key/value heads of 16
//   q, k    = rotate_half rotary embedding at each position (base 10000)
//   y       = o_proj(softmax(q·kᵀ/√16, causal) · v)
//
// Weights and a sample come from Hugging Face's LlamaAttention written out in PyTorch
// (tools/make_variant_layer_goldens.py --example). The program checks the whole sequence on load
// (the self-test), then decodes the sample one position at a time from the key/value cache, as
// a generating model does, and checks each step against the same reference: the keys appended
// at each step are rotated at their own positions. It ends with the time of a 512-position call
// and of a decoding step.
//
//   ./run-example.sh llama_attention

#include <algorithm>
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

using llama_attention =
    tfm::multi_head_attention<"self_attn", heads<8>, kv_heads<2>, d_model<128>,
                              tfm::use_bias<false>,
                              tfm::dense_projection_names<"q_proj", "k_proj", "v_proj", "o_proj">,
                              tfm::rotary_position_embedding<tfm::rotary_pairs::half_split>,
                              tfm::with_mask_function<(tfm::expr::kv_idx <= tfm::expr::q_idx)>>;

using model = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<128>, max_batch<1>, max_seq<512>>,
    llama_attention>;

// q_proj and o_proj are 128×128; k_proj and v_proj 128×32 (two heads of 16).
static_assert(model::parameter_count == 2 * 128 * 128 + 2 * 128 * 32);

int main(int argc, char** argv) try {
  const std::string path =
      argc > 1 ? argv[1] : std::string(TYPEFORMER_EXAMPLE_DATA) + "/llama_attention.safetensors";
  std::cout << tfm::summary<model>();
  const auto file = tfm::io::safetensors_file::open(path);
  // verify::on runs the self-test: the whole (1, 64, 128) sample against PyTorch's output.
  const auto weights = tfm::load_weights<model>(file, tfm::naming::pytorch, tfm::verify::on);
  const auto x = example::read_tensor<float, 3>(file, "selftest.input");
  const std::size_t L = x.shape(1), E = x.shape(2);

  // Decoding: one position per step against the cache of the positions before it.
  tfm::runner<model> run(weights, {.threads = 2});
  run.start_decoding(1);
  xt::xtensor<float, 3> y = xt::empty<float>(x.shape());
  for (std::size_t i = 0; i < L; ++i) {
    const tfm::tensor_view<const float, 1, 1, 128> step(x.data() + i * E);
    tfm::tensor_view<float, 1, 1, 128> out(y.data() + i * E);
    run.decode(step, out);
  }
  const std::size_t outside =
      example::compare_with_reference(file, y.data(), "selftest.output", "PyTorch, decoded");

  // Timing: a whole 512-position call, and one more decoding step after 511 positions.
  xt::xtensor<float, 3> long_x = xt::empty<float>({std::size_t(1), std::size_t(512), E});
  for (std::size_t i = 0; i < long_x.size(); ++i) long_x.data()[i] = std::sin(0.37f * float(i));
  xt::xtensor<float, 3> long_y = xt::empty<float>(long_x.shape());
  example::print_times<model>(weights, long_x, long_y, "(1, 512, 128)", 11);
  // Decoding steps 449 to 512, each timed on its own, after a 448-position prefix.
  run.start_decoding(1);
  const tfm::tensor_view<const float, 1, 448, 128> prefix(long_x.data());
  tfm::tensor_view<float, 1, 448, 128> prefix_out(long_y.data());
  run.decode(prefix, prefix_out);
  std::vector<double> steps;
  for (std::size_t i = 448; i < 512; ++i) {
    const tfm::tensor_view<const float, 1, 1, 128> step(long_x.data() + i * E);
    tfm::tensor_view<float, 1, 1, 128> out(long_y.data() + i * E);
    steps.push_back(example::median_ms([&] { run.decode(step, out); }, 1));
  }
  std::sort(steps.begin(), steps.end());
  std::printf("a decoding step at 449..512 cached positions, 2 threads: %.3f ms (median of %zu)\n",
              steps[steps.size() / 2], steps.size());
  return outside == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "llama_attention: %s\n", e.what());
  return 2;
}
