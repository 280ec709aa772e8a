// keras-multi-head's MultiHead wrapper inside models, against TensorFlow.js models built the
// way MultiHead builds them (tools/keras_goldens/make_layer_goldens_keras.mjs).

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include <typeformer/typeformer.hpp>

#include "golden_files.hpp"
#include "synthetic_parameters.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

const std::string data_dir = std::string(TYPEFORMER_TEST_DATA) + "/layers/";

// Embedding(30, 8) -> MultiHead(LSTM(12), layer_num=3) -> Flatten -> Dense(4, softmax).
using lstm_heads_model =
    tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<4>, max_seq<16>>,
               tfm::embedding<"embed", 30, 8>, tfm::multi_head<tfm::lstm<"lstm", 12>, 3>,
               tfm::flatten<>, tfm::dense<"dense", 4, tfm::activations::softmax>>;

// Embedding(30, 8) -> MultiHead([Conv1D(6, k, same, relu) for k in 3, 5, 7]) -> Flatten -> Dense.
using conv_options = tfm::padding<tfm::conv_padding::same>;
using cnn_heads_model = tfm::model<
    tfm::tokens<batch<tfm::dynamic>, seq<11>, max_batch<4>>, tfm::embedding<"embed", 30, 8>,
    tfm::multi_head_list<
        tfm::conv1d<"conv3", 6, 3, conv_options, tfm::with_activation<tfm::activations::relu>>,
        tfm::conv1d<"conv5", 6, 5, conv_options, tfm::with_activation<tfm::activations::relu>>,
        tfm::conv1d<"conv7", 6, 7, conv_options, tfm::with_activation<tfm::activations::relu>>>,
    tfm::flatten<>, tfm::dense<"dense", 4, tfm::activations::softmax>>;

// Two LSTM(5, return_sequences) copies concatenated on the features, then a Dense per position.
using concatenated_model =
    tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<4>, max_seq<8>>,
               tfm::embedding<"embed", 30, 8>,
               tfm::multi_head<tfm::lstm<"lstm", 5, tfm::return_sequences<true>>, 2,
                               tfm::head_merge::concatenate>,
               tfm::dense<"dense", 4, tfm::activations::softmax>>;

template <class Model, std::size_t Rank>
void check_model(const std::string& name, const std::array<std::size_t, Rank>& shape) {
  const auto file = tfm::io::safetensors_file::open(data_dir + "keras_" + name + ".safetensors");
  const auto weights =
      tfm::load_weights<Model>(file, tfm::naming::keras, {.ignore_prefixes = {"golden."}});
  const auto* info = file.find("golden.ids");
  REQUIRE(info);
  xt::xtensor<std::int32_t, 2> ids =
      xt::empty<std::int32_t>({std::size_t(info->shape[0]), std::size_t(info->shape[1])});
  const auto read = file.read_integers("golden.ids");
  std::copy(read.begin(), read.end(), ids.begin());
  for (std::size_t threads : {1u, 2u}) {
    INFO(name << ", " << threads << " thread(s)");
    tfm::runner<Model> run(weights, {.threads = threads});
    xt::xtensor<float, Rank> y = xt::zeros<float>(shape);
    run(ids, y);
    golden_data::require_close(file, y.data());
    xt::xtensor<float, Rank> scalar = xt::zeros<float>(shape);
    run.template run<tfm::simd::scalar>(ids, scalar);
    golden_data::require_close(file, scalar.data());
    const auto returned = run(ids);
    REQUIRE(returned.shape() == y.shape());
  }
}

}  // namespace

TEST_CASE("multi_head<lstm, 3> -> flatten -> dense matches keras-multi-head's MultiHead model") {
  STATIC_REQUIRE(lstm_heads_model::output_shape == std::array<tfm::extent_t, 2>{tfm::dynamic, 4});
  STATIC_REQUIRE(lstm_heads_model::parameter_count ==
                 30 * 8 + 3 * 4 * 12 * (8 + 12 + 1) + (36 * 4 + 4));
  check_model<lstm_heads_model, 2>("multi_head_lstm_model", {3, 4});
  const std::string table = tfm::summary<lstm_heads_model>();
  CHECK_THAT(table, Catch::Contains("lstm_1 (lstm)") && Catch::Contains("lstm_3 (lstm)") &&
                        Catch::Contains("multi_head (stack)") && Catch::Contains("(None, 12, 3)") &&
                        Catch::Contains("(None, 36)") && Catch::Contains("(None, 4)"));
}

