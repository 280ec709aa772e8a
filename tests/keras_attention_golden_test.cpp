// The Keras attention family against float64 references computed by the formulas of the Keras
// and keras-multi-head sources (tools/make_keras_attention_goldens.py).

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <typeformer/typeformer.hpp>

#include "golden_files.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {
const std::string data_dir = std::string(TYPEFORMER_TEST_DATA) + "/layers/";
// The goldens hold each lone layer's weights without the layer's name (`query/kernel`, not
// `mha/query/kernel` as a Keras file would): an empty prefix says so.
const tfm::load_options bare_names{.prefix = "", .ignore_prefixes = {"golden."}};
}  // namespace

namespace {
// keras.layers.Attention cases (tools/make_keras_attention_goldens.py).
template <class Layer, class Arch>
void check_keras_attention(const std::string& name, std::size_t threads) {
  INFO(name << ", threads " << threads);
  const auto file = tfm::io::safetensors_file::open(data_dir + "keras_" + name + ".safetensors");
  const auto params = tfm::load_weights<Layer>(file, tfm::naming::keras, bare_names);
  const auto q = golden_data::floats3(file, "golden.query"),
             v = golden_data::floats3(file, "golden.value");
  const auto k = file.contains("golden.key") ? golden_data::floats3(file, "golden.key") : v;
  const bool causal = nlohmann::json::parse(file.metadata().at("config")).at("causal");
  xt::xtensor<float, 3> y = xt::zeros<float>({q.shape()[0], q.shape()[1], v.shape()[2]});
  tfm::workspace ws(threads);
  const auto value_mask = file.contains("golden.value_mask")
                              ? golden_data::mask2(file, "golden.value_mask")
                              : xt::xtensor<std::uint8_t, 2>();
  const auto query_mask = file.contains("golden.query_mask")
                              ? golden_data::mask2(file, "golden.query_mask")
                              : xt::xtensor<std::uint8_t, 2>();
  const auto keep_values = tfm::masks::keep_keys<>{tfm::as_view<2>(value_mask)};
  const auto keep_queries = tfm::masks::keep_queries<>{tfm::as_view<2>(query_mask)};
  if (causal)
    Layer::template forward<Arch>(params, q, v, k, y, ws, tfm::masks::causal{});
  else if (value_mask.size() == 0)
    Layer::template forward<Arch>(params, q, v, k, y, ws);
  else if (query_mask.size() == 0)
    Layer::template forward<Arch>(params, q, v, k, y, ws, keep_values);
  else
    Layer::template forward<Arch>(params, q, v, k, y, ws, keep_values, keep_queries);
  golden_data::require_close(file, y.data());
}

template <class Layer>
void check_keras_attention_everywhere(const std::string& name) {
  check_keras_attention<Layer, tfm::simd::best_available>(name, 2);
  check_keras_attention<Layer, tfm::simd::best_available>(name, 1);
  check_keras_attention<Layer, tfm::simd::scalar>(name, 1);
}
}  // namespace

TEST_CASE("dot_attention matches keras.layers.Attention: dot and concat scores, scale, masks") {
  using plain = tfm::dot_attention<"attention">;
  using scaled = tfm::dot_attention<"attention", tfm::use_scale<true>>;
  using concat = tfm::dot_attention<"attention", tfm::concat_scores>;
  using concat_scaled = tfm::dot_attention<"attention", tfm::concat_scores, tfm::use_scale<true>>;
  STATIC_REQUIRE(plain::parameter_count == 0);
  STATIC_REQUIRE(concat_scaled::parameter_count == 2);
  check_keras_attention_everywhere<plain>("attention_dot");
  check_keras_attention_everywhere<scaled>("attention_dot_scale_distinct_key");
  check_keras_attention_everywhere<plain>("attention_dot_masks");
  check_keras_attention_everywhere<scaled>("attention_dot_causal");
  check_keras_attention_everywhere<concat>("attention_concat");
  check_keras_attention_everywhere<concat_scaled>("attention_concat_scale_masks");
  check_keras_attention_everywhere<concat_scaled>("attention_concat_causal");
}

