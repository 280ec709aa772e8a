// repeat<"layers", 0, ...> is a mistake, not an empty model.
// expect-first-error: repeat_count_must_be_positive
// expect-first-error: 'l', 'a', 'y', 'e', 'r', 's'
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/layer_norm.hpp>
#include <typeformer/model/model.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
constexpr std::size_t copies = 2;
#else
constexpr std::size_t copies = 0;
#endif
using net = tfm::model<tfm::input<batch<2>, seq<5>, d_model<64>>,
                       tfm::repeat<"layers", copies, tfm::layer_norm<"norm">>>;
static_assert(net::output_shape[2] > 0);
