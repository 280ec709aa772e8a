// masks::all takes one part of each kind: two keep masks would overwrite each other.
// expect-first-error: mask_parts_of_one_kind_given_twice
// expect-first-error: keep_keys
// expect-first-error: pytorch_key_padding
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdint>

#include <typeformer/expr/masks.hpp>

namespace tfm = typeformer;

auto make(const std::uint8_t* keep, const std::uint8_t* padding) {
  tfm::masks::keep_keys<2, 7> keep_part{tfm::tensor_view<const std::uint8_t, 2, 7>(keep)};
#ifdef TYPEFORMER_OK_TWIN
  (void)padding;
  return tfm::masks::all(tfm::masks::causal{}, keep_part);
#else
  tfm::masks::pytorch_key_padding<2, 7> padding_part{
      tfm::tensor_view<const std::uint8_t, 2, 7>(padding)};
  return tfm::masks::all(keep_part, padding_part);
#endif
}
