// Layers other than attention against PyTorch goldens (tools/make_layer_goldens_pytorch.py).

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

// Runs Layer::forward on the file's golden.input and compares with golden.output.
template <class Layer, class Arch, class Naming = tfm::naming::pytorch_t>
void check_single_input_golden(const std::string& name, std::size_t threads, Naming naming = {}) {
  INFO(name << " on " << (std::is_same_v<Arch, tfm::simd::scalar> ? "scalar" : "best") << ", "
            << threads << " thread(s)");
  const auto file = tfm::io::safetensors_file::open(data_dir + name + ".safetensors");
  const auto config = nlohmann::json::parse(file.metadata().at("config"));
  const double atol = config.at("atol"), rtol = config.at("rtol");
  const auto params =
      tfm::load_weights<Layer>(file, naming, {.prefix = "", .ignore_prefixes = {"golden."}});
  if constexpr (requires { params.epsilon; })
    REQUIRE(params.epsilon == static_cast<float>(config.at("epsilon").get<double>()));
  const auto* info = file.find("golden.input");
  xt::xtensor<float, 3> x = xt::empty<float>(
      {std::size_t(info->shape[0]), std::size_t(info->shape[1]), std::size_t(info->shape[2])});
  const auto input = file.read_floats("golden.input");
  std::copy(input.begin(), input.end(), x.begin());
  const auto* out_info = file.find("golden.output");
  xt::xtensor<float, 3> y =
      xt::zeros<float>({std::size_t(out_info->shape[0]), std::size_t(out_info->shape[1]),
                        std::size_t(out_info->shape[2])});
  tfm::workspace ws(threads);
  Layer::template forward<Arch>(params, x, y, ws);
  const auto reference = file.read_floats("golden.output");
  for (std::size_t i = 0; i < reference.size(); ++i)
    REQUIRE(std::fabs(y.data()[i] - reference[i]) <= atol + rtol * std::fabs(reference[i]));
}

}  // namespace

TEST_CASE("layer_norm matches nn.LayerNorm, default and declared epsilon") {
  using pytorch_default = tfm::layer_norm<"norm", d_model<37>>;
  using declared = tfm::layer_norm<"norm", d_model<37>, tfm::epsilon<1, -6>>;
  STATIC_REQUIRE(declared::declared_epsilon == 1e-6);
  STATIC_REQUIRE(pytorch_default::parameter_count == 74);
  check_single_input_golden<pytorch_default, tfm::simd::best_available>("pytorch_layer_norm", 2);
  check_single_input_golden<pytorch_default, tfm::simd::scalar>("pytorch_layer_norm", 1);
  check_single_input_golden<declared, tfm::simd::best_available>("pytorch_layer_norm_eps1e-6", 1);
}

TEST_CASE("layer_norm: Keras names and Keras's default epsilon") {
  using norm = tfm::layer_norm<"norm", d_model<4>>;
  const auto names = norm::expected_weights(tfm::naming::keras, "block/norm/");
  REQUIRE(names.size() == 2);
  REQUIRE(names[0].name == "block/norm/gamma");
  REQUIRE(names[1].name == "block/norm/beta");
  const auto p = norm::from_weights(tfm::naming::keras,
                                    [](const std::string&) { return std::vector<float>(4, 1.0f); });
  REQUIRE(p.epsilon == 1e-3f);
}

TEST_CASE(
    "feed_forward matches linear1 -> activation -> linear2 for relu, exact GELU and tanh GELU") {
  using relu_block = tfm::feed_forward<"ff", 53, tfm::activations::relu, d_model<30>>;
  using gelu_block = tfm::feed_forward<"ff", 53, tfm::activations::gelu, d_model<30>>;
  using tanh_block = tfm::feed_forward<"ff", 53, tfm::activations::gelu_tanh, d_model<30>>;
  STATIC_REQUIRE(relu_block::parameter_count == 2 * 30 * 53 + 53 + 30);
  check_single_input_golden<relu_block, tfm::simd::best_available>("pytorch_feed_forward_relu", 2);
  check_single_input_golden<relu_block, tfm::simd::scalar>("pytorch_feed_forward_relu", 1);
  check_single_input_golden<gelu_block, tfm::simd::best_available>("pytorch_feed_forward_gelu", 2);
  check_single_input_golden<gelu_block, tfm::simd::scalar>("pytorch_feed_forward_gelu", 1);
  check_single_input_golden<tanh_block, tfm::simd::best_available>("pytorch_feed_forward_gelu_tanh",
                                                                   1);
}

namespace {
// Every instruction set path this build has, and one or two threads.
template <class Layer, class Naming = tfm::naming::pytorch_t>
void check_on_every_path(const std::string& name, Naming naming = {}) {
  check_single_input_golden<Layer, tfm::simd::best_available>(name, 2, naming);
  check_single_input_golden<Layer, tfm::simd::best_available>(name, 1, naming);
  check_single_input_golden<Layer, tfm::simd::scalar>(name, 1, naming);
}
}  // namespace

