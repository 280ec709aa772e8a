// A learned position table needs at least one position.
// A whole program: load the layer, call it.
// expect-first-error: positions_must_be_positive
// expect-first-error: 'p', 'o', 's'
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
constexpr tfm::extent_t positions = 64;
#else
constexpr tfm::extent_t positions = 0;
#endif
using layer = tfm::position_embedding<"pos", positions, d_model<32>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<layer>(argv[1], tfm::naming::keras);
  std::vector<float> x(2 * 10 * 32), y(x.size());
  tfm::tensor_view<const float, 2, 10, 32> in(x.data());
  tfm::tensor_view<float, 2, 10, 32> out(y.data());
  tfm::workspace ws;
  layer::forward(weights, in, out, ws);
  std::printf("%f\n", double(y[0]));
}
