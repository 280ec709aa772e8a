// Sines and cosines come in pairs: a sinusoidal encoding of an odd width is an error that
// names the width.
// A whole program: declare, load, run.
// expect-first-error: sinusoidal_encoding_needs_even_width
// expect-first-error: 7
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdint>
#include <cstdio>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t width = 8;
#else
constexpr tfm::extent_t width = 7;
#endif
using positions =
    tfm::model<tfm::input<batch<2>, seq<5>, d_model<width>>, tfm::sinusoidal_position_encoding<>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<positions>(argv[1], tfm::naming::pytorch);
  tfm::runner<positions> run(weights);
  const xt::xtensor<float, 3> x = xt::zeros<float>({2, 5, 8});
  const auto y = run(x);
  std::printf("%zu values\n", y.size());
}