TEST_CASE("multi_head_list of Conv1D heads with kernels 3, 5, 7 matches the Keras model") {
  STATIC_REQUIRE(cnn_heads_model::output_shape == std::array<tfm::extent_t, 2>{tfm::dynamic, 4});
  check_model<cnn_heads_model, 2>("multi_head_cnn_model", {2, 4});
  CHECK_THAT(tfm::summary<cnn_heads_model>(),
             Catch::Contains("(None, 11, 6, 3)") && Catch::Contains("(None, 198)"));
}

TEST_CASE("multi_head with head_merge::concatenate joins the copies on the feature axis") {
  STATIC_REQUIRE(concatenated_model::output_shape ==
                 std::array<tfm::extent_t, 3>{tfm::dynamic, tfm::dynamic, 4});
  check_model<concatenated_model, 3>("multi_head_lstm_concatenated", {2, 6, 4});
}

namespace {
template <class Embedding>
using masked_lstm_model =
    tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<4>, max_seq<8>>,
               Embedding, tfm::lstm<"lstm_seq", 7, tfm::return_sequences<true>>,
               tfm::lstm<"lstm_last", 5>, tfm::dense<"dense", 3, tfm::activations::softmax>>;
template <class Embedding>
using masked_heads_model =
    tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<4>, max_seq<8>>,
               Embedding, tfm::multi_head<tfm::lstm<"lstm", 4>, 2>, tfm::flatten<>,
               tfm::dense<"dense", 3, tfm::activations::softmax>>;
using masking_embedding = tfm::embedding<"embed", 20, 6, tfm::mask_zero>;
using plain_embedding = tfm::embedding<"embed", 20, 6>;

// The masked model matches Keras; the same weights without mask_zero do not (the mask matters).
template <template <class> class Model>
void check_masked(const std::string& name) {
  check_model<Model<masking_embedding>, 2>(name, {4, 3});
  const auto file = tfm::io::safetensors_file::open(data_dir + "keras_" + name + ".safetensors");
  const auto weights = tfm::load_weights<Model<plain_embedding>>(file, tfm::naming::keras,
                                                                 {.ignore_prefixes = {"golden."}});
  xt::xtensor<std::int32_t, 2> ids = xt::empty<std::int32_t>({4, 8});
  const auto read = file.read_integers("golden.ids");
  std::copy(read.begin(), read.end(), ids.begin());
  tfm::runner<Model<plain_embedding>> run(weights);
  const auto unmasked = run(ids);
  const auto reference = file.read_floats("golden.output");
  double largest = 0;
  for (std::size_t i = 0; i < reference.size(); ++i)
    largest = std::max(largest, double(std::fabs(unmasked.data()[i] - reference[i])));
  REQUIRE(largest > 1e-3);
}
}  // namespace

TEST_CASE("embedding<mask_zero>: the mask reaches the LSTMs as Keras propagates it") {
  check_masked<masked_lstm_model>("masked_lstm_model");
  check_masked<masked_heads_model>("masked_multi_head_model");
}

namespace {
// Embedding(20, 8, mask_zero) -> LN(e + MultiHeadAttention(e, e)) -> Dense(3), Keras's -1e9.
template <tfm::fully_masked_rows Policy>
using masked_attention_model =
    tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<4>, max_seq<8>>,
               tfm::embedding<"embed", 20, 8, tfm::mask_zero>,
               tfm::residual<tfm::multi_head_attention<"mha", heads<2>, key_dim_per_head<4>,
                                                       tfm::on_fully_masked_rows<Policy>>,
                             tfm::post_norm<tfm::layer_norm<"norm", tfm::epsilon<1, -6>>>>,
               tfm::dense<"dense", 3>>;
}  // namespace

