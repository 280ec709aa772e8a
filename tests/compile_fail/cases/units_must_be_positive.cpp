// A dense layer of zero units is named with its count.
// expect-first-error: units_must_be_positive
// expect-first-error: 'o', 'u', 't'
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/dense.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t units = 4;
#else
constexpr tfm::extent_t units = 0;
#endif
static_assert(tfm::dense<"out", units, tfm::activations::linear, d_model<8>>::output_width >= 0);
