// add<F, G> sums its branches: they must give one width.
// expect-first-error: added_branches_differ_in_width
// expect-first-error: 'p', 'r', 'o', 'j'
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
using projection = tfm::multi_head_attention<"proj", heads<8>, output_features<512>>;
#else
using projection = tfm::multi_head_attention<"proj", heads<8>, output_features<256>>;
#endif
using net = tfm::model<tfm::input<batch<2>, seq<5>, d_model<512>>,
                       tfm::add<projection, tfm::layer_norm<"norm">>>;
static_assert(net::output_shape[2] > 0);
