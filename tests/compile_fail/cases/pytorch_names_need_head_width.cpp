// A Keras-style declaration (key_dim_per_head independent of d_model / heads) cannot be
// loaded by PyTorch names: nn.MultiheadAttention has no such parameterisation.
// A whole program: load the layer, call it.
// expect-first-error: pytorch_names_need_head_width_d_model_over_heads
// expect-first-error: 'm', 'h', 'a'
// expect-first-error: 20, 7
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdio>
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
using layer = tfm::multi_head_attention<"mha", heads<4>, d_model<30>, key_dim_per_head<20>>;
#ifdef TYPEFORMER_OK_TWIN
constexpr auto names = tfm::naming::keras;
#else
constexpr auto names = tfm::naming::pytorch;
#endif

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<layer>(argv[1], names);
  std::vector<float> x(2 * 5 * 30), y(x.size());
  tfm::tensor_view<const float, 2, 5, 30> in(x.data());
  tfm::tensor_view<float, 2, 5, 30> out(y.data());
  tfm::workspace ws;
  layer::forward(weights, in, in, in, out, ws);
  std::printf("%f\n", double(y[0]));
}
