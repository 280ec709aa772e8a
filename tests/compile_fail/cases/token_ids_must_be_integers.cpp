// Float token ids given to a tokens<...> model: one error that says the model reads integer ids,
// and nothing that would read the ids after it. A whole program: declare, build weights, run.
// (g++ 12: 8 lines; clang 14: 9: checked in the function the user calls, one note deep.)
// expect-first-error: a tokens<...> model reads integer token ids
// forbid: xsimd
// forbid: hana
// max-lines: 9
#include <cstdint>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

using classifier =
    tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<2>, max_seq<16>>,
               tfm::embedding<"embed", 100, 32>,
               tfm::transformer_encoder_layer<heads<4>, dim_feedforward<64>>, tfm::dense<"out", 3>>;

int main() {
  const auto weights = tfm::random_parameters<classifier>(5, tfm::naming::pytorch);
  tfm::runner<classifier> run(weights);
#ifdef TYPEFORMER_OK_TWIN
  const xt::xtensor<std::int32_t, 2> ids = xt::ones<std::int32_t>({2, 7});
#else
  const xt::xtensor<float, 2> ids = xt::ones<float>({2, 7});
#endif
  xt::xtensor<float, 3> y = xt::zeros<float>({2, 7, 3});
  run(ids, y);
  return 0;
}
