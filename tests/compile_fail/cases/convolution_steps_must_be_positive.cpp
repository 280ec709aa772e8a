// A convolution with a zero stride is named with its kernel size and the offending step.
// expect-first-error: convolution_steps_must_be_positive
// expect-first-error: 'c', 'o', 'n', 'v'
// expect-first-error: 3, 0
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/conv1d.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t stride = 2;
#else
constexpr tfm::extent_t stride = 0;
#endif
static_assert(tfm::conv1d<"conv", 8, 3, tfm::strides<stride>, d_model<4>>::output_width == 8);
