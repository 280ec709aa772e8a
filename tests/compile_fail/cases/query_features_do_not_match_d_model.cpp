// A query whose static feature extent differs from the layer's d_model.
// expect-first-error: query_features_do_not_match_d_model
// expect-first-error: 'c', 'r', 'o', 's', 's'
// expect-first-error: 30, 32
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/layers/multi_head_attention.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
using layer = tfm::multi_head_attention<"cross", heads<4>, d_model<32>, key_features<24>>;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t query_width = 32;
#else
constexpr tfm::extent_t query_width = 30;
#endif

void run(const layer::parameters& p, tfm::workspace& ws, const float* q, const float* kv,
         float* y) {
  tfm::tensor_view<const float, 2, 5, query_width> query(q);
  tfm::tensor_view<const float, 2, 7, 24> memory(kv);
  tfm::tensor_view<float, 2, 5, 32> out(y);
  layer::forward(p, query, memory, memory, out, ws);
}
