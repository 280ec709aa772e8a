// A keep-mask whose static key extent differs from the key sequence's.
// expect-first-error: mask_key_length_does_not_match
// expect-first-error: 's', 'e', 'l', 'f'
// expect-first-error: 9, 7
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <cstdint>

#include <typeformer/layers/multi_head_attention.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
using layer = tfm::multi_head_attention<"self", heads<2>, d_model<16>>;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t mask_keys = 7;
#else
constexpr tfm::extent_t mask_keys = 9;
#endif

void run(const layer::parameters& p, tfm::workspace& ws, const float* x, float* y,
         const std::uint8_t* keep) {
  tfm::tensor_view<const float, tfm::dynamic, 7, 16> input(x, {3, 7, 16});
  tfm::tensor_view<float, tfm::dynamic, 7, 16> out(y, {3, 7, 16});
  tfm::masks::keep<tfm::dynamic, 7, mask_keys> mask{{keep, {3, 7, mask_keys}}};
  layer::forward(p, input, input, input, out, ws, mask);
}
