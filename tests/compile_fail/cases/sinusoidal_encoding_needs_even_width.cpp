// Sines and cosines come in pairs: a sinusoidal encoding of an odd width is an error that
// names the width.
// expect-first-error: sinusoidal_encoding_needs_even_width
// expect-first-error: 7
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/positional_encoding.hpp>
#include <typeformer/model/model.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t width = 8;
#else
constexpr tfm::extent_t width = 7;
#endif
using positions =
    tfm::model<tfm::input<batch<2>, seq<5>, d_model<width>>, tfm::sinusoidal_position_encoding<>>;
static_assert(positions::output_shape[2] > 0);
