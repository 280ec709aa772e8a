// A table of 21 relative positions, indexed by clamp(kv − q, −10, 10) + 11: index 21 is past it.
// expect-first-error: operand_index_outside_its_static_extent
// expect-first-error: 'r', 'e', 'l'
// expect-first-error: 0, 21, 1, 21
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <vector>

#include <typeformer/expr/evaluate.hpp>

namespace tfm = typeformer;
using namespace typeformer::expr;
constexpr operand<"rel", float, 21> rel;
#ifdef TYPEFORMER_OK_TWIN
constexpr auto relative = score + rel[clamp(kv_idx - q_idx, -10, 10) + 10];
#else
constexpr auto relative = score + rel[clamp(kv_idx - q_idx, -10, 10) + 11];
#endif

void run(const float* q, const float* k, const float* v, float* o, tfm::workspace& ws) {
  tfm::tensor_view<const float, 1, 2, 3, 4> Q(q), K(k), V(v);
  tfm::tensor_view<float, 1, 2, 3, 4> O(o);
  const std::vector<float> table(21);
  evaluate(O, softmax(score_function<relative>(Q * transpose(K), bind<"rel">(table))) * V, ws);
}
