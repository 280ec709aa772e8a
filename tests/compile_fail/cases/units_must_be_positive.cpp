// A dense layer of zero units is named with its count. A whole program that loads the layer and
// calls it: one error, and the call checks nothing against the broken declaration (clang gave a
// second error, the 4-wide output "not matching" 0 units).
// expect-first-error: units_must_be_positive
// expect-first-error: 'o', 'u', 't'
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
constexpr tfm::extent_t units = 4;
#else
constexpr tfm::extent_t units = 0;
#endif
using layer = tfm::dense<"out", units, tfm::activations::linear, d_model<8>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<layer>(argv[1], tfm::naming::keras);
  std::vector<float> x(2 * 5 * 8), y(2 * 5 * 4);
  tfm::tensor_view<const float, 2, 5, 8> in(x.data());
  tfm::tensor_view<float, 2, 5, 4> out(y.data());
  tfm::workspace ws;
  layer::forward(weights, in, out, ws);
  std::printf("%f\n", double(y[0]));
}
