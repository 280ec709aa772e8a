// The relative-position core declares its value width (rel_v has that many columns).
// A whole program: load the layer, call it.
// expect-first-error: value_features_do_not_match_declaration
// expect-first-error: 'r', 'e', 'l'
// expect-first-error: 12, 8
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
using layer = tfm::relative_dot_attention<"rel", tfm::max_relative_position<4>, d_model<16>,
                                          value_features<8>>;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t value_width = 8;
#else
constexpr tfm::extent_t value_width = 12;
#endif

void run(const layer::parameters& p, tfm::workspace& ws, const float* q, const float* v,
         const float* k, float* y) {
  tfm::tensor_view<const float, 2, 5, 16> query(q);
  tfm::tensor_view<const float, 2, 9, value_width> value(v);
  tfm::tensor_view<const float, 2, 9, 16> key(k);
  tfm::tensor_view<float, 2, 5, value_width> out(y);
  layer::forward(p, query, value, key, out, ws);
}

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<layer>(argv[1], tfm::naming::keras);
  std::vector<float> buffer0(4096);
  std::vector<float> buffer1(4096);
  std::vector<float> buffer2(4096);
  std::vector<float> buffer3(4096);
  tfm::workspace ws;
  run(weights, ws, buffer0.data(), buffer1.data(), buffer2.data(), buffer3.data());
  std::printf("done\n");
}
