// An operand a layer's declared function names is bound by the layer or at the call: here the
// window size of a sliding-window layer is not given to forward.
// expect-first-error: an operand the layer's score or mask function names is bound neither
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
constexpr operand<"window", std::int32_t> window;
constexpr auto sliding = kv_idx <= q_idx && q_idx - kv_idx < window;
using layer =
    tfm::multi_head_attention<"attn", heads<4>, d_model<32>, tfm::with_mask_function<sliding>>;

int main(int, char** argv) {
  const auto file = tfm::io::safetensors_file::open(argv[1]);
  const auto p = tfm::load_weights<layer>(file, tfm::naming::pytorch);
  std::vector<float> x(2 * 10 * 32), y(x.size());
  tfm::tensor_view<const float, 2, 10, 32> X(x.data());
  tfm::tensor_view<float, 2, 10, 32> Y(y.data());
  tfm::workspace ws;
#ifdef TYPEFORMER_OK_TWIN
  layer::forward(p, X, X, X, Y, ws, call_operands(bind<"window">(std::int32_t{4})));
#else
  layer::forward(p, X, X, X, Y, ws);
#endif
}
