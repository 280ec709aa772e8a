// Keras models in the TensorFlow.js Layers format (model.json + shards), written by tfjs itself
// or, where tfjs cannot (MultiHeadAttention, quantisation), built in its documented layout by
// tools/keras_goldens/make_tfjs_model_fixtures.mjs. Each carries tfjs's output for a sample,
// which verify::on checks; the topology check is tested by declarations that differ from the
// file in one option each; the hostile files must be refused with a format_error.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <typeformer/typeformer.hpp>

#include "export/exported_models.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;
using Catch::Matchers::Contains;

namespace {
const std::string tfjs_dir = std::string(TYPEFORMER_TEST_DATA) + "/tfjs/";

template <class... Layers>
using vectors_model = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<10>, max_batch<2>, max_seq<6>>,
    Layers...>;

using hidden = tfm::dense<"hidden", 16, tfm::activation::relu>;
using norm = tfm::layer_norm<"norm", tfm::epsilon<1, -5>>;
using out = tfm::dense<"out", 4>;
using dense_norm = exported_models::keras_dense_norm;
static_assert(std::is_same_v<dense_norm, vectors_model<hidden, norm, out>>);

template <class Model>
void loads_and_verifies(const std::string& fixture) {
  const std::string path = tfjs_dir + fixture + "/model.json";
  CHECK_NOTHROW(tfm::load_weights<Model>(path, tfm::naming::keras, tfm::verify::on));
}

template <class Model>
std::string refusal(const std::string& fixture) {
  try {
    (void)tfm::load_weights<Model>(tfjs_dir + fixture + "/model.json", tfm::naming::keras);
  } catch (const tfm::weight_error& e) {
    return e.what();
  }
  return "(loaded)";
}
}  // namespace

TEST_CASE("tfjs: a Sequential Dense → LayerNormalization → Dense saved by tfjs loads and matches") {
  loads_and_verifies<dense_norm>("dense_norm");
  // The shards concatenate: the second starts inside a float of out/kernel.
  loads_and_verifies<dense_norm>("dense_norm_sharded");
}

TEST_CASE("tfjs: float16, uint8 and uint16 quantised weights are dequantised as tfjs does") {
  loads_and_verifies<dense_norm>("dense_norm_float16");
  loads_and_verifies<dense_norm>("dense_norm_uint8");
  loads_and_verifies<dense_norm>("dense_norm_uint16");
  // The same values as tfjs's decodeWeights: q · scale + min in double, rounded once.
  const auto model = tfm::io::tfjs_layers_model::open(tfjs_dir + "dense_norm_uint8/model.json");
  const auto exact = tfm::io::tfjs_layers_model::open(tfjs_dir + "dense_norm/model.json");
  const auto q = model.weights().read_floats("hidden/kernel");
  const auto f = exact.weights().read_floats("hidden/kernel");
  REQUIRE(q.size() == f.size());
  float worst = 0;
  for (std::size_t i = 0; i < q.size(); ++i) worst = std::max(worst, std::abs(q[i] - f[i]));
  CHECK(worst > 0);      // quantised: not the float32 weights
  CHECK(worst < 0.01f);  // within one uint8 step of them
}

TEST_CASE("tfjs: Embedding → LSTM → Dense(softmax) and Conv1D → Dense saved by tfjs") {
  loads_and_verifies<exported_models::keras_embedding_lstm>("embedding_lstm");
  using conv_model = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<5>, max_batch<2>, max_seq<9>>,
      tfm::conv1d<"conv", 6, 3, tfm::padding<tfm::conv_padding::same>,
                  tfm::with_activation<tfm::activation::relu>>,
      tfm::dense<"out", 2>>;
  loads_and_verifies<conv_model>("conv1d");

  using valid_conv = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<5>, max_batch<2>, max_seq<9>>,
      tfm::conv1d<"conv", 6, 3, tfm::with_activation<tfm::activation::relu>>, tfm::dense<"out", 2>>;
  CHECK(refusal<valid_conv>("conv1d") ==
        "model (keras names) in " + tfjs_dir +
            "conv1d/model.json: layer \"conv\": Conv1D padding is \"same\" in model.json, the "
            "declaration has \"valid\"");
}

