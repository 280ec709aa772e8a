// A residual branch must give back a sequence as long as its input: a valid convolution
// shortens it.
// A whole program: declare, load, run.
// expect-first-error: branch_must_keep_the_sequence_shape
// expect-first-error: 'c', 'o', 'n', 'v'
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
constexpr auto padding = tfm::conv_padding::causal;
#else
constexpr auto padding = tfm::conv_padding::valid;
#endif
using net = tfm::model<tfm::input<batch<2>, seq<10>, d_model<8>>,
                       tfm::residual<tfm::conv1d<"conv", 8, 3, tfm::padding<padding>>>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<net>(argv[1], tfm::naming::keras);
  tfm::runner<net> run(weights);
  const xt::xtensor<float, 3> x = xt::zeros<float>({2, 10, 8});
  const auto y = run(x);
  std::printf("%zu values\n", y.size());
}
