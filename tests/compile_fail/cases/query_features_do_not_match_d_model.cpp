// A query whose static feature extent differs from the layer's d_model.
// A whole program: load the layer, call it.
// expect-first-error: query_features_do_not_match_d_model
// expect-first-error: 'c', 'r', 'o', 's', 's'
// expect-first-error: 30, 32
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
using layer = tfm::multi_head_attention<"cross", heads<4>, d_model<32>, key_features<24>>;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t query_width = 32;
#else
constexpr tfm::extent_t query_width = 30;
#endif

void run(const layer::parameters& p, tfm::workspace& ws, const float* q, const float* kv,
         float* y) {
  tfm::tensor_view<const float, 2, 5, query_width> query(q);
  tfm::tensor_view<const float, 2, 7, 24> memory(kv);
  tfm::tensor_view<float, 2, 5, 32> out(y);
  layer::forward(p, query, memory, memory, out, ws);
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
