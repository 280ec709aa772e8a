#pragma once
// The activations a layer declaration names: `dense<"out", 4, tfm::activations::softmax>`,
// `feed_forward<"ff", 2048, tfm::gelu>`. Keras's activation strings map one to one: "linear",
// "relu", "gelu" (exact erf form, as Keras's default approximate=False), "tanh", "sigmoid",
// "softmax"; `gelu_tanh` is PyTorch's approximate="tanh" and Keras's approximate=True.
//
// All of them live in `typeformer::activations`; all but `tanh` and `softmax` are also in
// `typeformer` itself. `typeformer::softmax` is the expression function (expr/nodes.hpp), and a
// variable `typeformer::tanh` would make `tanh(x)` ambiguous in code that says
// `using namespace typeformer;`: spell those two `activations::tanh`, `activations::softmax`.

#include <typeformer/kernels/activation.hpp>

namespace typeformer {

namespace activations {
inline constexpr activation linear = activation::identity;
inline constexpr activation relu = activation::relu;
inline constexpr activation gelu = activation::gelu;
inline constexpr activation gelu_tanh = activation::gelu_tanh;
inline constexpr activation tanh = activation::tanh;
inline constexpr activation sigmoid = activation::sigmoid;
inline constexpr activation softmax = activation::softmax;
}  // namespace activations

inline constexpr activation linear = activations::linear;
inline constexpr activation relu = activations::relu;
inline constexpr activation gelu = activations::gelu;
inline constexpr activation gelu_tanh = activations::gelu_tanh;
inline constexpr activation sigmoid = activations::sigmoid;

/// The activation's Keras name, for summaries and messages.
constexpr const char* activation_name(activation a) noexcept {
  switch (a) {
    case activation::identity:
      return "linear";
    case activation::relu:
      return "relu";
    case activation::gelu:
      return "gelu";
    case activation::gelu_tanh:
      return "gelu_tanh";
    case activation::tanh:
      return "tanh";
    case activation::sigmoid:
      return "sigmoid";
    case activation::softmax:
      return "softmax";
  }
  return "?";
}

}  // namespace typeformer