TEST_CASE("dense matches nn.Linear followed by each activation") {
  namespace act = tfm::activations;
  STATIC_REQUIRE(tfm::dense<"d", 19, act::relu, d_model<29>>::parameter_count == 29 * 19 + 19);
  STATIC_REQUIRE(
      tfm::dense<"d", 19, act::relu, d_model<29>, tfm::use_bias<false>>::parameter_count ==
      29 * 19);
  check_on_every_path<tfm::dense<"d", 19, act::linear, d_model<29>>>("pytorch_dense_linear");
  check_on_every_path<tfm::dense<"d", 19, act::relu, d_model<29>>>("pytorch_dense_relu");
  check_on_every_path<tfm::dense<"d", 19, act::tanh, d_model<29>>>("pytorch_dense_tanh");
  check_on_every_path<tfm::dense<"d", 19, act::sigmoid, d_model<29>>>("pytorch_dense_sigmoid");
  check_on_every_path<tfm::dense<"d", 19, act::softmax, d_model<29>>>("pytorch_dense_softmax");
  check_on_every_path<tfm::dense<"d", 19, act::gelu, d_model<29>>>("pytorch_dense_gelu");
  check_on_every_path<tfm::dense<"d", 19, act::relu, d_model<29>, tfm::use_bias<false>>>(
      "pytorch_dense_no_bias");
}

TEST_CASE("dense: Keras and PyTorch names and layouts") {
  using layer = tfm::dense<"out", 3, tfm::activations::linear, d_model<2>>;
  const auto keras = layer::expected_weights(tfm::naming::keras, "out/");
  REQUIRE(keras.size() == 2);
  REQUIRE(keras[0].name == "out/kernel");
  REQUIRE(keras[0].shape == std::vector<std::int64_t>{2, 3});
  const auto torch = layer::expected_weights(tfm::naming::pytorch, "out.");
  REQUIRE(torch[0].name == "out.weight");
  REQUIRE(torch[0].shape == std::vector<std::int64_t>{3, 2});
  // The same matrix in both layouts gives the same product: W = [[1, 2, 3], [4, 5, 6]] (in, out).
  const std::vector<float> kernel{1, 2, 3, 4, 5, 6}, weight{1, 4, 2, 5, 3, 6}, bias{0, 0, 0};
  const auto pk = layer::from_weights(
      tfm::naming::keras, [&](const std::string& n) { return n == "out/kernel" ? kernel : bias; });
  const auto pt = layer::from_weights(
      tfm::naming::pytorch, [&](const std::string& n) { return n == "weight" ? weight : bias; });
  xt::xtensor<float, 3> x = {{{1.0f, 10.0f}}}, yk = xt::zeros<float>({1, 1, 3}),
                        yt = xt::zeros<float>({1, 1, 3});
  tfm::workspace ws(1);
  layer::forward(pk, x, yk, ws);
  layer::forward(pt, x, yt, ws);
  const std::vector<float> expected{41.0f, 52.0f, 63.0f};
  REQUIRE(std::vector<float>(yk.begin(), yk.end()) == expected);
  REQUIRE(std::vector<float>(yt.begin(), yt.end()) == expected);
}

TEST_CASE("dense: a wrong run-time width throws shape_error naming the layer") {
  using layer = tfm::dense<"out", 3, tfm::activations::linear, d_model<2>>;
  const auto p = layer::from_weights(tfm::naming::keras, [](const std::string& n) {
    return std::vector<float>(n == "out/kernel" ? 6 : 3, 1.0f);
  });
  xt::xtensor<float, 3> x = xt::zeros<float>({1, 4, 5}), y = xt::zeros<float>({1, 4, 3});
  tfm::workspace ws(1);
  REQUIRE_THROWS_WITH(layer::forward(p, x, y, ws),
                      "dense \"out\": input feature dim (5) does not match d_model (2)");
}

