// A table of 21 relative positions, indexed by clamp(kv − q, −10, 10) + 11: index 21 is past it.
// A whole program: the umbrella header, data, the call, the output.
// expect-first-error: operand_index_outside_its_static_extent
// expect-first-error: 'r', 'e', 'l'
// expect-first-error: 0, 21, 1, 21
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

constexpr operand<"rel", float, 21> rel;
#ifdef TYPEFORMER_OK_TWIN
constexpr auto relative = score + rel[clamp(kv_idx - q_idx, -10, 10) + 10];
#else
constexpr auto relative = score + rel[clamp(kv_idx - q_idx, -10, 10) + 11];
#endif

int main() {
  std::vector<float> q(2 * 6 * 8, 0.5f), k(q), v(q), o(q.size());
  tfm::tensor_view<const float, 1, 2, 6, 8> Q(q.data()), K(k.data()), V(v.data());
  tfm::tensor_view<float, 1, 2, 6, 8> O(o.data());
  tfm::workspace ws;
  const std::vector<float> table(21, 0.25f);
  evaluate(O, softmax(score_function<relative>(Q * transpose(K), bind<"rel">(table))) * V, ws);
  std::printf("%f\n", double(o[0]));
}
