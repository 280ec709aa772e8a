// Relative-position attention without its clipping distance, after a learned position table,
// in a model: one error, the model's, with the layer's name. A whole program.
// expect-first-error: max_relative_position_must_be_positive
// expect-first-error: 'r', 'e', 'l'
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstddef>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

#ifdef TYPEFORMER_OK_TWIN
using attention = tfm::relative_position_attention<"rel", heads<2>, tfm::max_relative_position<4>>;
#else
using attention = tfm::relative_position_attention<"rel", heads<2>>;
#endif

using encoder = tfm::model<tfm::input<batch<tfm::dynamic>, seq<16>, d_model<32>, max_batch<2>>,
                           tfm::position_embedding<"pos", 16>, attention>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<encoder>(argv[1], tfm::naming::keras);
  tfm::runner<encoder> run(weights);
  xt::xtensor<float, 3> x = xt::zeros<float>({std::size_t{2}, std::size_t{16}, std::size_t{32}});
  xt::xtensor<float, 3> y = x;
  run(x, y);
  return 0;
}
