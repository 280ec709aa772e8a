// The same rule deep inside a repeated residual block: the message stays as short, naming
// the layer inside the block and the one before it.
// expect-first-error: input_width_does_not_match_predecessor
// expect-first-error: 'f', 'f'
// expect-first-error: 'n', 'o', 'r', 'm', '1'
// expect-first-error: 64, 512
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/feed_forward.hpp>
#include <typeformer/layers/layer_norm.hpp>
#include <typeformer/layers/multi_head_attention.hpp>
#include <typeformer/model/model.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
using ff = tfm::feed_forward<"ff", 2048, tfm::activations::relu>;
#else
using ff = tfm::feed_forward<"ff", 2048, tfm::activations::relu, d_model<64>>;
#endif
using layer = tfm::sequential<tfm::residual<tfm::multi_head_attention<"self_attn", heads<8>>,
                                            tfm::post_norm<tfm::layer_norm<"norm1">>>,
                              tfm::residual<ff, tfm::post_norm<tfm::layer_norm<"norm2">>>>;
using encoder =
    tfm::model<tfm::input<batch<2>, seq<5>, d_model<512>>, tfm::repeat<"layers", 6, layer>>;
static_assert(encoder::output_shape[2] > 0);
