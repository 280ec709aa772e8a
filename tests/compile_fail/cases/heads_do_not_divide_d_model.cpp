// PyTorch's rule: without a declared key_dim_per_head, heads must divide d_model. The README's
// first mistake on a layer used on its own, in a whole program that loads and calls it: one
// error, and the call checks nothing against the broken declaration (clang gave a second error,
// the 512-wide query "not matching" d_model 500).
// expect-first-error: heads_do_not_divide_d_model
// expect-first-error: 's', 'e', 'l', 'f', '_', 'a', 't', 't', 'n'
// expect-first-error: 500, 8
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdio>
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
using layer = tfm::multi_head_attention<"self_attn", heads<8>, d_model<512>>;
#else
using layer = tfm::multi_head_attention<"self_attn", heads<8>, d_model<500>>;
#endif

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<layer>(argv[1], tfm::naming::pytorch);
  std::vector<float> x(2 * 5 * 512), y(x.size());
  tfm::tensor_view<const float, 2, 5, 512> in(x.data());
  tfm::tensor_view<float, 2, 5, 512> out(y.data());
  tfm::workspace ws;
  layer::forward(weights, in, in, in, out, ws);
  std::printf("%f\n", double(y[0]));
}
