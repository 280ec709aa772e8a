// A nested masks::all counts with its parts: the padding mask a mask_zero embedding gives a
// self-attention layer (attending queries + keep_keys) takes one more keep mask, not two.
// A whole program: load a layer, call it with the mask.
// expect-first-error: more_than_two_keep_or_bias_mask_parts
// expect-first-error: keep_keys
// expect-first-error: attending_queries
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdint>
#include <cstdio>
#include <vector>

#include <typeformer/typeformer.hpp>

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

using layer = tfm::multi_head_attention<"mha", tfm::dims::heads<2>, tfm::dims::d_model<8>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<layer>(argv[1], tfm::naming::pytorch);
  std::vector<float> x(2 * 7 * 8), y(x.size());
  std::vector<std::uint8_t> keep(2 * 7, 1);
  std::vector<std::uint8_t> padding(2 * 7, 1);
  tfm::tensor_view<const float, 2, 7, 8> in(x.data());
  tfm::tensor_view<float, 2, 7, 8> out(y.data());
  tfm::workspace ws;
  layer::forward(weights, in, in, in, out, ws, make(keep.data(), padding.data()));
  std::printf("%f\n", double(y[0]));
}
