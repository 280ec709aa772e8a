// A residual branch whose output is narrower than its input cannot be added back.
// expect-first-error: residual_branch_changes_width
// expect-first-error: 'p', 'r', 'o', 'j'
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
using branch = tfm::multi_head_attention<"proj", heads<8>, output_features<512>>;
#else
using branch = tfm::multi_head_attention<"proj", heads<8>, output_features<256>>;
#endif
using net = tfm::model<tfm::input<batch<2>, seq<5>, d_model<512>>, tfm::residual<branch>>;
static_assert(net::output_shape[2] > 0);