TEST_CASE(
    "dot_attention: a fully masked row is Keras's uniform average when declared, else "
    "zeros") {
  using keras_policy =
      tfm::dot_attention<"attention",
                         tfm::on_fully_masked_rows<tfm::fully_masked_rows::minus_1e9_added>>;
  check_keras_attention_everywhere<keras_policy>("attention_fully_masked_row");
  // The default gives zeros for batch 1 (every value masked) and the same rows for batch 0.
  using ours = tfm::dot_attention<"attention">;
  xt::xtensor<float, 3> q = xt::ones<float>({2, 3, 4}), v = xt::ones<float>({2, 5, 4}),
                        y = xt::ones<float>({2, 3, 4});
  xt::xtensor<std::uint8_t, 2> keep = {{1, 1, 1, 1, 1}, {0, 0, 0, 0, 0}};
  tfm::workspace ws(1);
  ours::forward(ours::parameters{}, q, v, y, ws, tfm::masks::keep_keys<>{tfm::as_view<2>(keep)});
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t c = 0; c < 4; ++c) {
      REQUIRE(y(0, i, c) == Approx(1.0f));
      REQUIRE(y(1, i, c) == 0.0f);
    }
}

TEST_CASE("dot_attention: the single-query form equals a one-row query") {
  using layer = tfm::dot_attention<"attention", tfm::use_scale<true>>;
  const layer::parameters p{0.8f, 1.0f};
  xt::xtensor<float, 2> q = {{0.5f, -1.0f, 2.0f}, {1.5f, 0.25f, -0.5f}};
  xt::xtensor<float, 3> k = xt::zeros<float>({2, 4, 3}), v = xt::zeros<float>({2, 4, 5});
  for (std::size_t i = 0; i < k.size(); ++i) k.data()[i] = std::sin(0.7f * float(i));
  for (std::size_t i = 0; i < v.size(); ++i) v.data()[i] = std::cos(0.3f * float(i));
  xt::xtensor<float, 2> context = xt::zeros<float>({2, 5});
  xt::xtensor<float, 3> q3 = xt::zeros<float>({2, 1, 3}), y3 = xt::zeros<float>({2, 1, 5});
  std::copy(q.begin(), q.end(), q3.begin());
  tfm::workspace ws(1);
  layer::attend_one(p, q, v, k, context, ws);
  layer::forward(p, q3, v, k, y3, ws);
  for (std::size_t i = 0; i < context.size(); ++i) REQUIRE(context.data()[i] == y3.data()[i]);
  // The reference by hand: softmax over 4 keys of 0.8·(q·k), weighting v.
  for (std::size_t b = 0; b < 2; ++b) {
    double s[4], m = -1e30, z = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      s[j] = 0;
      for (std::size_t d = 0; d < 3; ++d) s[j] += 0.8 * double(q(b, d)) * k(b, j, d);
      m = std::max(m, s[j]);
    }
    for (double& e : s) z += (e = std::exp(e - m));
    for (std::size_t c = 0; c < 5; ++c) {
      double want = 0;
      for (std::size_t j = 0; j < 4; ++j) want += s[j] / z * v(b, j, c);
      REQUIRE(context(b, c) == Approx(want).epsilon(1e-5));
    }
  }
}

TEST_CASE("dot_attention: mismatched widths and lengths throw shape_error naming the layer") {
  using layer = tfm::dot_attention<"attn">;
  xt::xtensor<float, 3> q = xt::zeros<float>({2, 3, 4}), k = xt::zeros<float>({2, 5, 3}),
                        v = xt::zeros<float>({2, 5, 6}), y = xt::zeros<float>({2, 3, 6});
  tfm::workspace ws(1);
  REQUIRE_THROWS_WITH(layer::forward(layer::parameters{}, q, v, k, y, ws),
                      "dot_attention \"attn\": query width (4) differs from key width (3)");
  xt::xtensor<float, 3> short_v = xt::zeros<float>({2, 4, 6}), k4 = xt::zeros<float>({2, 5, 4});
  REQUIRE_THROWS_WITH(layer::forward(layer::parameters{}, q, short_v, k4, y, ws),
                      "dot_attention \"attn\": key length (5) differs from value length (4)");
}

TEST_CASE("additive_attention matches keras.layers.AdditiveAttention: scale, masks, causal") {
  using scaled = tfm::additive_attention<"additive", d_model<6>>;
  using unscaled = tfm::additive_attention<"additive", d_model<6>, tfm::use_scale<false>>;
  STATIC_REQUIRE(scaled::parameter_count == 6);
  STATIC_REQUIRE(unscaled::parameter_count == 0);
  check_keras_attention_everywhere<scaled>("additive_attention_scale");
  check_keras_attention_everywhere<unscaled>("additive_attention_no_scale_masks");
  check_keras_attention_everywhere<scaled>("additive_attention_causal");
}

