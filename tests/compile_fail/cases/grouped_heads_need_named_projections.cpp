// Grouped key/value heads (kv_heads<2> of 8) with nn.MultiheadAttention's weight names: that
// module has no such heads, so only separately named projections (Hugging Face's q_proj, k_proj,
// v_proj, o_proj) can hold them. One error, from the model's check. A whole program.
// expect-first-error: grouped_heads_need_named_projections
// expect-first-error: 's', 'e', 'l', 'f', '_', 'a', 't', 't', 'n'
// expect-first-error: 2, 8
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
using attention =
    tfm::multi_head_attention<"self_attn", heads<8>, kv_heads<2>,
                              tfm::dense_projection_names<"q_proj", "k_proj", "v_proj", "o_proj">>;
#else
using attention = tfm::multi_head_attention<"self_attn", heads<8>, kv_heads<2>>;
#endif

using model = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<128>, max_batch<1>, max_seq<512>>,
    attention>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<model>(argv[1], tfm::naming::pytorch);
  tfm::runner<model> run(weights);
  const std::array<std::size_t, 3> shape = {1, 10, 128};
  xt::xtensor<float, 3> x = xt::zeros<float>(shape), y = x;
  run(x, y);
  return 0;
}
