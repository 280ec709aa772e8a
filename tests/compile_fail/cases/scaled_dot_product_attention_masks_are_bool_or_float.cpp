// A uint8 mask for scaled_dot_product_attention: PyTorch 2.1+ takes bool (true = attend) or
// float; a byte would be ambiguous (nn.MultiheadAttention's bytes mean the opposite).
// expect-first-error: scaled_dot_product_attention_masks_are_bool_or_float
// expect-first-error: unsigned char
// forbid: xsimd
// forbid: hana
// max-lines: 9
#include <cstdint>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;

int main() {
  xt::xtensor<float, 4> q = xt::ones<float>({2, 3, 7, 8}), out = q;
#ifdef TYPEFORMER_OK_TWIN
  xt::xtensor<bool, 2> mask = xt::ones<bool>({7, 7});
#else
  xt::xtensor<std::uint8_t, 2> mask = xt::ones<std::uint8_t>({7, 7});
#endif
  tfm::workspace ws;
  tfm::expr::evaluate(out,
                      tfm::expr::scaled_dot_product_attention(
                          q, q, q, tfm::masks::pytorch_sdpa_mask{tfm::as_view<2>(mask)}),
                      ws);
  return out(0, 0, 0, 0) == 1.0f ? 0 : 1;
}
