// A program that runs plain causal attention and then VARIANTS score/mask variants of it
// (0 to 4), each a call of its own: the cost of one more variant in a unit is the difference
// between the units, divided by the number of variants added.
#include <cstdint>
#include <cstdio>
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace typeformer::expr;

constexpr operand<"window", std::int32_t> window;
constexpr operand<"slopes", float, tfm::dynamic> slopes;
constexpr operand<"doc", std::int32_t, tfm::dynamic, tfm::dynamic> doc;

constexpr auto causal = kv_idx <= q_idx;
constexpr auto sliding_window = kv_idx <= q_idx && q_idx - kv_idx < window;
constexpr auto alibi = score + slopes[head_idx] * to_real(kv_idx - q_idx);
constexpr auto soft_cap = 30.0f * tanh(score / 30.0f);
constexpr auto same_document = doc(batch_idx, q_idx) == doc(batch_idx, kv_idx);

int main() {
  constexpr tfm::extent_t B = 1, H = 8, L = 256, D = 64;
  std::vector<float> q(B * H * L * D, 0.1f), k(q.size(), 0.2f), v(q.size(), 0.3f), o(q.size());
  tfm::tensor_view<const float, B, H, L, D> Q(q.data()), K(k.data()), V(v.data());
  tfm::tensor_view<float, B, H, L, D> O(o.data());
  tfm::workspace ws;
  evaluate(O, softmax(0.125f * Q * transpose(K) + mask_function<causal>()) * V, ws);
#if VARIANTS >= 1
  evaluate(O,
           softmax(0.125f * Q * transpose(K) +
                   mask_function<sliding_window>(bind<"window">(std::int32_t{64}))) *
               V,
           ws);
#endif
#if VARIANTS >= 2
  const std::vector<float> slope_values{0.5f,     0.25f,     0.125f,     0.0625f,
                                        0.03125f, 0.015625f, 0.0078125f, 0.00390625f};
  evaluate(O,
           softmax(score_function<alibi>(0.125f * Q * transpose(K), bind<"slopes">(slope_values)) +
                   mask_function<causal>()) *
               V,
           ws);
#endif
#if VARIANTS >= 3
  evaluate(O, softmax(score_function<soft_cap>(0.125f * Q * transpose(K))) * V, ws);
#endif
#if VARIANTS >= 4
  const std::vector<std::int32_t> documents(B * L, 0);
  evaluate(O,
           softmax(0.125f * Q * transpose(K) +
                   mask_function<same_document>(bind<"doc">(documents.data(), {B, L}))) *
               V,
           ws);
#endif
  std::printf("%f\n", double(o[0]));
}
