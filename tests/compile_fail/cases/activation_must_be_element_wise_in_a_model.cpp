// Softmax as the feed-forward activation of a transformer layer, two levels down in a model
// (repeat, transformer_encoder_layer). The rule is checked by the model from the layer's
// arguments, so it is the model's one assertion and nothing after it fails; with the assertion
// in the layer's body, clang went on to 690 lines of errors about the broken layer's members.
// A whole program: declare, load, run.
// expect-first-error: activation_must_be_element_wise
// expect-first-error: 'f', 'f'
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <array>
#include <cstddef>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

#ifdef TYPEFORMER_OK_TWIN
constexpr auto activation = tfm::activations::gelu;
#else
constexpr auto activation = tfm::activations::softmax;
#endif

using encoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<64>, max_batch<8>, max_seq<128>>,
    tfm::repeat<"layers", 2,
                tfm::transformer_encoder_layer<heads<4>, dim_feedforward<256>,
                                               tfm::with_activation<activation>>>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<encoder>(argv[1], tfm::naming::pytorch);
  tfm::runner<encoder> run(weights);
  const std::array<std::size_t, 3> shape = {2, 10, 64};
  xt::xtensor<float, 3> x = xt::zeros<float>(shape), y = x;
  run(x, y);
  return 0;
}
