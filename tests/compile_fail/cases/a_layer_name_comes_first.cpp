// A dense layer declared without its name, the units first (`dense<64, relu>`, Keras's
// Dense(64, activation="relu")). The model's type still forms, so the error is the layer's one
// rule: before, the name slot's failed deduction made the model's alias and each use of it an
// error (g++ 12: 11 errors, 81 lines; clang 14: 4 errors, 23). A whole program: declare, load,
// run.
// expect-first-error: a_layer_name_comes_first
// expect-first-error: 'd', 'e', 'n', 's', 'e'
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
using hidden = tfm::dense<64, tfm::activations::relu>;
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
