// The layer after a token embedding declares another width: the first error line names both
// layers (the embedding as the predecessor) and both widths.
// A whole program: declare, load, run.
// expect-first-error: input_width_does_not_match_predecessor
// expect-first-error: 'o', 'u', 't'
// expect-first-error: 'e', 'm', 'b', 'e', 'd'
// expect-first-error: 32, 16
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
constexpr tfm::extent_t declared = 16;
#else
constexpr tfm::extent_t declared = 32;
#endif
using classifier = tfm::model<tfm::tokens<batch<2>, seq<5>>, tfm::embedding<"embed", 100, 16>,
                              tfm::dense<"out", 4, tfm::activations::linear, d_model<declared>>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<classifier>(argv[1], tfm::naming::keras);
  tfm::runner<classifier> run(weights);
  const xt::xtensor<std::int64_t, 2> ids = xt::zeros<std::int64_t>({2, 5});
  const auto y = run(ids);
  std::printf("%zu values\n", y.size());
}
