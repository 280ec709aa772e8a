// A model whose sliding window is bound at each call decodes only when decode is given it too.
// A whole program: declare, build weights, decode.
// expect-first-error: needs operands bound at each call: pass them to decode
// forbid: xsimd
// forbid: hana
// max-lines: 9
// max-error-width: 450
#include <cstdint>
#include <cstdio>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
using namespace tfm::expr;

constexpr operand<"window", std::int32_t> window;
constexpr auto sliding = kv_idx <= q_idx && q_idx - kv_idx < window;

using model = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<16>, max_batch<1>, max_seq<32>>,
    tfm::multi_head_attention<"attn", heads<2>, tfm::with_mask_function<sliding>>>;

int main() {
  const auto weights = tfm::random_parameters<model>(7, tfm::naming::pytorch);
  tfm::runner<model> run(weights);
  xt::xtensor<float, 3> x = xt::ones<float>({1, 1, 16}), y = x;
  run.start_decoding(1);
#ifdef TYPEFORMER_OK_TWIN
  run.decode(x, y, call_operands(bind<"window">(8)));
#else
  run.decode(x, y);
#endif
  std::printf("%f\n", double(y(0, 0, 0)));
}
