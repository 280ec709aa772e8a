// A nested masks::all counts with its parts: the padding mask a mask_zero embedding gives a
// self-attention layer (attending queries + keep_keys) takes one more keep mask, not two.
// expect-first-error: more_than_two_keep_or_bias_mask_parts
// expect-first-error: keep_keys
// expect-first-error: attending_queries
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <cstdint>

#include <typeformer/expr/masks.hpp>

namespace tfm = typeformer;

auto make(const std::uint8_t* keep, const std::uint8_t* padding) {
  const tfm::tensor_view<const std::uint8_t, 2, 7> pad(padding);
  const tfm::masks::all propagated(tfm::masks::attending_queries<2, 7>{pad},
                                   tfm::masks::keep_keys<2, 7>{pad});
  tfm::masks::keep_keys<2, 7> keep_part{tfm::tensor_view<const std::uint8_t, 2, 7>(keep)};
#ifdef TYPEFORMER_OK_TWIN
  return tfm::masks::all(keep_part, propagated);
#else
  tfm::masks::pytorch_key_padding<2, 7> padding_part{
      tfm::tensor_view<const std::uint8_t, 2, 7>(keep)};
  return tfm::masks::all(keep_part, padding_part, propagated);
#endif
}
