// An operand the layer computes (ALiBi's slopes) is not bound again at the call: the layer's
// would be used and the call's silently ignored.
// expect-first-error: an operand bound at the call has the name of one the layer computes
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 9
// max-error-width: 450
#include <cstdint>
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace typeformer::dims;
using namespace typeformer::expr;
constexpr operand<"slopes", float, 4> slopes;
constexpr operand<"window", std::int32_t> window;
constexpr auto alibi = score + slopes[head_idx] * to_real(kv_idx - q_idx);
constexpr auto sliding = kv_idx <= q_idx && q_idx - kv_idx < window;
using layer =
    tfm::multi_head_attention<"attn", heads<4>, d_model<32>, tfm::alibi_slopes<slopes>,
                              tfm::with_score_function<alibi>, tfm::with_mask_function<sliding>>;

int main(int, char** argv) {
  const auto file = tfm::io::safetensors_file::open(argv[1]);
  const auto p = tfm::load_weights<layer>(file, tfm::naming::pytorch);
  std::vector<float> x(2 * 10 * 32), y(x.size()), mine(4, 0.5f);
  tfm::tensor_view<const float, 2, 10, 32> X(x.data());
  tfm::tensor_view<float, 2, 10, 32> Y(y.data());
  tfm::workspace ws;
#ifdef TYPEFORMER_OK_TWIN
  layer::forward(p, X, X, X, Y, ws, call_operands(bind<"window">(std::int32_t{4})));
#else
  layer::forward(p, X, X, X, Y, ws,
                 call_operands(bind<"window">(std::int32_t{4}), bind<"slopes">(mine)));
#endif
}
