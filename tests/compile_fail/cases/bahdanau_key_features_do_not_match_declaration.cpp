// BahdanauAttention projects the keys with W2 (key_features, units): a key of another width
// cannot be read.
// A whole program: load the layer, call it.
// expect-first-error: key_features_do_not_match_declaration
// expect-first-error: 'a', 't', 't', 'n'
// expect-first-error: 24, 32
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
using layer = tfm::bahdanau_attention<"attn", 10, d_model<16>, key_features<32>>;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t value_width = 32;
#else
constexpr tfm::extent_t value_width = 24;
#endif

// Decoder positions against the encoder outputs (values as keys).
void run(const layer::parameters& p, tfm::workspace& ws, const float* q, const float* v, float* y) {
  tfm::tensor_view<const float, 4, 6, 16> queries(q);
  tfm::tensor_view<const float, 4, 30, value_width> values(v);
  tfm::tensor_view<float, 4, 6, value_width> out(y);
  layer::forward(p, queries, values, values, out, ws);
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
