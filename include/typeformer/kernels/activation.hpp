#pragma once
// Element-wise activations, applied in GEMM epilogues so the output is written once; and their
// public names, typeformer::activations (the one spelling declarations use,
// layers/activations.hpp).

#include <cstddef>

#include <typeformer/kernels/simd.hpp>

namespace typeformer::kernels {

/// The kernels' activation code. Declarations name activations by the values in
/// typeformer::activations (layers/activations.hpp).
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

/// Copies (batch, head) pairs [pair_begin, pair_end) of x, `len` rows of `width` features each
/// (element (b, h, j, c) at x[b·batch_stride + h·head_stride + j·row_stride + c]), into
/// contiguous rows of `out` with `a` applied: queries, keys or values transformed for the
/// attention kernel. `a` is element-wise.
template <class Arch>
void activate_heads(const float* x, std::size_t batch_stride, std::size_t head_stride,
                    std::size_t row_stride, std::size_t heads, std::size_t len, std::size_t width,
                    activation a, float* out, std::size_t pair_begin,
                    std::size_t pair_end) noexcept {
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  for (std::size_t pair = pair_begin; pair < pair_end; ++pair) {
    const std::size_t b = pair / heads, h = pair % heads;
    for (std::size_t j = 0; j < len; ++j) {
      const float* in = x + b * batch_stride + h * head_stride + j * row_stride;
      float* o = out + (pair * len + j) * width;
      std::size_t c = 0;
      for (; c + W <= width; c += W) O::store(o + c, activate<Arch>(a, O::load(in + c)));
      for (; c < width; ++c) o[c] = activate<simd::scalar>(a, in[c]);
    }
  }
}

/// Applies `a` in place to the first `width` floats of `rows` rows `stride` floats apart.
template <class Arch>
void activate_rows_in_place(float* x, std::size_t rows, std::size_t stride, std::size_t width,
                            activation a) noexcept {
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  for (std::size_t j = 0; j < rows; ++j) {
    float* row = x + j * stride;
    std::size_t c = 0;
    for (; c + W <= width; c += W) O::store(row + c, activate<Arch>(a, O::load(row + c)));
    for (; c < width; ++c) row[c] = activate<simd::scalar>(a, row[c]);
  }
}

}  // namespace typeformer::kernels

namespace typeformer {

/// An activation, as one of the values in `typeformer::activations`. A class rather than an
/// enum, so that those values are its one spelling; structural, so it is a template argument.
struct activation_function {
  kernels::activation kind;
  friend constexpr bool operator==(activation_function, activation_function) = default;
};

namespace activations {
inline constexpr activation_function linear{kernels::activation::identity};
inline constexpr activation_function relu{kernels::activation::relu};
inline constexpr activation_function gelu{kernels::activation::gelu};
inline constexpr activation_function gelu_tanh{kernels::activation::gelu_tanh};
inline constexpr activation_function tanh{kernels::activation::tanh};
inline constexpr activation_function sigmoid{kernels::activation::sigmoid};
inline constexpr activation_function softmax{kernels::activation::softmax};
}  // namespace activations

/// Whether `a` maps each value on its own (everything but softmax).
constexpr bool is_element_wise(activation_function a) noexcept {
  return kernels::is_element_wise(a.kind);
}

}  // namespace typeformer
