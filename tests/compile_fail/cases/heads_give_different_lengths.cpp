// Valid Conv1D heads of kernels 3 and 5 in a seq<50> model give 48 and 46 positions: the rule
// names both heads and their lengths at the model's declared length (at 256 when the length is
// dynamic). A whole program: declare, build weights, run.
// (g++ 12: 8 lines; clang 14: 12, two notes of instantiation context.)
// expect-first-error: heads_give_different_shapes
// expect-first-error: 'c', 'o', 'n', 'v', '3'
// expect-first-error: 'c', 'o', 'n', 'v', '5'
// expect-first-error: 48, 46
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
using pad = tfm::padding<tfm::conv_padding::same>;
#else
using pad = tfm::padding<tfm::conv_padding::valid>;
#endif

using net = tfm::model<
    tfm::input<batch<2>, seq<50>, d_model<8>>,
    tfm::multi_head_list<tfm::conv1d<"conv3", 16, 3, pad>, tfm::conv1d<"conv5", 16, 5, pad>>,
    tfm::flatten<"flat">, tfm::dense<"out", 4>>;

int main() {
  const auto weights = tfm::random_parameters<net>(3, tfm::naming::keras);
  tfm::runner<net> run(weights);
  xt::xtensor<float, 3> x = xt::ones<float>({2, 50, 8});
  const auto y = run(x);
  return y.size() > 0 ? 0 : 1;
}
