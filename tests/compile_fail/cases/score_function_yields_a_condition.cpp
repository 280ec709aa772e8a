// A score function yields the new score; a condition (which keys are seen) is a mask function.
// A whole program: the umbrella header, data, the call, the output.
// expect-first-error: score_function<E> takes an expression that yields a number
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
constexpr auto capped = 30.0f * tanh(score / 30.0f);
#else
constexpr auto capped = score < 30.0f;
#endif

int main() {
  std::vector<float> q(2 * 6 * 8, 0.5f), k(q), v(q), o(q.size());
  tfm::tensor_view<const float, 1, 2, 6, 8> Q(q.data()), K(k.data()), V(v.data());
  tfm::tensor_view<float, 1, 2, 6, 8> O(o.data());
  tfm::workspace ws;
  evaluate(O, softmax(score_function<capped>(0.5f * Q * transpose(K))) * V, ws);
  std::printf("%f\n", double(o[0]));
}
