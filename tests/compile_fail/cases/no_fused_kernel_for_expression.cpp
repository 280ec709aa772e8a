// A scale outside the mask would scale an additive mask too; no kernel computes that tree.
// expect-first-error: no_fused_kernel_for_expression
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <typeformer/expr/evaluate.hpp>

namespace tfm = typeformer;

void run(const float* q, const float* k, const float* v, float* o, tfm::workspace& ws) {
  tfm::tensor_view<const float, 1, 2, 3, 4> Q(q), K(k), V(v);
  tfm::tensor_view<float, 1, 2, 3, 4> O(o);
#ifdef TYPEFORMER_OK_TWIN
  tfm::expr::evaluate(O, softmax(0.5f * (Q * transpose(K)) + tfm::masks::causal{}) * V, ws);
#else
  tfm::expr::evaluate(O, softmax(0.5f * (Q * transpose(K) + tfm::masks::causal{})) * V, ws);
#endif
}
