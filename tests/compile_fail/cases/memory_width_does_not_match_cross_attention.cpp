// A decoder whose memory<...> is 256 wide while its cross-attention takes 512-wide keys (the
// default key_features of a d_model<512> layer): the types conflict, so the compiler reports it
// (it was a run-time error before), naming the cross-attention and both widths.
// A whole program: declare, build weights, run.
// (g++ 12: 8 lines; clang 14: 12, two notes of instantiation context.)
// expect-first-error: key_features_do_not_match_declaration
// expect-first-error: 'm', 'u', 'l', 't', 'i', 'h', 'e', 'a', 'd', '_', 'a', 't', 't', 'n'
// expect-first-error: 256, 512
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
constexpr tfm::extent_t memory_width = 512;
#else
constexpr tfm::extent_t memory_width = 256;
#endif

using decoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<512>, max_batch<2>, max_seq<16>>,
    tfm::memory<seq<tfm::dynamic>, d_model<memory_width>, max_seq<16>>,
    tfm::repeat<"layers", 2, tfm::transformer_decoder_layer<heads<8>, dim_feedforward<1024>>>>;

int main() {
  const auto weights = tfm::random_parameters<decoder>(1, tfm::naming::pytorch);
  tfm::runner<decoder> run(weights);
  xt::xtensor<float, 3> target = xt::ones<float>({2, 5, 512}), y = target;
  const std::array<std::size_t, 3> memory_shape = {2, 7, std::size_t(memory_width)};
  const xt::xtensor<float, 3> memory = xt::ones<float>(memory_shape);
  run(target, memory, y);
  return 0;
}