TEST_CASE(
    "tfjs: a functional MultiHeadAttention block; the recorded causal call runs the "
    "self-test causally") {
  using block = exported_models::keras_mha_block;
  loads_and_verifies<block>("mha_block");
  loads_and_verifies<block>("mha_block_causal");
  const auto causal = tfm::io::tfjs_layers_model::open(tfjs_dir + "mha_block_causal/model.json");
  REQUIRE(causal.causal_calls().size() == 1);
  CHECK(causal.causal_calls()[0] == std::pair<std::string, bool>{"mha", true});
  CHECK(causal.weights().metadata().at("selftest.causal") == "true");
  // Without the residual, model.json's Add has no counterpart.
  using bare = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<12>, max_batch<2>, max_seq<5>>,
      tfm::multi_head_attention<"mha", heads<3>, key_dim_per_head<4>>,
      tfm::layer_norm<"norm", tfm::epsilon<1, -6>>>;
  CHECK_THAT(refusal<bare>("mha_block"),
             Contains("model.json's layer \"add\" (Add) has no counterpart in the declaration"));
  using two_heads = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<12>, max_batch<2>, max_seq<5>>,
      tfm::residual<tfm::multi_head_attention<"mha", heads<2>, key_dim_per_head<4>>,
                    tfm::post_norm<tfm::layer_norm<"norm", tfm::epsilon<1, -6>>>>>;
  CHECK_THAT(refusal<two_heads>("mha_block"),
             Contains("layer \"mha\": MultiHeadAttention num_heads is 3 in model.json, the "
                      "declaration has 2"));
}

TEST_CASE("tfjs: the topology check names the layer and both values") {
  const std::string where = "model (keras names) in " + tfjs_dir + "dense_norm/model.json: ";
  CHECK(refusal<vectors_model<tfm::dense<"hidden", 32, tfm::activation::relu>, norm, out>>(
            "dense_norm") ==
        where + "layer \"hidden\": Dense units is 16 in model.json, the declaration has 32");
  CHECK(refusal<vectors_model<tfm::dense<"hidden", 16, tfm::activation::tanh>, norm, out>>(
            "dense_norm") == where +
                                 "layer \"hidden\": Dense activation is \"relu\" in model.json, "
                                 "the declaration has \"tanh\"");
  CHECK(refusal<vectors_model<hidden, tfm::layer_norm<"norm">, out>>("dense_norm") ==
        where +
            "layer \"norm\": LayerNormalization epsilon is 1e-05 in model.json, the "
            "declaration has 0.001");
  CHECK(
      refusal<vectors_model<hidden, norm,
                            tfm::dense<"out", 4, tfm::activation::identity, tfm::use_bias<false>>>>(
          "dense_norm") ==
      where + "layer \"out\": Dense use_bias is true in model.json, the declaration has false");
  CHECK(refusal<vectors_model<hidden, norm>>("dense_norm") ==
        where + "model.json's layer \"out\" (Dense) has no counterpart in the declaration");
  CHECK(refusal<vectors_model<hidden, norm, tfm::dense<"output", 4>>>("dense_norm") ==
        where +
            "the declaration's dense \"output\" (Keras Dense) is not in model.json, whose "
            "layers are hidden (Dense), norm (LayerNormalization), out (Dense)");
  CHECK(refusal<vectors_model<hidden, tfm::dense<"norm", 16>, out>>("dense_norm") ==
        where +
            "layer \"norm\": model.json has a LayerNormalization, the declaration a dense "
            "(Keras Dense)");
  // A declaration with no Keras counterpart cannot be checked, so it is refused.
  CHECK_THAT((refusal<vectors_model<hidden, norm, out, tfm::zero_padded_positions>>("dense_norm")),
             Contains("cannot be checked against a Keras topology"));
}

