// Relative-position attention needs its clipping distance K.
// expect-first-error: max_relative_position_must_be_positive
// expect-first-error: 'r', 'e', 'l'
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/relative_position_attention.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
using layer =
    tfm::relative_position_attention<"rel", heads<2>, d_model<8>, tfm::max_relative_position<10>>;
#else
using layer = tfm::relative_position_attention<"rel", heads<2>, d_model<8>>;
#endif
static_assert(layer::output_width == 8);