TEST_CASE(
    "bahdanau_attention matches TensorFlow's tutorial layer, over a sequence and for one "
    "decoder state") {
  using layer = tfm::bahdanau_attention<"attention", 7, d_model<10>, key_features<12>>;
  STATIC_REQUIRE(layer::parameter_count == 10 * 7 + 7 + 12 * 7 + 7 + 7 + 1);
  check_keras_attention_everywhere<layer>("bahdanau_sequence");

  using step = tfm::bahdanau_attention<"attention", 8, d_model<10>, key_features<12>>;
  const auto file =
      tfm::io::safetensors_file::open(data_dir + "keras_bahdanau_single_query.safetensors");
  const auto params = tfm::load_weights<step>(file, tfm::naming::keras, bare_names);
  xt::xtensor<float, 2> q = xt::empty<float>({3, 10});
  xt::xtensor<float, 3> v = xt::empty<float>({3, 9, 12});
  const auto keep = golden_data::mask2(file, "golden.value_mask");
  const auto qr = file.read_floats("golden.query"), vr = file.read_floats("golden.value");
  std::copy(qr.begin(), qr.end(), q.begin());
  std::copy(vr.begin(), vr.end(), v.begin());
  const auto reference = file.read_floats("golden.output");
  for (std::size_t threads : {1u, 2u}) {
    xt::xtensor<float, 2> context = xt::zeros<float>({3, 12});
    tfm::workspace ws(threads);
    step::attend_one(params, q, v, v, context, ws, tfm::masks::keep_keys<>{tfm::as_view<2>(keep)});
    for (std::size_t i = 0; i < reference.size(); ++i)
      REQUIRE(context.data()[i] == Approx(reference[i]).margin(1e-5).epsilon(1e-4));
  }
  // PyTorch names: nn.Linear modules W1, W2, V.
  const auto torch = step::expected_weights(tfm::naming::pytorch, "attn.");
  REQUIRE(torch[0].name == "attn.W1.weight");
  REQUIRE(torch[0].shape == std::vector<std::int64_t>{8, 10});
  REQUIRE(torch[4].shape == std::vector<std::int64_t>{1, 8});
}

namespace {
// keras-multi-head's MultiHeadAttention and the tutorial score scale, through
// multi_head_attention (tools/make_keras_attention_goldens.py).
template <class Layer, class Arch>
void check_keras_multi_head(const std::string& file_name, std::size_t threads) {
  INFO(file_name << ", threads " << threads);
  const auto file = tfm::io::safetensors_file::open(data_dir + file_name + ".safetensors");
  const auto params = tfm::load_weights<Layer>(file, tfm::naming::keras, bare_names);
  const auto q = golden_data::floats3(file, "golden.query");
  const auto k = file.contains("golden.key") ? golden_data::floats3(file, "golden.key") : q;
  const auto v = file.contains("golden.value") ? golden_data::floats3(file, "golden.value") : q;
  const bool causal = nlohmann::json::parse(file.metadata().at("config")).at("causal");
  xt::xtensor<float, 3> y =
      xt::zeros<float>({q.shape()[0], q.shape()[1], std::size_t(Layer::output_features)});
  tfm::workspace ws(threads);
  const auto keep = file.contains("golden.value_mask")
                        ? golden_data::mask2(file, "golden.value_mask")
                        : xt::xtensor<std::uint8_t, 2>();
  if (causal && keep.size() > 0)
    Layer::template forward<Arch>(
        params, q, k, v, y, ws,
        tfm::masks::all(tfm::masks::causal{}, tfm::masks::keep_keys<>{tfm::as_view<2>(keep)}));
  else if (causal)
    Layer::template forward<Arch>(params, q, k, v, y, ws, tfm::masks::causal{});
  else
    Layer::template forward<Arch>(params, q, k, v, y, ws);
  golden_data::require_close(file, y.data());
}

template <class Layer>
void check_keras_multi_head_everywhere(const std::string& file_name) {
  check_keras_multi_head<Layer, tfm::simd::best_available>(file_name, 2);
  check_keras_multi_head<Layer, tfm::simd::best_available>(file_name, 1);
  check_keras_multi_head<Layer, tfm::simd::scalar>(file_name, 1);
}
}  // namespace

