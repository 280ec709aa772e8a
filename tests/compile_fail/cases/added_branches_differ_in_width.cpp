// add<F, G> sums its branches: they must give one width.
// A whole program: declare, load, run.
// expect-first-error: added_branches_differ_in_width
// expect-first-error: 'p', 'r', 'o', 'j'
// expect-first-error: 256, 512
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
using projection = tfm::multi_head_attention<"proj", heads<8>, output_features<512>>;
#else
using projection = tfm::multi_head_attention<"proj", heads<8>, output_features<256>>;
#endif
using net = tfm::model<tfm::input<batch<2>, seq<5>, d_model<512>>,
                       tfm::add<projection, tfm::layer_norm<"norm">>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<net>(argv[1], tfm::naming::keras);
  tfm::runner<net> run(weights);
  const xt::xtensor<float, 3> x = xt::zeros<float>({2, 5, 512});
  const auto y = run(x);
  std::printf("%zu values\n", y.size());
}
