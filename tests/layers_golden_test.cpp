// Layers other than attention against PyTorch goldens (tools/make_layer_goldens_pytorch.py).

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <typeformer/typeformer.hpp>

namespace tfm = typeformer;
using namespace tfm::dims;

namespace {

const std::string data_dir = std::string(TYPEFORMER_TEST_DATA) + "/layers/";

// Runs Layer::forward on the file's golden.input and compares with golden.output.
template <class Layer, class Arch>
void check_single_input_golden(const std::string& name, std::size_t threads) {
  const auto file = tfm::io::safetensors_file::open(data_dir + name + ".safetensors");
  const auto config = nlohmann::json::parse(file.metadata().at("config"));
  const double atol = config.at("atol"), rtol = config.at("rtol");
  const auto params = tfm::load_weights<Layer>(file, tfm::naming::pytorch,
                                               {.prefix = "", .ignore_prefixes = {"golden."}});
  if constexpr (requires { params.epsilon; })
    REQUIRE(params.epsilon == static_cast<float>(config.at("epsilon").get<double>()));
  const auto* info = file.find("golden.input");
  xt::xtensor<float, 3> x = xt::empty<float>(
      {std::size_t(info->shape[0]), std::size_t(info->shape[1]), std::size_t(info->shape[2])});
  const auto input = file.read_floats("golden.input");
  std::copy(input.begin(), input.end(), x.begin());
  xt::xtensor<float, 3> y = xt::zeros<float>(x.shape());
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
  using relu_block = tfm::feed_forward<"ff", 53, tfm::relu, d_model<30>>;
  using gelu_block = tfm::feed_forward<"ff", 53, tfm::gelu, d_model<30>>;
  using tanh_block = tfm::feed_forward<"ff", 53, tfm::gelu_tanh, d_model<30>>;
  STATIC_REQUIRE(relu_block::parameter_count == 2 * 30 * 53 + 53 + 30);
  check_single_input_golden<relu_block, tfm::simd::best_available>("pytorch_feed_forward_relu", 2);
  check_single_input_golden<relu_block, tfm::simd::scalar>("pytorch_feed_forward_relu", 1);
  check_single_input_golden<gelu_block, tfm::simd::best_available>("pytorch_feed_forward_gelu", 2);
  check_single_input_golden<gelu_block, tfm::simd::scalar>("pytorch_feed_forward_gelu", 1);
  check_single_input_golden<tanh_block, tfm::simd::best_available>("pytorch_feed_forward_gelu_tanh",
                                                                   1);
}
