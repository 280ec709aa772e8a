// A score function yields the new score; a condition (which keys are seen) is a mask function.
// expect-first-error: score_function<E> takes an expression that yields a number
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <typeformer/expr/evaluate.hpp>

namespace tfm = typeformer;
using namespace typeformer::expr;
#ifdef TYPEFORMER_OK_TWIN
constexpr auto capped = 30.0f * tanh(score / 30.0f);
#else
constexpr auto capped = score < 30.0f;
#endif

void run(const float* q, const float* k, const float* v, float* o, tfm::workspace& ws) {
  tfm::tensor_view<const float, 1, 2, 3, 4> Q(q), K(k), V(v);
  tfm::tensor_view<float, 1, 2, 3, 4> O(o);
  evaluate(O, softmax(score_function<capped>(0.5f * Q * transpose(K))) * V, ws);
}
