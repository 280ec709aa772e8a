// A whole program around a transformer encoder of LAYERS layers, as README.md's second example
// writes it: declare, load by PyTorch names, run with padding, print the summary.
#include <iostream>
#include <vector>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

using encoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<512>, max_batch<8>, max_seq<256>>,
    tfm::repeat<"layers", LAYERS, tfm::transformer_encoder_layer<heads<8>, dim_feedforward<2048>>>,
    tfm::layer_norm<"norm">>;

int main(int argc, char** argv) try {
  if (argc != 2) return 2;
  const auto weights = tfm::load_weights<encoder>(argv[1], tfm::naming::pytorch);
  tfm::runner<encoder> run(weights, {.threads = 2});
  xt::xtensor<float, 3> x = xt::zeros<float>({std::size_t{8}, std::size_t{100}, std::size_t{512}});
  xt::xtensor<float, 3> y = x;
  const std::vector<tfm::extent_t> lengths(8, 100);
  run(x, y, tfm::masks::key_lengths{lengths});
  std::cout << tfm::summary<encoder>();
} catch (const tfm::error& e) {
  std::cerr << e.what() << "\n";
  return 1;
}
