// A residual branch must give back a sequence as long as its input: a valid convolution
// shortens it.
// expect-first-error: branch_must_keep_the_sequence_shape
// expect-first-error: 'c', 'o', 'n', 'v'
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/conv1d.hpp>
#include <typeformer/model/model.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
constexpr auto padding = tfm::conv_padding::causal;
#else
constexpr auto padding = tfm::conv_padding::valid;
#endif
using net = tfm::model<tfm::input<batch<2>, seq<10>, d_model<8>>,
                       tfm::residual<tfm::conv1d<"conv", 8, 3, tfm::padding<padding>>>>;
static_assert(net::output_width == 8);
