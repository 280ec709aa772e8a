#pragma once
// The element-wise half of an LSTM step, after the gate pre-activations are summed:
//   i = σ(gᵢ), f = σ(g_f), c̃ = tanh(g_c), o = σ(g_o);  c ← f·c + i·c̃;  h ← o·tanh(c)
// with the gates in the order PyTorch and Keras share (input, forget, cell, output), each
// `units` wide. σ is the logistic sigmoid (Keras 2.3+ and PyTorch; not tfjs's hard sigmoid).

#include <cstddef>

#include <typeformer/kernels/activation.hpp>
#include <typeformer/kernels/simd.hpp>

namespace typeformer::kernels {

/// Updates one row's cell state `c` and hidden state `h` (`units` floats each) from its gate
/// pre-activations `gates` (4·units floats).
template <class Arch>
void lstm_cell(const float* gates, float* c, float* h, std::size_t units) noexcept {
  const auto step = [&]<class A>(std::size_t j) {
    using O = simd::ops<A>;
    const auto i = activate<A>(activation::sigmoid, O::load(gates + j));
    const auto f = activate<A>(activation::sigmoid, O::load(gates + units + j));
    const auto g = O::tanh(O::load(gates + 2 * units + j));
    const auto o = activate<A>(activation::sigmoid, O::load(gates + 3 * units + j));
    const auto cell = O::fma(f, O::load(c + j), i * g);
    O::store(c + j, cell);
    O::store(h + j, o * O::tanh(cell));
  };
  constexpr std::size_t W = simd::ops<Arch>::width;
  const std::size_t vectors = units / W;
  for (std::size_t v = 0; v < vectors; ++v) step.template operator()<Arch>(v * W);
  for (std::size_t j = vectors * W; j < units; ++j) step.template operator()<simd::scalar>(j);
}

}  // namespace typeformer::kernels
