// keras.layers.Attention returns the values' width: an output of another width is an error.
// A whole program: load the layer, call it.
// expect-first-error: output_shape_does_not_match
// expect-first-error: 'l', 'u', 'o', 'n', 'g'
// expect-first-error: 16, 20
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdint>
#include <cstdio>
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using layer = tfm::dot_attention<"luong", tfm::use_scale<true>>;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t out_width = 20;
#else
constexpr tfm::extent_t out_width = 16;
#endif

void run(const layer::parameters& p, tfm::workspace& ws, const float* q, const float* v, float* y) {
  tfm::tensor_view<const float, 2, 5, 20> query(q);
  tfm::tensor_view<const float, 2, 9, 20> value(v);
  tfm::tensor_view<float, 2, 5, out_width> out(y);
  layer::forward(p, query, value, out, ws);
}

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<layer>(argv[1], tfm::naming::keras);
  std::vector<float> buffer0(4096);
  std::vector<float> buffer1(4096);
  std::vector<float> buffer2(4096);
  tfm::workspace ws;
  run(weights, ws, buffer0.data(), buffer1.data(), buffer2.data());
  std::printf("done\n");
}
