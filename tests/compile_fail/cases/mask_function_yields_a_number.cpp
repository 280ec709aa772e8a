// A mask function yields a condition; a number (a bias) belongs in a score function.
// A whole program: the umbrella header, data, the call, the output.
// expect-first-error: mask_function<E> takes a condition
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

#ifdef TYPEFORMER_OK_TWIN
constexpr auto window = q_idx - kv_idx < 4;
#else
constexpr auto window = q_idx - kv_idx;
#endif

int main() {
  std::vector<float> q(2 * 6 * 8, 0.5f), k(q), v(q), o(q.size());
  tfm::tensor_view<const float, 1, 2, 6, 8> Q(q.data()), K(k.data()), V(v.data());
  tfm::tensor_view<float, 1, 2, 6, 8> O(o.data());
  tfm::workspace ws;
  evaluate(O, softmax(Q * transpose(K) + mask_function<window>()) * V, ws);
  std::printf("%f\n", double(o[0]));
}
