// A repeated block must map its width to itself, or copy 2 could not follow copy 1.
// expect-first-error: repeated_block_changes_width
// expect-first-error: 'l', 'a', 'y', 'e', 'r', 's'
// expect-first-error: 512, 256
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/multi_head_attention.hpp>
#include <typeformer/model/model.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
using block = tfm::multi_head_attention<"attn", heads<8>, output_features<512>>;
#else
using block = tfm::multi_head_attention<"attn", heads<8>, output_features<256>>;
#endif
using net = tfm::model<tfm::input<batch<2>, seq<5>, d_model<512>>, tfm::repeat<"layers", 3, block>>;
static_assert(net::output_shape[2] > 0);
