// Recurrent and convolutional layers against PyTorch (tools/make_layer_goldens_pytorch.py) and
// TensorFlow.js Keras layers (tools/keras_goldens/make_layer_goldens_keras.mjs).

#include <catch2/catch.hpp>

#include <algorithm>

#include <string>
#include <type_traits>

#include <typeformer/typeformer.hpp>

#include "golden_files.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

const std::string data_dir = std::string(TYPEFORMER_TEST_DATA) + "/layers/";

template <class Arch>
const char* arch_label() {
  return std::is_same_v<Arch, tfm::simd::scalar> ? "scalar" : "best";
}

template <class Layer, class Naming>
typename Layer::parameters load(const tfm::io::safetensors_file& file, Naming naming,
                                const std::string& prefix) {
  return tfm::load_weights<Layer>(file, naming, {.prefix = prefix, .ignore_prefixes = {"golden."}});
}

template <class Arch>
void check_pytorch_lstm_stacked(std::size_t threads) {
  INFO(arch_label<Arch>() << ", " << threads << " thread(s)");
  using layer = tfm::lstm<"lstm", 9, d_model<13>, tfm::num_layers<2>, tfm::return_sequences<true>>;
  const auto file = tfm::io::safetensors_file::open(data_dir + "pytorch_lstm_stacked.safetensors");
  const auto params = load<layer>(file, tfm::naming::pytorch, "lstm.");
  const auto x = golden_data::floats3(file, "golden.input");
  const auto h0 = golden_data::floats3(file, "golden.h0"),
             c0 = golden_data::floats3(file, "golden.c0");
  xt::xtensor<float, 3> y = xt::zeros<float>({3, 7, 9}), hn = xt::zeros<float>({2, 3, 9}),
                        cn = xt::zeros<float>({2, 3, 9});
  tfm::workspace ws(threads);
  layer::forward<Arch>(params, x, y, ws, h0, c0, hn, cn);
  golden_data::require_close(file, y.data());
  golden_data::require_close(file, hn.data(), "golden.hn");
  golden_data::require_close(file, cn.data(), "golden.cn");
}

template <class Arch>
void check_pytorch_lstm_last(std::size_t threads) {
  INFO(arch_label<Arch>() << ", " << threads << " thread(s)");
  using layer = tfm::lstm<"lstm", 16, d_model<6>>;
  const auto file = tfm::io::safetensors_file::open(data_dir + "pytorch_lstm_last.safetensors");
  const auto params = load<layer>(file, tfm::naming::pytorch, "lstm.");
  const auto x = golden_data::floats3(file, "golden.input");
  xt::xtensor<float, 2> y = xt::zeros<float>({4, 16});
  tfm::workspace ws(threads);
  layer::forward<Arch>(params, x, y, ws);
  golden_data::require_close(file, y.data());
  // The final states from a zero start without zero tensors: h_n is the last output PyTorch
  // gave, and both states equal those of explicit zero initial states.
  xt::xtensor<float, 2> hn = xt::zeros<float>({4, 16}), cn = hn, y2 = hn;
  layer::forward<Arch>(params, x, y2, ws, tfm::zero_state, tfm::zero_state, hn, cn);
  golden_data::require_close(file, hn.data());
  xt::xtensor<float, 2> zeros = xt::zeros<float>({4, 16}), hn0 = zeros, cn0 = zeros;
  layer::forward<Arch>(params, x, y2, ws, zeros, zeros, hn0, cn0);
  REQUIRE(std::equal(hn.begin(), hn.end(), hn0.begin()));
  REQUIRE(std::equal(cn.begin(), cn.end(), cn0.begin()));
}

// Conv1D goldens: (batch, length, channels) in and out, weights under `conv`.
template <class Layer, class Arch, class Naming>
void check_conv1d(const std::string& file_name, Naming naming, std::size_t threads) {
  INFO(file_name << " on " << arch_label<Arch>() << ", " << threads << " thread(s)");
  const auto file = tfm::io::safetensors_file::open(data_dir + file_name + ".safetensors");
  const auto params =
      load<Layer>(file, naming, std::is_same_v<Naming, tfm::naming::pytorch_t> ? "conv." : "conv/");
  const auto x = golden_data::floats3(file, "golden.input");
  const auto expected = golden_data::floats3(file, "golden.output");
  REQUIRE(Layer::output_length(static_cast<tfm::extent_t>(x.shape()[1])) ==
          static_cast<tfm::extent_t>(expected.shape()[1]));
  xt::xtensor<float, 3> y = xt::zeros<float>(expected.shape());
  tfm::workspace ws(threads);
  Layer::template forward<Arch>(params, x, y, ws);
  golden_data::require_close(file, y.data());
}

