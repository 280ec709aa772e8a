// A dense layer straight after stacked LSTM heads would read the heads' axis as its features:
// the rule names the dense layer and the (units, heads) it was given.
// A whole program: declare, load, run.
// expect-first-error: stacked_heads_need_flatten_first
// expect-first-error: 'o', 'u', 't'
// expect-first-error: 64, 3
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
using classifier =
    tfm::model<tfm::input<batch<2>, seq<10>, d_model<20>>,
               tfm::multi_head<tfm::lstm<"lstm", 64>, 3>, tfm::flatten<>, tfm::dense<"out", 4>>;
#else
using classifier = tfm::model<tfm::input<batch<2>, seq<10>, d_model<20>>,
                              tfm::multi_head<tfm::lstm<"lstm", 64>, 3>, tfm::dense<"out", 4>>;
#endif

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<classifier>(argv[1], tfm::naming::keras);
  tfm::runner<classifier> run(weights);
  const xt::xtensor<float, 3> x = xt::zeros<float>({2, 10, 20});
  const auto y = run(x);
  std::printf("%zu values\n", y.size());
}
