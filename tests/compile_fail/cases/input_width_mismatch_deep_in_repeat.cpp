// The same rule deep inside a repeated residual block: the message stays as short, naming
// the layer inside the block and the one before it.
// A whole program: declare, load, run.
// expect-first-error: input_width_does_not_match_predecessor
// expect-first-error: 'f', 'f'
// expect-first-error: 'n', 'o', 'r', 'm', '1'
// expect-first-error: 64, 512
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
using ff = tfm::feed_forward<"ff", 2048, tfm::activations::relu>;
#else
using ff = tfm::feed_forward<"ff", 2048, tfm::activations::relu, d_model<64>>;
#endif
using layer = tfm::sequential<tfm::residual<tfm::multi_head_attention<"self_attn", heads<8>>,
                                            tfm::post_norm<tfm::layer_norm<"norm1">>>,
                              tfm::residual<ff, tfm::post_norm<tfm::layer_norm<"norm2">>>>;
using encoder =
    tfm::model<tfm::input<batch<2>, seq<5>, d_model<512>>, tfm::repeat<"layers", 6, layer>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<encoder>(argv[1], tfm::naming::pytorch);
  tfm::runner<encoder> run(weights);
  const xt::xtensor<float, 3> x = xt::zeros<float>({2, 5, 512});
  const auto y = run(x);
  std::printf("%zu values\n", y.size());
}
