// Every operand a function names is bound beside it: here the window size is missing.
// A whole program: the umbrella header, data, the call, the output.
// expect-first-error: an operand the function names is not bound beside it
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 9
// max-error-width: 450
#include <cstdint>
#include <cstdio>
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace typeformer::expr;

constexpr operand<"window", std::int32_t> window;
constexpr auto sliding = kv_idx <= q_idx && q_idx - kv_idx < window;

int main() {
  std::vector<float> q(2 * 6 * 8, 0.5f), k(q), v(q), o(q.size());
  tfm::tensor_view<const float, 1, 2, 6, 8> Q(q.data()), K(k.data()), V(v.data());
  tfm::tensor_view<float, 1, 2, 6, 8> O(o.data());
  tfm::workspace ws;
#ifdef TYPEFORMER_OK_TWIN
  evaluate(O, softmax(Q * transpose(K) + mask_function<sliding>(bind<"window">(4))) * V, ws);
#else
  evaluate(O, softmax(Q * transpose(K) + mask_function<sliding>()) * V, ws);
#endif
  std::printf("%f\n", double(o[0]));
}
