#pragma once
// keras_equivalent<Layer>(): the Keras layer a typeformer layer stands for -- its class name and
// the config values that change what it computes -- so a Keras topology (a tfjs model.json)
// can be checked against a C++ declaration (model/keras_topology.hpp).
//
// Each option is the config key, the value the declaration implies and the value Keras assumes
// when the key is absent. Keys that only matter for training (initialisers, regularisers,
// constraints, dropout rates) or bookkeeping (name, dtype, trainable, input shapes) are listed
// as harmless; any other key in the file is an option typeformer does not implement, and the
// check refuses it unless it holds Keras's default.

#include <array>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <typeformer/kernels/activation.hpp>
#include <typeformer/layers/activations.hpp>
#include <typeformer/layers/conv1d.hpp>
#include <typeformer/layers/multi_head_attention.hpp>

namespace typeformer::keras {

/// A config value as JSON text. Text, not a JSON document, so that declaring a layer's Keras
/// equivalent compiles no JSON code; the topology check (io/keras_topology.hpp) parses it.
class value {
 public:
  // Implicit, so that options are written as braced lists of plain values.
  value(std::nullptr_t) : text_("null") {}
  value(bool b) : text_(b ? "true" : "false") {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) value(T n) : text_(std::to_string(n)) {}
  value(double d) {
    // The shortest text that reads back as d (JSON has no inf or NaN; no option holds one),
    // with ".0" where it would read as an integer: 0.0 stays a float, as Keras writes it.
    char buffer[32];
    const auto written = std::to_chars(buffer, buffer + sizeof buffer, d);
    text_.assign(buffer, written.ptr);
    if (text_.find_first_of(".e") == std::string::npos) text_ += ".0";
  }
  value(const char* s) : text_(quoted(s)) {}

  /// A JSON array of integers: Keras writes tuples such as kernel_size as [3].
  static value array(std::initializer_list<long long> elements) {
    value v(nullptr);
    v.text_ = "[";
    for (const long long e : elements) {
      if (v.text_.size() > 1) v.text_ += ',';
      v.text_ += std::to_string(e);
    }
    v.text_ += ']';
    return v;
  }

  const std::string& json_text() const noexcept { return text_; }

 private:
  std::string text_;

  // Keras's names and typeformer's notes: printable ASCII, so only " and \ need escaping.
  static std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  }
};

struct option {
  std::string key;
  value expected;       // what the declaration computes
  value keras_default;  // what Keras assumes when the file leaves the key out
};

struct layer_config {
  std::string class_name;
  std::vector<option> options;
  /// Keys whose value does not change inference.
  std::vector<std::string> harmless;
  /// Why the layer has no Keras equivalent, when it has none (class_name is then empty).
  std::string no_equivalent;
};

// Templates, as keras_equivalent is, so that only a unit that checks a Keras topology compiles
// them (io/tfjs_layers_model.hpp says why).
namespace detail {
template <class = void>
std::vector<std::string> bookkeeping() {
  return {"name",      "trainable",    "dtype",       "batch_input_shape",   "batch_size",
          "input_dim", "input_length", "input_shape", "activity_regularizer"};
}
template <class = void>
void add_weight_setup(std::vector<std::string>& keys,
                      std::initializer_list<std::string_view> weights) {
  for (const std::string_view w : weights)
    for (const char* suffix : {"_initializer", "_regularizer", "_constraint"})
      keys.push_back(std::string(w) + suffix);
}
// Keras's spelling; its gelu(approximate=True) has no string of its own.
template <class = void>
value activation_value(activation_function a) {
  return a == activations::gelu_tanh ? value("(no Keras name: gelu with tanh approximation)")
                                     : value(activation_name(a));
}
}  // namespace detail

