// A tokens<...> input must be read by an embedding first: anything else is named by the rule.
// A whole program: declare, load, run.
// expect-first-error: tokens_need_an_embedding_first
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
using classifier = tfm::model<tfm::tokens<batch<2>, seq<5>>, tfm::embedding<"embed", 100, 16>,
                              tfm::dense<"out", 4>>;
#else
using classifier = tfm::model<tfm::tokens<batch<2>, seq<5>>,
                              tfm::dense<"out", 4, tfm::activations::linear, d_model<16>>>;
#endif

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<classifier>(argv[1], tfm::naming::keras);
  tfm::runner<classifier> run(weights);
  const xt::xtensor<std::int64_t, 2> ids = xt::zeros<std::int64_t>({2, 5});
  const auto y = run(ids);
  std::printf("%zu values\n", y.size());
}
