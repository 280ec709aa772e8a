// Relative-position attention needs its clipping distance K.
// A whole program: load the layer, call it.
// expect-first-error: max_relative_position_must_be_positive
// expect-first-error: 'r', 'e', 'l'
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdio>
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
using layer =
    tfm::relative_position_attention<"rel", heads<2>, d_model<8>, tfm::max_relative_position<10>>;
#else
using layer = tfm::relative_position_attention<"rel", heads<2>, d_model<8>>;
#endif

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<layer>(argv[1], tfm::naming::keras);
  std::vector<float> x(2 * 6 * 8), y(x.size());
  tfm::tensor_view<const float, 2, 6, 8> in(x.data());
  tfm::tensor_view<float, 2, 6, 8> out(y.data());
  tfm::workspace ws;
  layer::forward(weights, in, in, in, out, ws);
  std::printf("%f\n", double(y[0]));
}
