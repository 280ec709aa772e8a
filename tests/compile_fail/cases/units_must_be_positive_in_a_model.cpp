// An LSTM of zero units in a model, after an embedding: the model checks the layer's rule from
// its arguments, so the error is the model's one assertion (the layer's body assertion gave
// 14 lines on g++ and 39 on clang in this program). A whole program: declare, load, run.
// expect-first-error: units_must_be_positive
// expect-first-error: 'l', 's', 't', 'm'
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdint>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t units = 32;
#else
constexpr tfm::extent_t units = 0;
#endif

using classifier = tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<20>, max_batch<4>>,
                              tfm::embedding<"embed", 1000, 64>, tfm::lstm<"lstm", units>,
                              tfm::dense<"out", 2, tfm::activations::softmax>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<classifier>(argv[1], tfm::naming::keras);
  tfm::runner<classifier> run(weights);
  xt::xtensor<std::int32_t, 2> ids = xt::zeros<std::int32_t>({std::size_t{2}, std::size_t{20}});
  xt::xtensor<float, 2> y = xt::zeros<float>({std::size_t{2}, std::size_t{2}});
  run(ids, y);
  return 0;
}
