// A fixed-shape input of 130 positions for a seq<128> model: the rule names the input and both
// lengths, once; the output, sized like the input, is not reported as a second error.
// A whole program: declare, build weights, run.
// (g++ 12: 7 lines; clang 14: 9: the runner checks a call's static extents in the function
// the user calls, one note deep.)
// expect-first-error: input_length_does_not_match
// expect-first-error: 'i', 'n', 'p', 'u', 't'
// expect-first-error: 130, 128
// forbid: xsimd
// forbid: hana
// max-lines: 9
#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

using encoder = tfm::model<tfm::input<batch<2>, seq<128>, d_model<64>>,
                           tfm::transformer_encoder_layer<heads<4>, dim_feedforward<128>>>;

#ifdef TYPEFORMER_OK_TWIN
constexpr std::size_t length = 128;
#else
constexpr std::size_t length = 130;
#endif

int main() {
  const auto weights = tfm::random_parameters<encoder>(5, tfm::naming::pytorch);
  tfm::runner<encoder> run(weights);
  xt::xtensor_fixed<float, xt::xshape<2, length, 64>> x, y;
  x.fill(1.0f);
  run(x, y);
  return 0;
}