TEST_CASE("embedding matches nn.Embedding, and rejects ids out of range without writing") {
  using layer = tfm::embedding<"embed", 37, 12>;
  STATIC_REQUIRE(layer::parameter_count == 37 * 12);
  const auto file = tfm::io::safetensors_file::open(data_dir + "pytorch_embedding.safetensors");
  const auto params = tfm::load_weights<layer>(file, tfm::naming::pytorch,
                                               {.prefix = "", .ignore_prefixes = {"golden."}});
  const auto ids_read = file.read_integers("golden.ids");
  xt::xtensor<std::int32_t, 2> ids = xt::empty<std::int32_t>({2, 5});
  std::copy(ids_read.begin(), ids_read.end(), ids.begin());
  xt::xtensor<float, 3> y = xt::zeros<float>({2, 5, 12});
  layer::lookup(params, ids, y);
  const auto reference = file.read_floats("golden.output");
  REQUIRE(std::equal(reference.begin(), reference.end(), y.begin()));

  xt::xtensor<float, 3> untouched = xt::zeros<float>({2, 5, 12});
  ids(1, 3) = 37;
  REQUIRE_THROWS_WITH(
      layer::lookup(params, ids, untouched),
      "embedding \"embed\": token id (37) is out of range [0, 37) at batch 1, position 3");
  ids(1, 3) = -1;
  REQUIRE_THROWS_AS(layer::lookup(params, ids, untouched), tfm::shape_error);
  xt::xtensor<std::int64_t, 2> wide = xt::zeros<std::int64_t>({2, 5});
  wide(0, 0) = std::int64_t(1) << 40;  // would wrap to 0 as a 32-bit id
  REQUIRE_THROWS_AS(layer::lookup(params, wide, untouched), tfm::shape_error);
  REQUIRE(std::all_of(untouched.begin(), untouched.end(), [](float v) { return v == 0.0f; }));
}

TEST_CASE("sinusoidal positions match PyTorch's and TensorFlow's tutorials") {
  check_on_every_path<tfm::sinusoidal_position_encoding<d_model<12>>>(
      "pytorch_sinusoidal_positions");
  check_on_every_path<tfm::sinusoidal_position_encoding<d_model<12>, tfm::sin_cos_concatenated>>(
      "tensorflow_sinusoidal_positions_concatenated");
}

TEST_CASE("position_embedding adds a learned table, and rejects positions past it") {
  using layer = tfm::position_embedding<"pos", 9, d_model<12>>;
  check_on_every_path<layer>("pytorch_position_embedding");
  const auto p = layer::from_weights(tfm::naming::pytorch,
                                     [](const std::string&) { return std::vector<float>(9 * 12); });
  xt::xtensor<float, 3> x = xt::zeros<float>({1, 10, 12}), y = xt::zeros<float>({1, 10, 12});
  tfm::workspace ws(1);
  REQUIRE_THROWS_WITH(
      layer::forward(p, x, y, ws),
      "position_embedding \"pos\": position (9) is out of range: the table holds 9 positions");
}

TEST_CASE("dense matches Keras Dense (TensorFlow.js) for each activation") {
  namespace act = tfm::activations;
  constexpr auto keras = tfm::naming::keras;
  check_on_every_path<tfm::dense<"d", 19, act::linear, d_model<29>>>("keras_dense_linear", keras);
  check_on_every_path<tfm::dense<"d", 19, act::relu, d_model<29>>>("keras_dense_relu", keras);
  check_on_every_path<tfm::dense<"d", 19, act::tanh, d_model<29>>>("keras_dense_tanh", keras);
  check_on_every_path<tfm::dense<"d", 19, act::sigmoid, d_model<29>>>("keras_dense_sigmoid", keras);
  check_on_every_path<tfm::dense<"d", 19, act::softmax, d_model<29>>>("keras_dense_softmax", keras);
  check_on_every_path<tfm::dense<"d", 19, act::gelu, d_model<29>>>("keras_dense_gelu", keras);
  check_on_every_path<tfm::dense<"d", 19, act::relu, d_model<29>, tfm::use_bias<false>>>(
      "keras_dense_no_bias", keras);
}

TEST_CASE("layer_norm matches Keras LayerNormalization, default (1e-3) and declared epsilon") {
  constexpr auto keras = tfm::naming::keras;
  check_on_every_path<tfm::layer_norm<"norm", d_model<37>>>("keras_layer_norm", keras);
  check_on_every_path<tfm::layer_norm<"norm", d_model<37>, tfm::epsilon<1, -6>>>(
      "keras_layer_norm_eps1e-6", keras);
}

TEST_CASE("embedding matches Keras Embedding (TensorFlow.js)") {
  using layer = tfm::embedding<"embed", 37, 12>;
  const auto file = tfm::io::safetensors_file::open(data_dir + "keras_embedding.safetensors");
  const auto params = tfm::load_weights<layer>(file, tfm::naming::keras,
                                               {.prefix = "", .ignore_prefixes = {"golden."}});
  const auto ids_read = file.read_integers("golden.ids");
  xt::xtensor<std::int64_t, 2> ids = xt::empty<std::int64_t>({2, 5});
  std::copy(ids_read.begin(), ids_read.end(), ids.begin());
  xt::xtensor<float, 3> y = xt::zeros<float>({2, 5, 12});
  layer::lookup(params, ids, y);
  const auto reference = file.read_floats("golden.output");
  REQUIRE(std::equal(reference.begin(), reference.end(), y.begin()));
}