template <class Layer, class Naming>
void check_conv1d_everywhere(const std::string& file_name, Naming naming) {
  check_conv1d<Layer, tfm::simd::best_available>(file_name, naming, 2);
  check_conv1d<Layer, tfm::simd::best_available>(file_name, naming, 1);
  check_conv1d<Layer, tfm::simd::scalar>(file_name, naming, 1);
}

template <class Arch>
void check_keras_lstm(std::size_t threads) {
  INFO(arch_label<Arch>() << ", " << threads << " thread(s)");
  {
    using layer = tfm::lstm<"lstm", 9, d_model<5>, tfm::return_sequences<true>>;
    const auto file =
        tfm::io::safetensors_file::open(data_dir + "keras_lstm_sequences.safetensors");
    const auto params = load<layer>(file, tfm::naming::keras, "lstm/");
    const auto x = golden_data::floats3(file, "golden.input");
    // Keras's initial_state=[h, c]: (batch, units) each.
    const auto h0 = golden_data::floats2(file, "golden.h0"),
               c0 = golden_data::floats2(file, "golden.c0");
    xt::xtensor<float, 3> y = xt::zeros<float>({3, 7, 9});
    tfm::workspace ws(threads);
    layer::forward<Arch>(params, x, y, ws, h0, c0);
    golden_data::require_close(file, y.data());
  }
  {
    using layer = tfm::lstm<"lstm", 16, d_model<6>>;
    const auto file = tfm::io::safetensors_file::open(data_dir + "keras_lstm_last.safetensors");
    const auto params = load<layer>(file, tfm::naming::keras, "lstm/");
    const auto x = golden_data::floats3(file, "golden.input");
    xt::xtensor<float, 2> y = xt::zeros<float>({4, 16});
    tfm::workspace ws(threads);
    layer::forward<Arch>(params, x, y, ws);
    golden_data::require_close(file, y.data());
  }
}

}  // namespace

TEST_CASE("lstm matches nn.LSTM: stacked layers, initial and final states, every output") {
  check_pytorch_lstm_stacked<tfm::simd::best_available>(2);
  check_pytorch_lstm_stacked<tfm::simd::best_available>(1);
  check_pytorch_lstm_stacked<tfm::simd::scalar>(1);
}

TEST_CASE("lstm matches nn.LSTM's last output from a zero state (Keras's default form)") {
  check_pytorch_lstm_last<tfm::simd::best_available>(2);
  check_pytorch_lstm_last<tfm::simd::best_available>(1);
  check_pytorch_lstm_last<tfm::simd::scalar>(1);
}

TEST_CASE(
    "lstm matches Keras LSTM (TensorFlow.js): initial state, last output from PyTorch's weights") {
  check_keras_lstm<tfm::simd::best_available>(2);
  check_keras_lstm<tfm::simd::best_available>(1);
  check_keras_lstm<tfm::simd::scalar>(1);
}

TEST_CASE("lstm: wrong widths and state shapes throw shape_error naming the layer") {
  using layer = tfm::lstm<"encoder", 4, d_model<3>, tfm::return_sequences<true>>;
  const layer::parameters p{};
  tfm::workspace ws(1);
  xt::xtensor<float, 3> x = xt::zeros<float>({2, 5, 3}), y = xt::zeros<float>({2, 5, 4});
  xt::xtensor<float, 3> wide = xt::zeros<float>({2, 5, 5});
  REQUIRE_THROWS_WITH(layer::forward(p, wide, y, ws),
                      "lstm \"encoder\": input feature dim (5) does not match d_model (3)");
  xt::xtensor<float, 3> short_y = xt::zeros<float>({2, 4, 4});
  REQUIRE_THROWS_AS(layer::forward(p, x, short_y, ws), tfm::shape_error);
  xt::xtensor<float, 2> h0 = xt::zeros<float>({3, 4}), c0 = xt::zeros<float>({2, 4});
  REQUIRE_THROWS_WITH(
      layer::forward(p, x, y, ws, h0, c0),
      "lstm \"encoder\": a recurrent state extent (3) does not match the expected extent (2)");
}