/// The Keras layer `Layer` stands for; `no_equivalent` says why when there is none.
template <class Layer>
layer_config keras_equivalent() {
  layer_config c;
  c.harmless = detail::bookkeeping();
  if constexpr (Layer::kind == "dense") {
    c.class_name = "Dense";
    c.options = {{"units", Layer::units, nullptr},
                 {"activation", detail::activation_value(Layer::act), "linear"},
                 {"use_bias", Layer::has_bias, true}};
    detail::add_weight_setup(c.harmless, {"kernel", "bias"});
  } else if constexpr (Layer::kind == "embedding") {
    c.class_name = "Embedding";
    c.options = {{"input_dim", Layer::vocabulary, nullptr},
                 {"output_dim", Layer::dim, nullptr},
                 {"mask_zero", Layer::masks_zero, false}};
    if constexpr (Layer::scaled)  // Keras's Embedding has no such option
      c.options.push_back({"(typeformer scale_by_sqrt_dim)", true, false});
    detail::add_weight_setup(c.harmless, {"embeddings"});
  } else if constexpr (Layer::kind == "lstm") {
    if constexpr (Layer::layers != 1) {
      c.no_equivalent = "a stacked lstm (num_layers > 1) is several Keras LSTM layers";
      return c;
    }
    c.class_name = "LSTM";
    c.options = {{"units", Layer::units, nullptr},
                 {"activation", "tanh", "tanh"},
                 {"recurrent_activation", "sigmoid", "sigmoid"},
                 {"use_bias", true, true},
                 {"return_sequences", Layer::returns_sequences, false},
                 {"return_state", false, false},
                 {"go_backwards", false, false},
                 {"stateful", false, false},
                 {"time_major", false, false}};
    detail::add_weight_setup(c.harmless, {"kernel", "recurrent", "bias"});
    for (const char* k :
         {"dropout", "recurrent_dropout", "unroll", "implementation", "unit_forget_bias", "cell"})
      c.harmless.push_back(k);
  } else if constexpr (Layer::kind == "conv1d") {
    c.class_name = "Conv1D";
    const char* padding = Layer::pad == conv_padding::valid  ? "valid"
                          : Layer::pad == conv_padding::same ? "same"
                                                             : "causal";
    c.options = {{"filters", Layer::filters, nullptr},
                 {"kernel_size", value::array({Layer::kernel_size}), nullptr},
                 {"strides", value::array({Layer::stride}), value::array({1})},
                 {"padding", padding, "valid"},
                 {"dilation_rate", value::array({Layer::dilation}), value::array({1})},
                 {"activation", detail::activation_value(Layer::act), "linear"},
                 {"use_bias", Layer::has_bias, true},
                 {"data_format", "channels_last", "channels_last"},
                 {"groups", 1, 1}};
    detail::add_weight_setup(c.harmless, {"kernel", "bias"});
    c.harmless.push_back("rank");
  } else if constexpr (Layer::kind == "layer_norm") {
    c.class_name = "LayerNormalization";
    const double epsilon =
        Layer::declared_epsilon >= 0 ? Layer::declared_epsilon : 1e-3;  // Keras's default
    c.options = {{"epsilon", epsilon, 1e-3},
                 {"axis", value::array({-1}), value::array({-1})},
                 {"center", true, true},
                 {"scale", true, true}};
    detail::add_weight_setup(c.harmless, {"beta", "gamma"});
  } else if constexpr (Layer::kind == "multi_head_attention") {
    if constexpr (Layer::separate_projections) {
      c.no_equivalent =
          "its weights are laid out as separate layers (keras-multi-head or named "
          "Dense layers), not as one Keras MultiHeadAttention";
      return c;
    } else if constexpr (Layer::score_scaling_policy != score_scaling::per_head_key_dim ||
                         Layer::projection_act != activations::linear) {
      c.no_equivalent = "its score scale or projection activation is not Keras's";
      return c;
    } else {
      c.class_name = "MultiHeadAttention";
      c.options = {
          {"num_heads", Layer::heads, nullptr},
          {"key_dim", Layer::key_dim_per_head, nullptr},
          {"value_dim", Layer::value_dim_per_head, Layer::key_dim_per_head},
          {"use_bias", Layer::has_bias, true},
          {"output_shape",
           Layer::output_features == Layer::d_model ? value(nullptr)
                                                    : value::array({Layer::output_features}),
           nullptr},
          // Keras stores the axes it built with: [1] for a (batch, seq, features) input.
          {"attention_axes", value::array({1}), value::array({1})}};
      detail::add_weight_setup(c.harmless, {"kernel", "bias"});
      for (const char* k : {"dropout", "query_shape", "key_shape", "value_shape"})
        c.harmless.push_back(k);
    }
  } else if constexpr (Layer::kind == "flatten") {
    c.class_name = "Flatten";
    c.options = {{"data_format", "channels_last", "channels_last"}};
  } else {
    c.no_equivalent = "typeformer knows no Keras layer for it";
  }
  return c;
}

}  // namespace typeformer::keras
