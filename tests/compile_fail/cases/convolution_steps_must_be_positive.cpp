// A convolution with a zero stride is named with its kernel size and the offending step.
// A whole program: load the layer, call it.
// expect-first-error: convolution_steps_must_be_positive
// expect-first-error: 'c', 'o', 'n', 'v'
// expect-first-error: 3, 0
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
constexpr tfm::extent_t stride = 2;
#else
constexpr tfm::extent_t stride = 0;
#endif
using layer = tfm::conv1d<"conv", 8, 3, tfm::strides<stride>, d_model<4>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<layer>(argv[1], tfm::naming::keras);
  std::vector<float> x(2 * 9 * 4), y(2 * 4 * 8);
  tfm::tensor_view<const float, 2, 9, 4> in(x.data());
  tfm::tensor_view<float, 2, 4, 8> out(y.data());
  tfm::workspace ws;
  layer::forward(weights, in, out, ws);
  std::printf("%f\n", double(y[0]));
}
