// Every operand a function names is bound beside it: here the window size is missing.
// expect-first-error: an operand the function names is not bound beside it
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdint>

#include <typeformer/expr/evaluate.hpp>

namespace tfm = typeformer;
using namespace typeformer::expr;
constexpr operand<"window", std::int32_t> window;
constexpr auto sliding = kv_idx <= q_idx && q_idx - kv_idx < window;

void run(const float* q, const float* k, const float* v, float* o, tfm::workspace& ws) {
  tfm::tensor_view<const float, 1, 2, 3, 4> Q(q), K(k), V(v);
  tfm::tensor_view<float, 1, 2, 3, 4> O(o);
#ifdef TYPEFORMER_OK_TWIN
  evaluate(O, softmax(Q * transpose(K) + mask_function<sliding>(bind<"window">(16))) * V, ws);
#else
  evaluate(O, softmax(Q * transpose(K) + mask_function<sliding>()) * V, ws);
#endif
}
