// Flatten's output width is length · width: over a dynamic sequence it has none.
// expect-first-error: flatten_needs_a_static_length
// expect-first-error: 'f', 'l', 'a', 't', 't', 'e', 'n'
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/conv1d.hpp>
#include <typeformer/layers/dense.hpp>
#include <typeformer/model/model.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t length = 12;
#else
constexpr tfm::extent_t length = tfm::dynamic;
#endif
using net = tfm::model<tfm::input<batch<2>, seq<length>, max_seq<12>, d_model<8>>,
                       tfm::conv1d<"conv", 4, 3>, tfm::flatten<>, tfm::dense<"out", 2>>;
static_assert(net::output_width == 2);
