// A Keras-style attention layer (key_dim_per_head independent of d_model / heads) in a model
// loaded by PyTorch names: the model asserts the naming rule before any name is read, so the
// error is one, flat in depth, and names the layer by its path (layers.0.mha). Before, the rule
// fired deep inside the load (g++ 14 lines, clang 30), and on clang a second error followed from
// the second read of the names (60 lines). A whole program: declare, load, run.
// expect-first-error: pytorch_names_need_head_width_d_model_over_heads
// expect-first-error: 'l', 'a', 'y', 'e', 'r', 's', '.', '0', '.', 'm', 'h', 'a'
// expect-first-error: 20, 7
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdio>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
using net = tfm::model<
    tfm::input<batch<2>, seq<5>, d_model<30>>,
    tfm::repeat<"layers", 2, tfm::multi_head_attention<"mha", heads<4>, key_dim_per_head<20>>>>;
#ifdef TYPEFORMER_OK_TWIN
constexpr auto names = tfm::naming::keras;
#else
constexpr auto names = tfm::naming::pytorch;
#endif

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<net>(argv[1], names);
  tfm::runner<net> run(weights);
  const xt::xtensor<float, 3> x = xt::zeros<float>({2, 5, 30});
  const auto y = run(x);
  std::printf("%zu values\n", y.size());
}
