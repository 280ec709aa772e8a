// A mask function says which keys are seen before any score exists: it cannot read `score`.
// A whole program: the umbrella header, data, the call, the output.
// expect-first-error: a mask function cannot read `score`
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
constexpr auto visible = kv_idx <= q_idx;
#else
constexpr auto visible = kv_idx <= q_idx && score > 0.0f;
#endif

int main() {
  std::vector<float> q(2 * 6 * 8, 0.5f), k(q), v(q), o(q.size());
  tfm::tensor_view<const float, 1, 2, 6, 8> Q(q.data()), K(k.data()), V(v.data());
  tfm::tensor_view<float, 1, 2, 6, 8> O(o.data());
  tfm::workspace ws;
  evaluate(O, softmax(Q * transpose(K) + mask_function<visible>()) * V, ws);
  std::printf("%f\n", double(o[0]));
}
