// A dense layer straight after stacked LSTM heads would read the heads' axis as its features:
// the rule names the dense layer and the (units, heads) it was given.
// expect-first-error: stacked_heads_need_flatten_first
// expect-first-error: 'o', 'u', 't'
// expect-first-error: 64, 3
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/dense.hpp>
#include <typeformer/layers/lstm.hpp>
#include <typeformer/model/model.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
using classifier =
    tfm::model<tfm::input<batch<2>, seq<10>, d_model<20>>,
               tfm::multi_head<tfm::lstm<"lstm", 64>, 3>, tfm::flatten<>, tfm::dense<"out", 4>>;
#else
using classifier = tfm::model<tfm::input<batch<2>, seq<10>, d_model<20>>,
                              tfm::multi_head<tfm::lstm<"lstm", 64>, 3>, tfm::dense<"out", 4>>;
#endif
static_assert(classifier::output_width == 4);
