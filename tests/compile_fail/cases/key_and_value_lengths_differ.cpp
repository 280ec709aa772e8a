// AdditiveAttention's keys and values are the same positions: their lengths must agree.
// expect-first-error: key_and_value_lengths_differ
// expect-first-error: 'a', 'd', 'd'
// expect-first-error: 7, 9
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <typeformer/layers/additive_attention.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
using layer = tfm::additive_attention<"add", d_model<16>>;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t key_length = 9;
#else
constexpr tfm::extent_t key_length = 7;
#endif

void run(const layer::parameters& p, tfm::workspace& ws, const float* q, const float* v,
         const float* k, float* y) {
  tfm::tensor_view<const float, 2, 5, 16> query(q);
  tfm::tensor_view<const float, 2, 9, 20> value(v);
  tfm::tensor_view<const float, 2, key_length, 16> key(k);
  tfm::tensor_view<float, 2, 5, 20> out(y);
  layer::forward(p, query, value, key, out, ws);
}