TEST_CASE("embedding<mask_zero>: MultiHeadAttention masks padded queries and keys as Keras does") {
  check_model<masked_attention_model<tfm::fully_masked_rows::minus_1e9_added>, 3>(
      "masked_attention_model", {4, 8, 3});

  // Under the default policy a padded query row gives a zero context instead of Keras's
  // average: the real positions still match, the padded ones do not.
  using zeros_model = masked_attention_model<tfm::fully_masked_rows::zeros>;
  const auto file =
      tfm::io::safetensors_file::open(data_dir + "keras_masked_attention_model.safetensors");
  const auto weights =
      tfm::load_weights<zeros_model>(file, tfm::naming::keras, {.ignore_prefixes = {"golden."}});
  xt::xtensor<std::int32_t, 2> ids = xt::empty<std::int32_t>({4, 8});
  const auto read = file.read_integers("golden.ids");
  std::copy(read.begin(), read.end(), ids.begin());
  const auto y = tfm::runner<zeros_model>(weights)(ids);
  const auto reference = file.read_floats("golden.output");
  const auto config = nlohmann::json::parse(file.metadata().at("config"));
  const double atol = config.at("atol"), rtol = config.at("rtol");
  double padded_difference = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double difference = std::fabs(y.data()[i] - reference[i]);
    if (ids.data()[i / 3] != 0)
      REQUIRE(difference <= atol + rtol * std::fabs(reference[i]));
    else
      padded_difference = std::max(padded_difference, difference);
  }
  REQUIRE(padded_difference > 1e-3);
}

namespace {
// The same model whose attention also takes a causal sliding window from the call, as Keras's
// attention_mask, which Keras ANDs with the embedding's propagated mask.
constexpr tfm::expr::operand<"window", std::int32_t> window;
constexpr auto sliding_window =
    tfm::expr::kv_idx <= tfm::expr::q_idx && tfm::expr::q_idx - tfm::expr::kv_idx < window;
template <tfm::fully_masked_rows Policy>
using masked_window_model =
    tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<4>, max_seq<8>>,
               tfm::embedding<"embed", 20, 8, tfm::mask_zero>,
               tfm::residual<tfm::multi_head_attention<"mha", heads<2>, key_dim_per_head<4>,
                                                       tfm::on_fully_masked_rows<Policy>,
                                                       tfm::with_mask_function<sliding_window>>,
                             tfm::post_norm<tfm::layer_norm<"norm", tfm::epsilon<1, -6>>>>,
               tfm::dense<"dense", 3>>;
}  // namespace

TEST_CASE("embedding<mask_zero> with call operands: the padding and a mask function both hold") {
  const auto file =
      tfm::io::safetensors_file::open(data_dir + "keras_masked_window_attention_model.safetensors");
  const auto config = nlohmann::json::parse(file.metadata().at("config"));
  const auto operands =
      tfm::expr::call_operands(tfm::expr::bind<"window">(config.at("window").get<std::int32_t>()));
  xt::xtensor<std::int32_t, 2> ids = xt::empty<std::int32_t>({4, 8});
  const auto read = file.read_integers("golden.ids");
  std::copy(read.begin(), read.end(), ids.begin());
  const auto reference = file.read_floats("golden.output");
  const double atol = config.at("atol"), rtol = config.at("rtol");

  using keras_model = masked_window_model<tfm::fully_masked_rows::minus_1e9_added>;
  const auto weights =
      tfm::load_weights<keras_model>(file, tfm::naming::keras, {.ignore_prefixes = {"golden."}});
  for (std::size_t threads : {1u, 2u}) {
    INFO(threads << " thread(s)");
    tfm::runner<keras_model> run(weights, {.threads = threads});
    xt::xtensor<float, 3> y = xt::zeros<float>({4, 8, 3});
    run(ids, y, operands);
    golden_data::require_close(file, y.data());
    run.run<tfm::simd::scalar>(ids, y, operands);
    golden_data::require_close(file, y.data());
  }

  // Under the default policy the real positions match and the padded ones do not; without the
  // window, the real positions do not match either (the window matters).
  using zeros_model = masked_window_model<tfm::fully_masked_rows::zeros>;
  const auto zeros_weights =
      tfm::load_weights<zeros_model>(file, tfm::naming::keras, {.ignore_prefixes = {"golden."}});
  tfm::runner<zeros_model> run(zeros_weights);
  xt::xtensor<float, 3> y = xt::zeros<float>({4, 8, 3});
  run(ids, y, operands);
  xt::xtensor<float, 3> unwindowed = xt::zeros<float>({4, 8, 3});
  run(ids, unwindowed, tfm::expr::call_operands(tfm::expr::bind<"window">(8)));
  double padded_difference = 0, unwindowed_difference = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double difference = std::fabs(y.data()[i] - reference[i]);
    if (ids.data()[i / 3] != 0) {
      REQUIRE(difference <= atol + rtol * std::fabs(reference[i]));
      unwindowed_difference =
          std::max(unwindowed_difference, double(std::fabs(unwindowed.data()[i] - reference[i])));
    } else {
      padded_difference = std::max(padded_difference, difference);
    }
  }
  REQUIRE(padded_difference > 1e-3);
  REQUIRE(unwindowed_difference > 1e-3);
}

