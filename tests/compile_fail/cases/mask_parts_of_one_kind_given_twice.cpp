// masks::all takes one causal part: two would each place the diagonal.
// A whole program: load a layer, call it with the mask.
// expect-first-error: mask_parts_of_one_kind_given_twice
// expect-first-error: causal
// expect-first-error: causal_bottom_right
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdint>
#include <cstdio>
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;

auto make(const std::uint8_t* keep) {
  tfm::masks::keep_keys<2, 7> keep_part{tfm::tensor_view<const std::uint8_t, 2, 7>(keep)};
#ifdef TYPEFORMER_OK_TWIN
  return tfm::masks::all(tfm::masks::causal{}, keep_part);
#else
  return tfm::masks::all(tfm::masks::causal{}, tfm::masks::causal_bottom_right{}, keep_part);
#endif
}

using layer = tfm::multi_head_attention<"mha", tfm::dims::heads<2>, tfm::dims::d_model<8>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<layer>(argv[1], tfm::naming::pytorch);
  std::vector<float> x(2 * 7 * 8), y(x.size());
  std::vector<std::uint8_t> keep(2 * 7, 1);
  tfm::tensor_view<const float, 2, 7, 8> in(x.data());
  tfm::tensor_view<float, 2, 7, 8> out(y.data());
  tfm::workspace ws;
  layer::forward(weights, in, in, in, out, ws, make(keep.data()));
  std::printf("%f\n", double(y[0]));
}
