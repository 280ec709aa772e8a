// Rotary embedding over 40 features of 32-wide heads (d_model 256, 8 heads): it turns pairs of
// a head's features, so its dims must be even and at most the head's key width. One error,
// from the model's check, with both numbers. A whole program.
// expect-first-error: rotary_dims_must_be_even_and_fit_a_head
// expect-first-error: 40, 32
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <array>
#include <cstddef>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t rotary_dims = 16;
#else
constexpr tfm::extent_t rotary_dims = 40;
#endif

using attention = tfm::multi_head_attention<
    "self_attn", heads<8>, tfm::dense_projection_names<"q_proj", "k_proj", "v_proj", "o_proj">,
    tfm::rotary_position_embedding<tfm::rotary_pairs::half_split, 10000, rotary_dims>>;

using model = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<256>, max_batch<1>, max_seq<512>>,
    attention>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<model>(argv[1], tfm::naming::pytorch);
  tfm::runner<model> run(weights);
  const std::array<std::size_t, 3> shape = {1, 10, 256};
  xt::xtensor<float, 3> x = xt::zeros<float>(shape), y = x;
  run(x, y);
  return 0;
}
