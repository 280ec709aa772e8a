// A repeated block must map its width to itself, or copy 2 could not follow copy 1.
// A whole program: declare, load, run.
// expect-first-error: repeated_block_changes_width
// expect-first-error: 'l', 'a', 'y', 'e', 'r', 's'
// expect-first-error: 512, 256
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
using block = tfm::multi_head_attention<"attn", heads<8>, output_features<512>>;
#else
using block = tfm::multi_head_attention<"attn", heads<8>, output_features<256>>;
#endif
using net = tfm::model<tfm::input<batch<2>, seq<5>, d_model<512>>, tfm::repeat<"layers", 3, block>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<net>(argv[1], tfm::naming::keras);
  tfm::runner<net> run(weights);
  const xt::xtensor<float, 3> x = xt::zeros<float>({2, 5, 512});
  const auto y = run(x);
  std::printf("%zu values\n", y.size());
}
