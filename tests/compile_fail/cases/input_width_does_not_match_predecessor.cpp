// A layer declaring an input width other than what its predecessor in the model gives: the
// first error line names the rule, both layers and both widths.
// A whole program: declare, load, run.
// expect-first-error: input_width_does_not_match_predecessor
// expect-first-error: 'n', 'o', 'r', 'm', '1'
// expect-first-error: 's', 'e', 'l', 'f', '_', 'a', 't', 't', 'n'
// expect-first-error: 256, 512
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdint>
#include <cstdio>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
using norm = tfm::layer_norm<"norm1", d_model<512>>;
#else
using norm = tfm::layer_norm<"norm1", d_model<256>>;
#endif
using encoder = tfm::model<tfm::input<batch<2>, seq<5>, d_model<512>>,
                           tfm::multi_head_attention<"self_attn", heads<8>>, norm>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<encoder>(argv[1], tfm::naming::pytorch);
  tfm::runner<encoder> run(weights);
  const xt::xtensor<float, 3> x = xt::zeros<float>({2, 5, 512});
  const auto y = run(x);
  std::printf("%zu values\n", y.size());
}
