// A condition declared as a transformer layer's score function, two levels down in a model
// (repeat, transformer_encoder_layer, whose self-attention takes the option): the rule is the
// layer's, checked by the model from its options, so the error is the model's one assertion
// and names the self-attention layer. With the assertion in the option's body it was 19 lines
// on g++ and 37 on clang. A whole program: declare, load, run.
// expect-first-error: score_function_must_yield_a_number
// expect-first-error: 's', 'e', 'l', 'f', '_', 'a', 't', 't', 'n'
// forbid: xtensor
// forbid: xsimd
// forbid: hana
// max-lines: 12
#include <array>
#include <cstddef>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;
using tfm::expr::kv_idx, tfm::expr::q_idx, tfm::expr::score;

#ifdef TYPEFORMER_OK_TWIN
constexpr auto capped = 30.0f * tfm::expr::tanh(score / 30.0f);
#else
constexpr auto capped = kv_idx <= q_idx;
#endif

using encoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<64>, max_batch<8>, max_seq<128>>,
    tfm::repeat<"layers", 2,
                tfm::transformer_encoder_layer<heads<4>, dim_feedforward<256>,
                                               tfm::with_score_function<capped>>>>;

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const auto weights = tfm::load_weights<encoder>(argv[1], tfm::naming::pytorch);
  tfm::runner<encoder> run(weights);
  const std::array<std::size_t, 3> shape = {2, 10, 64};
  xt::xtensor<float, 3> x = xt::zeros<float>(shape), y = x;
  run(x, y);
  return 0;
}
