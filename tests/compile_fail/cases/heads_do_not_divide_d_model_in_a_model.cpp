// The README's first mistake inside a model: the heads rule of a layer three levels down (scope,
// repeat, transformer_encoder_layer) is checked by the model from the layer's options, so the
// error is the model's one assertion, whatever the depth, and nothing after it fails. It names
// the layer by its path, as its weights are named (encoder.layers.0.self_attn). A whole program:
// declare, load with the self-test, run. (g++ 12: 8 lines; clang 14: 12, two notes of
// instantiation context.)
// expect-first-error: heads_do_not_divide_d_model
// expect-first-error: 'e', 'n', 'c', 'o', 'd', 'e', 'r', '.', 'l', 'a', 'y', 'e', 'r', 's', '.'
// expect-first-error: 'l', 'a', 'y', 'e', 'r', 's', '.', '0', '.', 's', 'e', 'l', 'f', '_', 'a'
// expect-first-error: 500, 8
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
constexpr tfm::extent_t width = 512;
#else
constexpr tfm::extent_t width = 500;
#endif

using encoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<width>, max_batch<8>, max_seq<128>>,
    tfm::scope<
        "encoder",
        tfm::repeat<"layers", 2, tfm::transformer_encoder_layer<heads<8>, dim_feedforward<2048>>>,
        tfm::layer_norm<"norm">>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<encoder>(argv[1], tfm::naming::pytorch, tfm::verify::on);
  tfm::runner<encoder> run(weights);
  const std::array<std::size_t, 3> shape = {2, 10, std::size_t(width)};
  xt::xtensor<float, 3> x = xt::zeros<float>(shape), y = x;
  run(x, y);
  return 0;
}
