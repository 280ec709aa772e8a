#pragma once
// The activations a declaration names, one spelling each: `tfm::activations::relu`.
//   dense<"out", 4, tfm::activations::softmax>          Keras Dense(4, activation="softmax")
//   feed_forward<"ff", 2048, tfm::activations::gelu>
//   transformer_encoder_layer<..., tfm::with_activation<tfm::activations::gelu>>
//   conv1d<"conv", 64, 3, tfm::with_activation<tfm::activations::relu>>
// Keras's activation strings map one to one: "linear", "relu", "gelu" (the exact erf form, as
// Keras's default approximate=False), "tanh", "sigmoid", "softmax"; `gelu_tanh` is PyTorch's
// approximate="tanh" and Keras's approximate=True. Their own namespace keeps them apart from
// the expression functions (`tfm::tanh(x)`, `tfm::exp`, `tfm::max`).

#include <typeformer/kernels/activation.hpp>  // activation_function, activations::

namespace typeformer {

namespace option_kinds {
struct activation {};
}  // namespace option_kinds

/// The option that gives a layer its activation: a transformer layer's feed-forward activation
/// (PyTorch `activation`, default relu), a convolution's output activation (Keras `activation`,
/// default linear).
template <activation_function A>
struct with_activation {
  using kind = option_kinds::activation;
  static constexpr activation_function value = A;
};

/// The activation's Keras name, for summaries and messages.
constexpr const char* activation_name(activation_function a) noexcept {
  switch (a.kind) {
    case kernels::activation::identity:
      return "linear";
    case kernels::activation::relu:
      return "relu";
    case kernels::activation::gelu:
      return "gelu";
    case kernels::activation::gelu_tanh:
      return "gelu_tanh";
    case kernels::activation::tanh:
      return "tanh";
    case kernels::activation::sigmoid:
      return "sigmoid";
    case kernels::activation::softmax:
      return "softmax";
  }
  return "?";
}

}  // namespace typeformer