TEST_CASE("tfjs: an option typeformer does not implement is refused, not dropped") {
  // tfjs's LSTM defaults to hard_sigmoid; the fixture sets sigmoid. Edit it in memory.
  const auto original = tfm::io::tfjs_layers_model::open(tfjs_dir + "embedding_lstm/model.json");
  std::string text;
  {
    std::ifstream in(tfjs_dir + "embedding_lstm/model.json");
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto read_shard = [&](const std::string& shard) {
    std::ifstream in(tfjs_dir + "embedding_lstm/" + shard, std::ios::binary);
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), {});
    std::vector<std::byte> bytes(chars.size());
    std::memcpy(bytes.data(), chars.data(), chars.size());
    return bytes;
  };
  using lstm_model =
      tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<3>, max_seq<7>>,
                 tfm::embedding<"embedding", 30, 8>,
                 tfm::lstm<"lstm", 12, tfm::return_sequences<true>>,
                 tfm::dense<"classifier", 3, tfm::activation::softmax>>;
  const auto edited = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    const auto at = t.find(from);
    REQUIRE(at != std::string::npos);
    t.replace(at, from.size(), to);
    return tfm::io::tfjs_layers_model::from_json(t, read_shard, "edited.json");
  };
  const auto refused = [&](const tfm::io::tfjs_layers_model& m) -> std::string {
    try {
      (void)tfm::load_weights<lstm_model>(m, tfm::naming::keras);
    } catch (const tfm::weight_error& e) {
      return e.what();
    }
    return "(loaded)";
  };
  CHECK(refused(original) == "(loaded)");
  CHECK(refused(edited("\"recurrent_activation\":\"sigmoid\"",
                       "\"recurrent_activation\":\"hard_sigmoid\"")) ==
        "model (keras names) in edited.json: layer \"lstm\": LSTM recurrent_activation is "
        "\"hard_sigmoid\" in model.json, the declaration has \"sigmoid\"");
  CHECK(refused(edited("\"go_backwards\":false", "\"go_backwards\":true")) ==
        "model (keras names) in edited.json: layer \"lstm\": LSTM go_backwards is true in "
        "model.json, the declaration has false");
  CHECK(refused(edited("\"mask_zero\":null", "\"mask_zero\":null,\"sparse\":true")) ==
        "model (keras names) in edited.json: layer \"embedding\": Embedding option sparse = true "
        "is not one typeformer implements (it would be dropped)");
}

TEST_CASE("tfjs: hostile files are refused with a format_error naming the file and the weight") {
  const auto message = [](const std::string& name) -> std::string {
    try {
      (void)tfm::io::tfjs_layers_model::open(tfjs_dir + "hostile/" + name + "/model.json");
    } catch (const tfm::format_error& e) {
      return e.what();
    }
    return "(loaded)";
  };
  const std::string model = "tfjs model \"" + tfjs_dir + "hostile/";
  CHECK_THAT(message("shape_past_end"), Contains("weight \"out/bias\": needs bytes [1088, 2688)"));
  CHECK_THAT(message("shard_truncated"), Contains("weight \"out/bias\": needs bytes"));
  CHECK_THAT(message("shard_extra_bytes"),
             Contains("weightsManifest[0]: the shards \"./model.weights.bin\" hold 1108 bytes, "
                      "the weights use 1104 (4 bytes left over)"));
  CHECK_THAT(message("dtype_float64"), Contains("weight \"norm/gamma\": dtype \"float64\""));
  CHECK_THAT(message("dtype_complex64"), Contains("weight \"norm/gamma\": dtype \"complex64\""));
  CHECK_THAT(message("quantization_int4"),
             Contains("weight \"hidden/kernel\": quantization dtype \"int4\""));
  CHECK_THAT(message("path_traversal"),
             Contains("shard path \"../../../etc/passwd\" is not a relative path inside the "
                      "model's directory"));
  CHECK_THAT(message("path_absolute"), Contains("shard path \"/etc/passwd\""));
  CHECK_THAT(message("shard_missing"), Contains("model.weights.bin\": no such file"));
  CHECK_THAT(message("shape_negative"), Contains("weight \"hidden/kernel\": shape [10,-16]"));
  CHECK_THAT(message("shape_overflow"),
             Contains("weight \"hidden/kernel\": shape [4294967296, 4294967296, 16] has more "
                      "elements than memory can hold"));
  CHECK_THAT(message("weight_duplicate"), Contains("weight \"norm/gamma\": listed twice"));
  CHECK_THAT(message("manifest_missing"), Contains("model.json has no \"weightsManifest\" array"));
  CHECK_THAT(message("model_json_truncated"), Contains("model.json is not valid JSON"));
  CHECK_THAT(message("weight_without_name"),
             Contains("weightsManifest[0] weight 4 has no \"name\""));
  for (const char* name : {"shape_past_end", "path_traversal", "manifest_missing"})
    CHECK_THAT(message(name), Contains(model));
}

TEST_CASE("tfjs: model.json needs naming::keras, and nests at most 128 levels") {
  CHECK_THROWS_WITH(
      tfm::load_weights<dense_norm>(tfjs_dir + "dense_norm/model.json", tfm::naming::pytorch),
      Contains("a TensorFlow.js model.json holds Keras names: pass naming::keras"));
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK_THROWS_WITH(tfm::io::tfjs_layers_model::from_json(
                        deep, [](const std::string&) { return std::vector<std::byte>{}; }),
                    Contains("model.json nests deeper than 128 levels at byte 128"));
}