TEST_CASE("wrapper_attention_block passes on_fully_masked_rows to its MultiHeadAttention") {
  // The block is the residual form above written out: with the same weights it gives the same
  // numbers, padded rows included, only under the same policy.
  using tokens = tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<4>, max_seq<8>>;
  using minus_1e9 = tfm::on_fully_masked_rows<tfm::fully_masked_rows::minus_1e9_added>;
  using block_model =
      tfm::model<tokens, tfm::embedding<"embed", 20, 8, tfm::mask_zero>,
                 tfm::wrapper_attention_block<"block", heads<2>, key_dim_per_head<4>, minus_1e9>,
                 tfm::dense<"dense", 3>>;
  using residual_model = masked_attention_model<tfm::fully_masked_rows::minus_1e9_added>;
  using zeros_model = masked_attention_model<tfm::fully_masked_rows::zeros>;
  const auto value = [](std::size_t i, std::size_t t) {
    return 0.1f * float(int((i * 5 + t * 11) % 19) - 9);
  };
  xt::xtensor<std::int32_t, 2> ids = {{4, 2, 9, 0, 0, 0, 0, 0}, {0, 3, 5, 7, 1, 8, 0, 2}};
  const auto block_weights = synthetic_parameters<block_model>(value);
  const auto residual_weights = synthetic_parameters<residual_model>(value);
  const auto zeros_weights = synthetic_parameters<zeros_model>(value);
  const auto from_block = tfm::runner<block_model>(block_weights)(ids);
  const auto from_residual = tfm::runner<residual_model>(residual_weights)(ids);
  const auto from_zeros = tfm::runner<zeros_model>(zeros_weights)(ids);
  REQUIRE(std::equal(from_block.begin(), from_block.end(), from_residual.begin()));
  REQUIRE_FALSE(std::equal(from_block.begin(), from_block.end(), from_zeros.begin()));
}

TEST_CASE(
    "embedding<mask_zero>: self-attention after it masks padded queries and keys, with the call's "
    "mask") {
  // Against the same weights without mask_zero, given the padding as masks::attending_queries
  // and masks::keep_keys: the propagated mask must be exactly that mask (combined with a causal
  // one where given).
  using tokens = tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<2>, max_seq<6>>;
  using masked = tfm::model<tokens, tfm::embedding<"embed", 10, 8, tfm::mask_zero>,
                            tfm::multi_head_attention<"mha", heads<2>>, tfm::layer_norm<"norm">>;
  using plain = tfm::model<tokens, tfm::embedding<"embed", 10, 8>,
                           tfm::multi_head_attention<"mha", heads<2>>, tfm::layer_norm<"norm">>;
  const auto value = [](std::size_t i, std::size_t t) {
    return 0.1f * float(int((i * 7 + t * 13) % 17) - 8);
  };
  const auto masked_weights = synthetic_parameters<masked>(value);
  const auto plain_weights = synthetic_parameters<plain>(value);
  xt::xtensor<std::int32_t, 2> ids = {{4, 2, 9, 0, 0, 0}, {0, 3, 5, 7, 1, 8}};
  xt::xtensor<std::uint8_t, 2> keep = {{1, 1, 1, 0, 0, 0}, {0, 1, 1, 1, 1, 1}};
  tfm::runner<masked> run_masked(masked_weights, {.threads = 2});
  tfm::runner<plain> run_plain(plain_weights, {.threads = 2});
  const tfm::masks::all padding(tfm::masks::attending_queries<>{tfm::as_view<2>(keep)},
                                tfm::masks::keep_keys<>{tfm::as_view<2>(keep)});
  const auto ours = run_masked(ids);
  const auto expected = run_plain(ids, padding);
  REQUIRE(std::equal(ours.begin(), ours.end(), expected.begin()));
  const auto ours_causal = run_masked(ids, tfm::masks::causal{});
  const auto expected_causal = run_plain(ids, tfm::masks::all(tfm::masks::causal{}, padding));
  REQUIRE(std::equal(ours_causal.begin(), ours_causal.end(), expected_causal.begin()));
  const auto unmasked = run_plain(ids);  // the mask matters here
  REQUIRE_FALSE(std::equal(ours.begin(), ours.end(), unmasked.begin()));
  const auto keys_only = run_plain(ids, tfm::masks::keep_keys<>{tfm::as_view<2>(keep)});
  REQUIRE_FALSE(std::equal(ours.begin(), ours.end(), keys_only.begin()));
}
