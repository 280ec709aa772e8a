// A valid convolution of kernel 3 over 10 static steps gives 8 outputs, not 10: the output's
// static length is checked against the layer's formula.
// A whole program: load the layer, call it.
// expect-first-error: output_shape_does_not_match
// expect-first-error: 'f', 'e', 'a', 't', 's'
// expect-first-error: 10, 8
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
using layer = tfm::conv1d<"feats", 16, 3, d_model<4>>;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t out_length = 8;
#else
constexpr tfm::extent_t out_length = 10;
#endif

void run(const layer::parameters& p, tfm::workspace& ws, const float* x, float* y) {
  tfm::tensor_view<const float, 2, 10, 4> in(x);
  tfm::tensor_view<float, 2, out_length, 16> out(y);
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
