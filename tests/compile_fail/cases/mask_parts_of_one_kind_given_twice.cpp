// masks::all takes one causal part: two would each place the diagonal.
// expect-first-error: mask_parts_of_one_kind_given_twice
// expect-first-error: causal
// expect-first-error: causal_bottom_right
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 8
#include <cstdint>

#include <typeformer/expr/masks.hpp>

namespace tfm = typeformer;

auto make(const std::uint8_t* keep) {
  tfm::masks::keep_keys<2, 7> keep_part{tfm::tensor_view<const std::uint8_t, 2, 7>(keep)};
#ifdef TYPEFORMER_OK_TWIN
  return tfm::masks::all(tfm::masks::causal{}, keep_part);
#else
  return tfm::masks::all(tfm::masks::causal{}, tfm::masks::causal_bottom_right{}, keep_part);
#endif
}
