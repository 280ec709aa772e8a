// A tokens<...> input must be read by an embedding first: anything else is named by the rule.
// expect-first-error: tokens_need_an_embedding_first
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
using classifier = tfm::model<tfm::tokens<batch<2>, seq<5>>, tfm::embedding<"embed", 100, 16>,
                              tfm::dense<"out", 4>>;
#else
using classifier = tfm::model<tfm::tokens<batch<2>, seq<5>>,
                              tfm::dense<"out", 4, tfm::activations::linear, d_model<16>>>;
#endif
static_assert(classifier::output_shape[2] == 4);
