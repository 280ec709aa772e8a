// An LSTM's kernel has d_model rows: an input of another feature width cannot be read.
// A whole program: load the layer, call it.
// expect-first-error: input_features_do_not_match_d_model
// expect-first-error: 'e', 'n', 'c'
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
using layer = tfm::lstm<"enc", 16, d_model<8>, tfm::return_sequences<true>>;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t features = 8;
#else
constexpr tfm::extent_t features = 12;
#endif

void run(const layer::parameters& p, tfm::workspace& ws, const float* x, float* y) {
  tfm::tensor_view<const float, 2, 10, features> in(x);
  tfm::tensor_view<float, 2, 10, 16> out(y);
  layer::forward(p, in, out, ws);
}

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<layer>(argv[1], tfm::naming::keras);
  std::vector<float> buffer0(4096);
  std::vector<float> buffer1(4096);
  tfm::workspace ws;
  run(weights, ws, buffer0.data(), buffer1.data());
  std::printf("done\n");
}
