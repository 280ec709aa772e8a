// A keep-mask whose static key extent differs from the key sequence's.
// A whole program: load the layer, call it.
// expect-first-error: mask_key_length_does_not_match
// expect-first-error: 's', 'e', 'l', 'f'
// expect-first-error: 9, 7
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdint>
#include <cstdio>
#include <vector>

#include <typeformer/typeformer.hpp>

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

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<layer>(argv[1], tfm::naming::keras);
  std::vector<float> buffer0(4096);
  std::vector<float> buffer1(4096);
  std::vector<std::uint8_t> buffer2(4096);
  tfm::workspace ws;
  run(weights, ws, buffer0.data(), buffer1.data(), buffer2.data());
  std::printf("done\n");
}
