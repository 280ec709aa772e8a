// Grouped-query attention: each group of query heads reads one key/value head, so the key
// heads must divide the query heads (8 over 3 cannot be grouped; 8 over 2 can).
// expect-first-error: key_heads_do_not_divide_query_heads
// expect-first-error: 'e', 'x', 'p', 'r', 'e', 's', 's', 'i', 'o', 'n'
// expect-first-error: 3, 8
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
// max-error-width: 450
#include <vector>

#include <typeformer/expr/evaluate.hpp>

namespace tfm = typeformer;
using namespace typeformer::expr;

#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t kv_heads = 2;
#else
constexpr tfm::extent_t kv_heads = 3;
#endif

int main() {
  std::vector<float> q(8 * 5 * 16), k(kv_heads * 5 * 16), v(kv_heads * 5 * 16), o(8 * 5 * 16);
  tfm::tensor_view<const float, 1, 8, 5, 16> Q(q.data());
  tfm::tensor_view<const float, 1, kv_heads, 5, 16> K(k.data()), V(v.data());
  tfm::tensor_view<float, 1, 8, 5, 16> O(o.data());
  tfm::workspace ws;
  evaluate(O, softmax(0.25f * Q * transpose(K)) * V, ws);
}
