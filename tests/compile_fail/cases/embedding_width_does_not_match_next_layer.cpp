// The layer after a token embedding declares another width: the first error line names both
// layers (the embedding as the predecessor) and both widths.
// expect-first-error: input_width_does_not_match_predecessor
// expect-first-error: 'o', 'u', 't'
// expect-first-error: 'e', 'm', 'b', 'e', 'd'
// expect-first-error: 32, 16
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/dense.hpp>
#include <typeformer/layers/embedding.hpp>
#include <typeformer/model/model.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t declared = 16;
#else
constexpr tfm::extent_t declared = 32;
#endif
using classifier = tfm::model<tfm::tokens<batch<2>, seq<5>>, tfm::embedding<"embed", 100, 16>,
                              tfm::dense<"out", 4, tfm::activations::linear, d_model<declared>>>;
static_assert(classifier::output_shape[2] == 4);