TEST_CASE(
    "multi_head_attention with keras-multi-head's weights and activation matches "
    "keras-multi-head's MultiHeadAttention") {
  using self =
      tfm::multi_head_attention<"self", heads<3>, d_model<12>, tfm::keras_multi_head_weights,
                                tfm::projection_activation<tfm::activations::relu>>;
  STATIC_REQUIRE(self::parameter_count == 4 * 12 * 12 + 4 * 12);
  check_keras_multi_head_everywhere<self>("keras_multi_head_self");
  // f = 12 comes from the value; the query is 10 wide and the key 8.
  using cross =
      tfm::multi_head_attention<"cross_history_mask", heads<4>, d_model<10>, key_features<8>,
                                value_features<12>, tfm::keras_multi_head_weights,
                                tfm::projection_activation<tfm::activations::relu>>;
  STATIC_REQUIRE(cross::key_dim_per_head == 3);
  STATIC_REQUIRE(cross::output_features == 12);
  check_keras_multi_head_everywhere<cross>("keras_multi_head_cross_history_mask");
  using linear = tfm::multi_head_attention<"linear_no_bias", heads<3>, d_model<9>,
                                           tfm::keras_multi_head_weights, tfm::use_bias<false>>;
  check_keras_multi_head_everywhere<linear>("keras_multi_head_linear_no_bias");
  const auto names = self::expected_weights(tfm::naming::keras, "self/");
  REQUIRE(names.front().name == "self/self_Wq");
  REQUIRE(names.back().name == "self/self_bo");
}

TEST_CASE(
    "multi_head_attention: scores scaled by the whole key width, as the "
    "MachineLearningMastery tutorial") {
  using layer = tfm::multi_head_attention<"mha", heads<3>, d_model<12>, key_dim_per_head<5>,
                                          tfm::score_scale<tfm::score_scaling::total_key_width>>;
  check_keras_multi_head_everywhere<layer>("keras_mha_total_key_width_scale");
}

TEST_CASE(
    "multi_head_attention as the tutorials write it: named Dense projections and their "
    "score scale") {
  // TensorFlow's custom-layer tutorial: wq, wk, wv, dense; depth = d_model / heads.
  using tensorflow_tutorial =
      tfm::multi_head_attention<"mha", heads<3>, d_model<12>,
                                tfm::dense_projection_names<"wq", "wk", "wv", "dense">>;
  const auto names = tensorflow_tutorial::expected_weights(tfm::naming::keras, "mha/");
  REQUIRE(names.front().name == "mha/wq/kernel");
  REQUIRE(names.back().name == "mha/dense/bias");
  const auto torch_names = tensorflow_tutorial::expected_weights(tfm::naming::pytorch, "mha.");
  REQUIRE(torch_names.front().name == "mha.wq.weight");
  const auto file =
      tfm::io::safetensors_file::open(data_dir + "keras_tutorial_mha_tensorflow.safetensors");
  const auto params = tfm::load_weights<tensorflow_tutorial>(file, tfm::naming::keras, bare_names);
  xt::xtensor<float, 3> x = xt::empty<float>({3, 6, 12}), y = xt::zeros<float>({3, 6, 12});
  const auto xr = file.read_floats("golden.query");
  std::copy(xr.begin(), xr.end(), x.begin());
  std::vector<tfm::extent_t> lengths;
  for (auto n : file.read_integers("golden.key_lengths")) lengths.push_back(n);
  tfm::workspace ws(2);
  tensorflow_tutorial::forward(params, x, x, x, y, ws, tfm::masks::key_lengths{lengths});
  const auto reference = file.read_floats("golden.output");
  for (std::size_t i = 0; i < reference.size(); ++i)
    REQUIRE(y.data()[i] == Approx(reference[i]).margin(1e-5).epsilon(1e-4));

  // MachineLearningMastery: W_q, W_k = Dense(d_k = 12), W_v = Dense(d_v = 16), W_o = Dense(10)
  // on 7-wide inputs, heads split d_k, scores / √d_k of the whole projection.
  using mlm = tfm::multi_head_attention<"mha", heads<4>, d_model<7>, key_dim_per_head<3>,
                                        value_dim_per_head<4>, output_features<10>,
                                        tfm::score_scale<tfm::score_scaling::total_key_width>,
                                        tfm::dense_projection_names<"W_q", "W_k", "W_v", "W_o">>;
  check_keras_multi_head_everywhere<mlm>("keras_tutorial_mha_machinelearningmastery");
}

