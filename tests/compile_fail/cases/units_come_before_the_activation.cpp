// A dense layer declared with its name and activation but not its units (`dense<"hidden", relu>`).
// The model's type still forms, so the error is the layer's one rule, named with the layer.
// (A layer that also declares `d_model<…>` cannot be caught so: the option lands in the
// activation's slot, and the type does not form.) A whole program: declare, load, run.
// expect-first-error: units_come_before_the_activation
// expect-first-error: 'h', 'i', 'd', 'd', 'e', 'n'
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdio>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
#ifdef TYPEFORMER_OK_TWIN
using hidden = tfm::dense<"hidden", 64, tfm::activations::relu>;
#else
using hidden = tfm::dense<"hidden", tfm::activations::relu>;
#endif
using classifier = tfm::model<tfm::input<batch<tfm::dynamic>, seq<20>, d_model<32>, max_batch<4>>,
                              hidden, tfm::dense<"out", 2, tfm::activations::softmax>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<classifier>(argv[1], tfm::naming::keras);
  tfm::runner<classifier> run(weights);
  const xt::xtensor<float, 3> x = xt::zeros<float>({2, 20, 32});
  const auto y = run(x);
  std::printf("%zu values\n", y.size());
}
