// repeat<"layers", 0, ...> is a mistake, not an empty model.
// A whole program: declare, load, run.
// expect-first-error: repeat_count_must_be_positive
// expect-first-error: 'l', 'a', 'y', 'e', 'r', 's'
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
constexpr std::size_t copies = 2;
#else
constexpr std::size_t copies = 0;
#endif
using net = tfm::model<tfm::input<batch<2>, seq<5>, d_model<64>>,
                       tfm::repeat<"layers", copies, tfm::layer_norm<"norm">>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<net>(argv[1], tfm::naming::pytorch);
  tfm::runner<net> run(weights);
  const xt::xtensor<float, 3> x = xt::zeros<float>({2, 5, 64});
  const auto y = run(x);
  std::printf("%zu values\n", y.size());
}
