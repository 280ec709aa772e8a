// A layer declaring an input width other than what its predecessor in the model gives: the
// first error line names the rule, both layers and both widths.
// expect-first-error: input_width_does_not_match_predecessor
// expect-first-error: 'n', 'o', 'r', 'm', '1'
// expect-first-error: 's', 'e', 'l', 'f', '_', 'a', 't', 't', 'n'
// expect-first-error: 256, 512
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/layer_norm.hpp>
#include <typeformer/layers/multi_head_attention.hpp>
#include <typeformer/model/model.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
using norm = tfm::layer_norm<"norm1", d_model<512>>;
#else
using norm = tfm::layer_norm<"norm1", d_model<256>>;
#endif
using encoder = tfm::model<tfm::input<batch<2>, seq<5>, d_model<512>>,
                           tfm::multi_head_attention<"self_attn", heads<8>>, norm>;
static_assert(encoder::output_shape[2] > 0);
