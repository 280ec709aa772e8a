// Flatten's output width is length · width: over a dynamic sequence it has none.
// A whole program: declare, load, run.
// expect-first-error: flatten_needs_a_static_length
// expect-first-error: 'f', 'l', 'a', 't', 't', 'e', 'n'
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
constexpr tfm::extent_t length = 12;
#else
constexpr tfm::extent_t length = tfm::dynamic;
#endif
using net = tfm::model<tfm::input<batch<2>, seq<length>, max_seq<12>, d_model<8>>,
                       tfm::conv1d<"conv", 4, 3>, tfm::flatten<>, tfm::dense<"out", 2>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<net>(argv[1], tfm::naming::keras);
  tfm::runner<net> run(weights);
  const xt::xtensor<float, 3> x = xt::zeros<float>({2, 12, 8});
  const auto y = run(x);
  std::printf("%zu values\n", y.size());
}
