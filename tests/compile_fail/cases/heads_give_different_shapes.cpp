// Heads to be stacked must agree: the rule names the first head, the one that differs and
// their widths.
// A whole program: declare, load, run.
// expect-first-error: heads_give_different_shapes
// expect-first-error: 'c', 'o', 'n', 'v', '3'
// expect-first-error: 'c', 'o', 'n', 'v', '5'
// expect-first-error: 32, 16
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <cstdint>
#include <cstdio>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
using same = tfm::padding<tfm::conv_padding::same>;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t second_filters = 32;
#else
constexpr tfm::extent_t second_filters = 16;
#endif
using net = tfm::model<tfm::input<batch<2>, seq<10>, d_model<8>>,
                       tfm::multi_head_list<tfm::conv1d<"conv3", 32, 3, same>,
                                            tfm::conv1d<"conv5", second_filters, 5, same>>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<net>(argv[1], tfm::naming::keras);
  tfm::runner<net> run(weights);
  const xt::xtensor<float, 3> x = xt::zeros<float>({2, 10, 8});
  const auto y = run(x);
  std::printf("%zu values\n", y.size());
}