TEST_CASE("relative_dot_attention matches Shaw et al.'s relative attention: clipping, masks") {
  using tfm::max_relative_position;
  check_keras_attention_everywhere<tfm::relative_dot_attention<
      "attention", max_relative_position<3>, d_model<6>, value_features<5>>>("relative_core");
  check_keras_attention_everywhere<tfm::relative_dot_attention<
      "attention", max_relative_position<2>, d_model<6>, tfm::relative_values<false>>>(
      "relative_core_causal_no_values");
  check_keras_attention_everywhere<
      tfm::relative_dot_attention<"attention", max_relative_position<3>, d_model<6>>>(
      "relative_core_cross");
}

namespace {
// relative_position_attention (and the wrapper block) as self-attention on golden.query.
template <class Layer, class Arch>
void check_relative_self_attention(const std::string& file_name, std::size_t threads) {
  INFO(file_name << ", threads " << threads);
  const auto file = tfm::io::safetensors_file::open(data_dir + file_name + ".safetensors");
  const auto params = tfm::load_weights<Layer>(file, tfm::naming::keras, bare_names);
  const auto x = golden_data::floats3(file, "golden.query");
  xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
  tfm::workspace ws(threads);
  const bool causal = nlohmann::json::parse(file.metadata().at("config")).at("causal");
  std::vector<tfm::extent_t> lengths;
  if (file.contains("golden.key_lengths"))
    for (auto n : file.read_integers("golden.key_lengths")) lengths.push_back(n);
  if (causal)
    Layer::template forward<Arch>(params, x, x, x, y, ws, tfm::masks::causal{});
  else if (!lengths.empty())
    Layer::template forward<Arch>(params, x, x, x, y, ws, tfm::masks::key_lengths{lengths});
  else
    Layer::template forward<Arch>(params, x, x, x, y, ws);
  golden_data::require_close(file, y.data());
}

template <class Layer>
void check_relative_self_attention_everywhere(const std::string& file_name) {
  check_relative_self_attention<Layer, tfm::simd::best_available>(file_name, 2);
  check_relative_self_attention<Layer, tfm::simd::best_available>(file_name, 1);
  check_relative_self_attention<Layer, tfm::simd::scalar>(file_name, 1);
}
}  // namespace

TEST_CASE("relative_position_attention: heads, projections, key lengths, causal, no rel_v") {
  using tfm::max_relative_position;
  using layer = tfm::relative_position_attention<"attention", heads<3>, d_model<12>,
                                                 max_relative_position<4>>;
  STATIC_REQUIRE(layer::parameter_count == 4 * 12 * 12 + 4 * 12 + 2 * 9 * 4);
  check_relative_self_attention_everywhere<layer>("keras_relative_mha");
  check_relative_self_attention_everywhere<tfm::relative_position_attention<
      "attention", heads<2>, d_model<8>, max_relative_position<3>, tfm::relative_values<false>>>(
      "keras_relative_mha_causal_no_values");
  const auto torch_names = layer::expected_weights(tfm::naming::pytorch, "attention.");
  REQUIRE(torch_names.front().name == "attention.wq.weight");
  REQUIRE(torch_names.back().name == "attention.rel_v");
}

TEST_CASE("wrapper_attention_block with relative positions matches LN(x + attention(x))") {
  using model = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<16>, max_batch<4>, max_seq<16>>,
      tfm::wrapper_attention_block<"block", heads<2>, tfm::max_relative_position<10>>>;
  STATIC_REQUIRE(!model::decodable);
  const auto file =
      tfm::io::safetensors_file::open(data_dir + "keras_relative_wrapper_block.safetensors");
  const auto weights =
      tfm::load_weights<model>(file, tfm::naming::keras, {.ignore_prefixes = {"golden."}});
  const auto x = golden_data::floats3(file, "golden.query");
  for (std::size_t threads : {1u, 2u}) {
    tfm::runner<model> run(weights, {.threads = threads});
    xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
    run(x, y);
    golden_data::require_close(file, y.data());
  }
  // Paths as the weights are scoped: Keras's "/" with Keras names, PyTorch's "." by default.
  CHECK_THAT(tfm::summary<model>(tfm::naming::keras),
             Catch::Contains("block/attention (relative_position_attention)") &&
                 Catch::Contains("block/norm (layer_norm)"));
  CHECK_THAT(tfm::summary<model>(),
             Catch::Contains("block.attention (relative_position_attention)"));
  CHECK_THAT(tfm::to_dot<model>(tfm::naming::keras), Catch::Contains("block/norm"));
}
