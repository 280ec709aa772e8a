// A decoder (a model with memory<...>) called like an encoder, run(target, y): one error that
// says the model reads a memory input and how to pass it, not the list of run's overloads.
// A whole program: declare, build weights, run.
// expect-first-error: this model reads a memory input
// expect-first-error: run(x, memory, y)
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

using decoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<64>, max_batch<2>, max_seq<16>>,
    tfm::memory<seq<tfm::dynamic>, d_model<64>, max_seq<16>>,
    tfm::repeat<"layers", 2, tfm::transformer_decoder_layer<heads<4>, dim_feedforward<128>>>>;

int main() {
  const auto weights = tfm::random_parameters<decoder>(1, tfm::naming::pytorch);
  tfm::runner<decoder> run(weights);
  xt::xtensor<float, 3> target = xt::ones<float>({2, 5, 64}), y = target;
#ifdef TYPEFORMER_OK_TWIN
  const xt::xtensor<float, 3> memory = xt::ones<float>({2, 7, 64});
  run(target, memory, y);
#else
  run(target, y);
#endif
  return 0;
}