TEST_CASE("conv1d matches nn.Conv1d: valid, same with dilation, stride with dilation") {
  using tfm::conv_padding;
  check_conv1d_everywhere<tfm::conv1d<"conv", 7, 3, d_model<5>>>("pytorch_conv1d_valid",
                                                                 tfm::naming::pytorch);
  check_conv1d_everywhere<tfm::conv1d<"conv", 7, 4, d_model<5>, tfm::padding<conv_padding::same>,
                                      tfm::dilation_rate<2>>>("pytorch_conv1d_same_dilated",
                                                              tfm::naming::pytorch);
  check_conv1d_everywhere<
      tfm::conv1d<"conv", 7, 3, d_model<5>, tfm::strides<2>, tfm::dilation_rate<2>>>(
      "pytorch_conv1d_strided_dilated", tfm::naming::pytorch);
}

TEST_CASE("conv1d matches Keras Conv1D (TensorFlow.js): same with stride 2, causal, valid") {
  using tfm::conv_padding;
  check_conv1d_everywhere<
      tfm::conv1d<"conv", 6, 3, d_model<4>, tfm::strides<2>, tfm::padding<conv_padding::same>,
                  tfm::with_activation<tfm::activations::relu>>>("keras_conv1d_same_strided",
                                                                 tfm::naming::keras);
  check_conv1d_everywhere<tfm::conv1d<"conv", 6, 3, d_model<4>, tfm::dilation_rate<2>,
                                      tfm::padding<conv_padding::causal>>>(
      "keras_conv1d_causal_dilated", tfm::naming::keras);
  check_conv1d_everywhere<
      tfm::conv1d<"conv", 6, 5, d_model<4>, tfm::strides<3>,
                  tfm::with_activation<tfm::activations::tanh>, tfm::use_bias<false>>>(
      "keras_conv1d_valid_no_bias", tfm::naming::keras);
}

TEST_CASE("conv1d: output lengths and Keras's same padding with a stride") {
  using same =
      tfm::conv1d<"c", 4, 3, d_model<2>, tfm::padding<tfm::conv_padding::same>, tfm::strides<2>>;
  // ⌈10/2⌉ = 5 outputs need (5−1)·2 + 3 − 10 = 1 zero, on the right: not d(K−1) = 2.
  STATIC_REQUIRE(same::output_length(10) == 5);
  STATIC_REQUIRE(same::total_same_padding(10) == 1);
  STATIC_REQUIRE(same::left_padding(10) == 0);
  STATIC_REQUIRE(same::total_same_padding(9) == 2);
  using causal = tfm::conv1d<"c", 4, 3, d_model<2>, tfm::padding<tfm::conv_padding::causal>,
                             tfm::dilation_rate<3>>;
  STATIC_REQUIRE(causal::left_padding(7) == 6);
  STATIC_REQUIRE(causal::output_length(7) == 7);
  using valid = tfm::conv1d<"c", 4, 5, d_model<2>>;
  STATIC_REQUIRE(valid::output_length(5) == 1);
  STATIC_REQUIRE(valid::output_length(4) == 0);
  STATIC_REQUIRE(valid::output_length(tfm::dynamic) == tfm::dynamic);
}

TEST_CASE("conv1d: wrong widths and output lengths throw shape_error naming the layer") {
  using layer = tfm::conv1d<"features", 4, 3, d_model<2>>;
  const layer::parameters p{};
  tfm::workspace ws(1);
  xt::xtensor<float, 3> x = xt::zeros<float>({2, 6, 2}), y = xt::zeros<float>({2, 6, 4});
  REQUIRE_THROWS_WITH(
      layer::forward(p, x, y, ws),
      "conv1d \"features\": output extent (6) does not match the layer's output (4)");
  xt::xtensor<float, 3> wide = xt::zeros<float>({2, 6, 3});
  REQUIRE_THROWS_WITH(layer::forward(p, wide, y, ws),
                      "conv1d \"features\": input feature dim (3) does not match d_model (2)");
}
