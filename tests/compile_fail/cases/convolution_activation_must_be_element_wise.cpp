// Softmax as a Conv1D's activation: it normalises over features, which a convolution's
// epilogue does not see together. The model checks the rule from the layer's arguments: one
// error, where clang went on to 91 lines when the layer's body asserted it. A whole program.
// expect-first-error: activation_must_be_element_wise
// expect-first-error: 'c', 'o', 'n', 'v'
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
using convolution = tfm::conv1d<"conv", 32, 3, tfm::with_activation<tfm::activations::relu>>;
#else
using convolution = tfm::conv1d<"conv", 32, 3, tfm::with_activation<tfm::activations::softmax>>;
#endif

using classifier =
    tfm::model<tfm::input<batch<tfm::dynamic>, seq<50>, d_model<16>, max_batch<4>>, convolution,
               tfm::flatten<"flatten">, tfm::dense<"out", 4, tfm::activations::softmax>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<classifier>(argv[1], tfm::naming::keras);
  tfm::runner<classifier> run(weights);
  const std::array<std::size_t, 3> shape = {2, 50, 16};
  xt::xtensor<float, 3> x = xt::zeros<float>(shape);
  xt::xtensor<float, 2> y = xt::zeros<float>({std::size_t{2}, std::size_t{4}});
  run(x, y);
  return 0;
}
