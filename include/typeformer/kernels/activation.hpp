#pragma once
// Element-wise activations, applied in GEMM epilogues so the output is written once.

#include <typeformer/kernels/simd.hpp>

namespace typeformer {

enum class activation {
  identity,
  relu,
  gelu,       ///< exact: x·Φ(x) = x/2·(1 + erf(x/√2)), PyTorch's and Keras's default
  gelu_tanh,  ///< x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))), PyTorch approximate="tanh"
  tanh,
  sigmoid,
  softmax  ///< over the feature axis of each row: not element-wise, so never in an epilogue
};

/// Whether `a` maps each value on its own (everything but softmax), so that a GEMM epilogue
/// can apply it.
constexpr bool is_element_wise(activation a) noexcept { return a != activation::softmax; }

namespace kernels {

template <class Arch>
typename simd::ops<Arch>::batch activate(activation a,
                                         const typename simd::ops<Arch>::batch& x) noexcept {
  using O = simd::ops<Arch>;
  switch (a) {
    case activation::identity:
      return x;
    case activation::relu:
      return O::max(x, O::splat(0.0f));
    case activation::gelu:
      return O::splat(0.5f) * x * (O::splat(1.0f) + O::erf(x * O::splat(0.70710678118654752f)));
    case activation::gelu_tanh: {
      const auto inner = O::splat(0.79788456080286536f) * (x + O::splat(0.044715f) * x * x * x);
      return O::splat(0.5f) * x * (O::splat(1.0f) + O::tanh(inner));
    }
    case activation::tanh:
      return O::tanh(x);
    case activation::sigmoid:
      return O::splat(1.0f) / (O::splat(1.0f) + O::exp(O::splat(0.0f) - x));
    case activation::softmax:  // a row operation: kernels::softmax_rows, after the GEMM
      return x;
  }
  return x;
}

}  // namespace kernels
}  // namespace typeformer
