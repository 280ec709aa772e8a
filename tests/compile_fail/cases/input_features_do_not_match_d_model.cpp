// An LSTM's kernel has d_model rows: an input of another feature width cannot be read.
// expect-first-error: input_features_do_not_match_d_model
// expect-first-error: 'e', 'n', 'c'
// expect-first-error: 12, 8
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 11
#include <typeformer/layers/lstm.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
using layer = tfm::lstm<"enc", 16, d_model<8>, tfm::return_sequences<true>>;
#ifdef TYPEFORMER_OK_TWIN
constexpr tfm::extent_t features = 8;
#else
constexpr tfm::extent_t features = 12;
#endif

void run(const layer::parameters& p, tfm::workspace& ws, const float* x, float* y) {
  tfm::tensor_view<const float, 2, 10, features> in(x);
  tfm::tensor_view<float, 2, 10, 16> out(y);
  layer::forward(p, in, out, ws);
}
