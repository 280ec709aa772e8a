// Keras models in the TensorFlow.js Layers format (model.json + shards), written by tfjs itself
// or, where tfjs cannot (MultiHeadAttention, quantisation), built in its documented layout by
// tools/keras_goldens/make_tfjs_model_fixtures.mjs. Each carries tfjs's output for a sample,
// which verify::on checks; the topology check is tested by declarations that differ from the
// file in one option each; the hostile files must be refused with a format_error.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/resource.h>
#include <sys/stat.h>

#include <typeformer/typeformer.hpp>

#include "export/exported_models.hpp"
#include "scratch_directory.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;
using Catch::Matchers::Contains;

namespace {
const std::string tfjs_dir = std::string(TYPEFORMER_TEST_DATA) + "/tfjs/";

template <class... Layers>
using vectors_model = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<10>, max_batch<2>, max_seq<6>>,
    Layers...>;

using hidden = tfm::dense<"hidden", 16, tfm::activations::relu>;
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
                  tfm::with_activation<tfm::activations::relu>>,
      tfm::dense<"out", 2>>;
  loads_and_verifies<conv_model>("conv1d");

  using valid_conv = tfm::model<
      tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<5>, max_batch<2>, max_seq<9>>,
      tfm::conv1d<"conv", 6, 3, tfm::with_activation<tfm::activations::relu>>,
      tfm::dense<"out", 2>>;
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
  CHECK(refusal<vectors_model<tfm::dense<"hidden", 32, tfm::activations::relu>, norm, out>>(
            "dense_norm") ==
        where + "layer \"hidden\": Dense units is 16 in model.json, the declaration has 32");
  CHECK(refusal<vectors_model<tfm::dense<"hidden", 16, tfm::activations::tanh>, norm, out>>(
            "dense_norm") == where +
                                 "layer \"hidden\": Dense activation is \"relu\" in model.json, "
                                 "the declaration has \"tanh\"");
  CHECK(refusal<vectors_model<hidden, tfm::layer_norm<"norm">, out>>("dense_norm") ==
        where +
            "layer \"norm\": LayerNormalization epsilon is 1e-05 in model.json, the "
            "declaration has 0.001");
  CHECK(
      refusal<vectors_model<hidden, norm,
                            tfm::dense<"out", 4, tfm::activations::linear, tfm::use_bias<false>>>>(
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

TEST_CASE("tfjs: a declaration's Keras values are JSON that reads back as the same value") {
  // keras::value keeps them as text; nlohmann's parse and its own values are the reference.
  const auto reads_back = [](const tfm::keras::value& v, const nlohmann::json& expected) {
    const nlohmann::json parsed = nlohmann::json::parse(v.json_text());
    return parsed == expected && parsed.dump() == expected.dump();
  };
  CHECK(reads_back(nullptr, nullptr));
  CHECK(reads_back(true, true));
  CHECK(reads_back(false, false));
  CHECK(reads_back(64, 64));
  CHECK(reads_back(-1, -1));
  CHECK(reads_back(std::numeric_limits<long long>::min(), std::numeric_limits<long long>::min()));
  CHECK(
      reads_back(std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max()));
  for (const double d : {1e-3, 1e-5, 1e-12, 0.1, 1.0 / 3.0, 6.02214076e23, -2.5, 0.0})
    CHECK(reads_back(d, d));
  CHECK(reads_back("tanh", "tanh"));
  CHECK(reads_back("a \"quoted\" back\\slash", "a \"quoted\" back\\slash"));
  CHECK(reads_back(tfm::keras::value::array({3}), nlohmann::json::array({3})));
  CHECK(reads_back(tfm::keras::value::array({-1, 2, 7}), nlohmann::json::array({-1, 2, 7})));
  CHECK(reads_back(tfm::keras::value::array({}), nlohmann::json::array()));
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
                 tfm::dense<"classifier", 3, tfm::activations::softmax>>;
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
  // A shard's own error names the model.json that listed it, then the shard.
  CHECK_THAT(message("shard_missing"),
             Catch::StartsWith(model + "shard_missing/model.json\": shard \"./model.weights.bin\": "
                                       "no such file"));
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

namespace {
namespace fs = std::filesystem;
using typeformer_test::file_text;
using typeformer_test::scratch_directory;

nlohmann::json dense_norm_json() {
  return nlohmann::json::parse(file_text(tfjs_dir + "dense_norm/model.json"));
}
std::string dense_norm_shard() { return file_text(tfjs_dir + "dense_norm/model.weights.bin"); }

std::vector<std::byte> as_bytes(const std::string& text) {
  std::vector<std::byte> bytes(text.size());
  if (!text.empty()) std::memcpy(bytes.data(), text.data(), text.size());
  return bytes;
}

// dense_norm's model.json, edited, read with its real shard.
tfm::io::tfjs_layers_model edited_model(const nlohmann::json& j) {
  const std::vector<std::byte> shard = as_bytes(dense_norm_shard());
  return tfm::io::tfjs_layers_model::from_json(
      j.dump(), [&](const std::string&) { return shard; }, "model.json");
}

template <class Call>
std::string error_of(Call call) {
  try {
    call();
  } catch (const tfm::error& e) {
    return e.what();
  }
  return "(no error)";
}

nlohmann::json& self_test_of(nlohmann::json& j) {
  return j["userDefinedMetadata"]["typeformer_selftest"];
}

// The same layers as dense_norm, with no declared maximum batch or sequence length.
using undeclared_dense_norm =
    tfm::model<tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<10>>, hidden, norm, out>;
}  // namespace

TEST_CASE("tfjs: shards that are symbolic links may not leave the model's directory") {
  const scratch_directory dir("typeformer-tfjs-links");
  fs::create_directories(dir / "model");
  dir.write("model/model.json", dense_norm_json().dump());
  dir.write("outside/model.weights.bin", dense_norm_shard());
  const auto model_json = dir / "model/model.json";
  const auto open = [&](const fs::path& root = {}) {
    return error_of([&] { (void)tfm::io::tfjs_layers_model::open(model_json, root); });
  };
  // A shard that links to a file outside: refused, whatever the file is.
  fs::create_symlink("../outside/model.weights.bin", dir / "model/model.weights.bin");
  CHECK_THAT(open(), Contains("shard \"./model.weights.bin\" resolves to \"" +
                              fs::canonical(dir / "outside/model.weights.bin").string() +
                              "\", outside \"" + fs::canonical(dir / "model").string() + "\""));
  // ... unless the caller names a root that holds it.
  CHECK(open(dir.path()) == "(no error)");
  CHECK_NOTHROW(tfm::load_weights<dense_norm>(model_json, tfm::naming::keras, tfm::verify::on,
                                              {.symlink_root = dir.path()}));
  // A directory link used as a path component: sub -> / makes sub/etc/passwd /etc/passwd.
  fs::create_symlink("/", dir / "model/sub");
  nlohmann::json j = dense_norm_json();
  j["weightsManifest"][0]["paths"][0] = "sub/etc/passwd";
  dir.write("model/model.json", j.dump());
  CHECK_THAT(open(), Contains("shard \"sub/etc/passwd\" resolves to \"/etc/passwd\", outside"));
  // A link to a device is refused as outside; inside a root that holds it, as not regular.
  fs::create_symlink("/dev/zero", dir / "model/zero.bin");
  j["weightsManifest"][0]["paths"][0] = "zero.bin";
  dir.write("model/model.json", j.dump());
  CHECK_THAT(open(), Contains("shard \"zero.bin\" resolves to \"/dev/zero\", outside"));
  CHECK_THAT(open("/"), Contains("shard \"zero.bin\": is a character device, not a regular file"));
  // A FIFO beside model.json: refused without blocking in open().
  REQUIRE(::mkfifo((dir / "model/fifo.bin").c_str(), 0600) == 0);
  j["weightsManifest"][0]["paths"][0] = "fifo.bin";
  dir.write("model/model.json", j.dump());
  CHECK_THAT(open(), Contains("shard \"fifo.bin\": is a FIFO (named pipe), not a regular file"));
  // model.json itself must be a regular file.
  CHECK_THAT(error_of([&] { (void)tfm::io::tfjs_layers_model::open(dir / "model/fifo.bin"); }),
             Contains("model.json: is a FIFO (named pipe), not a regular file"));
  CHECK_THAT(error_of([&] { (void)tfm::io::tfjs_layers_model::open("/dev/zero"); }),
             Contains("model.json: is a character device, not a regular file"));
}

TEST_CASE("tfjs: a Hugging Face cache snapshot, whose files link to ../../blobs/, loads") {
  const scratch_directory dir("typeformer-tfjs-hf");
  const fs::path repository = dir / "models--example--dense_norm";
  dir.write("models--example--dense_norm/blobs/3a1f", dense_norm_json().dump());
  dir.write("models--example--dense_norm/blobs/9c2e", dense_norm_shard());
  fs::create_directories(repository / "snapshots/0123abcd");
  fs::create_symlink("../../blobs/3a1f", repository / "snapshots/0123abcd/model.json");
  fs::create_symlink("../../blobs/9c2e", repository / "snapshots/0123abcd/model.weights.bin");
  const fs::path model_json = repository / "snapshots/0123abcd/model.json";
  CHECK(tfm::io::default_symlink_root(model_json) == fs::absolute(repository).lexically_normal());
  CHECK_NOTHROW(tfm::load_weights<dense_norm>(model_json, tfm::naming::keras, tfm::verify::on));
  // A blob that links out of the repository is still refused.
  fs::remove(repository / "blobs/9c2e");
  fs::create_symlink("/etc/passwd", repository / "blobs/9c2e");
  CHECK_THAT(error_of([&] { (void)tfm::io::tfjs_layers_model::open(model_json); }),
             Contains("resolves to \"/etc/passwd\", outside \"" +
                      fs::canonical(repository).string() + "\""));
}

TEST_CASE("tfjs: a shard is read once: listed twice by name, or the same file by two names") {
  const scratch_directory dir("typeformer-tfjs-repeat");
  dir.write("model.weights.bin", dense_norm_shard());
  nlohmann::json j = dense_norm_json();
  // Two groups: the first takes dense_norm's six weights, the second lists the same shard.
  nlohmann::json second = j["weightsManifest"][0];
  for (auto& w : second["weights"]) w["name"] = "again/" + w["name"].get<std::string>();
  j["weightsManifest"].push_back(second);
  const auto refusal = [&](const std::string& first, const std::string& other) {
    j["weightsManifest"][0]["paths"][0] = first;
    j["weightsManifest"][1]["paths"][0] = other;
    dir.write("model.json", j.dump());
    return error_of([&] { (void)tfm::io::tfjs_layers_model::open(dir / "model.json"); });
  };
  CHECK_THAT(refusal("model.weights.bin", "model.weights.bin"),
             Contains("weightsManifest[1]: shard path \"model.weights.bin\" is listed twice"));
  CHECK_THAT(refusal("./model.weights.bin", "model.weights.bin"), Contains("is listed twice"));
  fs::create_symlink("model.weights.bin", dir / "alias.bin");
  CHECK_THAT(refusal("model.weights.bin", "alias.bin"),
             Contains("shard \"alias.bin\": is the same file as shard \"model.weights.bin\""));
  fs::create_hard_link(dir / "model.weights.bin", dir / "hard.bin");
  CHECK_THAT(refusal("model.weights.bin", "hard.bin"), Contains("is the same file as shard"));
  // The sizes are checked before anything is read, and a message lists a few shards only.
  j = dense_norm_json();
  nlohmann::json many = nlohmann::json::array();
  for (int i = 0; i < 100; ++i) {
    const std::string name = "empty" + std::to_string(i) + ".bin";
    dir.write(name, "");
    many.push_back(name);
  }
  j["weightsManifest"][0]["paths"] = many;
  dir.write("model.json", j.dump());
  const std::string message =
      error_of([&] { (void)tfm::io::tfjs_layers_model::open(dir / "model.json"); });
  CHECK_THAT(message, Contains("weight \"hidden/kernel\": needs bytes [0, 640) of the shards "
                               "\"empty0.bin\" + \"empty1.bin\" + \"empty2.bin\" + \"empty3.bin\" "
                               "and 96 more, which hold 0"));
}

TEST_CASE("tfjs: a model split into more shards than the process may hold open loads") {
  // 1104 one-byte shards under a limit of 64 open files: each shard is closed after its size is
  // taken and opened again to be read, and the weights are those of the single-shard model.
  const scratch_directory dir("typeformer-tfjs-many");
  const std::string bytes = dense_norm_shard();
  nlohmann::json j = dense_norm_json();
  nlohmann::json paths = nlohmann::json::array();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const std::string name = "part" + std::to_string(i) + ".bin";
    dir.write(name, bytes.substr(i, 1));
    paths.push_back(name);
  }
  j["weightsManifest"][0]["paths"] = paths;
  dir.write("model.json", j.dump());
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit low = saved;
  low.rlim_cur = 64;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::string error;
  std::optional<tfm::io::tfjs_layers_model> split;
  try {
    split.emplace(tfm::io::tfjs_layers_model::open(dir / "model.json"));
  } catch (const tfm::error& e) {
    error = e.what();
  }
  ::setrlimit(RLIMIT_NOFILE, &saved);
  REQUIRE(error.empty());
  const tfm::io::tfjs_layers_model whole =
      tfm::io::tfjs_layers_model::open(tfjs_dir + "dense_norm/model.json");
  for (const auto& stored : whole.stored_weights())
    CHECK(split->weights().read_floats(stored.name) == whole.weights().read_floats(stored.name));
}

TEST_CASE("tfjs: duplicate layer names and duplicate JSON keys are refused") {
  nlohmann::json j = dense_norm_json();
  auto& layers = j["modelTopology"]["config"]["layers"];
  nlohmann::json impostor = layers[0];
  impostor["config"]["units"] = 999;
  impostor["config"]["activation"] = "tanh";
  layers.push_back(impostor);
  CHECK(
      error_of([&] { (void)edited_model(j); }) ==
      "tfjs model \"model.json\": modelTopology has two layers named \"hidden\" (Keras names each "
      "layer of a model once)");
  // nlohmann would keep the last of two keys; every typeformer reader refuses them.
  std::string text = dense_norm_json().dump();
  text.replace(text.find("\"units\":16"), 10, "\"units\":16,\"units\":999");
  const std::vector<std::byte> shard = as_bytes(dense_norm_shard());
  CHECK_THAT(error_of([&] {
               (void)tfm::io::tfjs_layers_model::from_json(
                   text, [&](const std::string&) { return shard; }, "model.json");
             }),
             Contains("model.json has the key \"units\" twice in one object"));
}

TEST_CASE("tfjs: a quantisation whose values overflow float is refused; big numbers become inf") {
  nlohmann::json j = nlohmann::json::parse(file_text(tfjs_dir + "dense_norm_uint8/model.json"));
  const std::string shard = file_text(tfjs_dir + "dense_norm_uint8/model.weights.bin");
  j["weightsManifest"][0]["weights"][0]["quantization"]["scale"] = 1e300;
  const std::vector<std::byte> bytes = as_bytes(shard);
  CHECK_THAT(error_of([&] {
               (void)tfm::io::tfjs_layers_model::from_json(
                   j.dump(), [&](const std::string&) { return bytes; }, "model.json");
             }),
             Contains("weight \"hidden/kernel\": quantization scale 1e+300 and min") &&
                 Contains("give values beyond float's range for uint8 values up to 255"));
  // A self-test value beyond float's range rounds to infinity (a plain cast would be UB).
  nlohmann::json k = dense_norm_json();
  self_test_of(k)["output"]["values"][0] = 1e300;
  self_test_of(k)["output"]["values"][1] = -1e300;
  const auto model = edited_model(k);
  const std::vector<float> output = model.weights().read_floats("selftest.output");
  CHECK(output[0] == std::numeric_limits<float>::infinity());
  CHECK(output[1] == -std::numeric_limits<float>::infinity());
}

TEST_CASE("tfjs: the self-test's extents are checked against the model before anything is sized") {
  const auto self_test_error = [](const nlohmann::json& j, auto model_tag) {
    using Model = typename decltype(model_tag)::type;
    return error_of([&] {
      (void)tfm::load_weights<Model>(edited_model(j), tfm::naming::keras, tfm::verify::on);
    });
  };
  // The shape, with as many zeros as it has elements (none for the hostile ones).
  const auto with_input_shape = [](std::vector<std::int64_t> shape) {
    nlohmann::json j = dense_norm_json();
    std::int64_t count = 1;
    for (const std::int64_t e : shape) count *= e;
    self_test_of(j)["input"]["shape"] = shape;
    self_test_of(j)["input"]["values"] = std::vector<float>(static_cast<std::size_t>(count));
    return j;
  };
  using declared = std::type_identity<dense_norm>;         // max_batch<2>, max_seq<6>
  using open = std::type_identity<undeclared_dense_norm>;  // no maximum
  const std::int64_t two_40 = std::int64_t{1} << 40, two_61 = std::int64_t{1} << 61;
  // Zero elements and one huge extent: a runner sized from these would take terabytes.
  CHECK_THAT(
      self_test_error(with_input_shape({two_40, 0, 10}), declared()),
      Contains("selftest.input has batch 1099511627776, more than the model's max_batch (2)"));
  CHECK_THAT(self_test_error(with_input_shape({two_61, 0, 10}), open()),
             Contains("selftest.input has batch 2305843009213693952, more than a self-test may "
                      "have where the model declares no max_batch (256)"));
  // 2^62 float32 values (× 0) overflow a byte size: no safetensors file can describe them.
  CHECK_THAT(self_test_error(with_input_shape({std::int64_t{1} << 62, 0, 10}), open()),
             Contains("typeformer_selftest.input: shape [4611686018427387904, 0, 10] has more "
                      "elements than memory can hold"));
  CHECK_THAT(
      self_test_error(with_input_shape({0, 1 << 20, 10}), open()),
      Contains("selftest.input has batch 0, expected at least 1 (a self-test needs a sample)"));
  CHECK_THAT(self_test_error(with_input_shape({1 << 21, 0, 10}), open()),
             Contains("more than a self-test may have where the model declares no max_batch"));
  CHECK_THAT(self_test_error(with_input_shape({2, 0, 10}), declared()),
             Contains("selftest.input has seq 0, expected at least 1"));
  CHECK_THAT(self_test_error(with_input_shape({2, 6, 0}), declared()),
             Contains("selftest.input has width 0, the model's input width is 10"));
  CHECK_THAT(self_test_error(with_input_shape({100, 200, 10}), open()),
             Contains("has 20000 positions (batch × seq), more than a self-test may have where "
                      "the model declares no maximum (16384)"));
  // Lengths, when present, are one per sequence: an empty list is not "absent".
  nlohmann::json j = dense_norm_json();
  self_test_of(j)["key_lengths"] = nlohmann::json::array();
  CHECK_THAT(
      self_test_error(j, declared()),
      Contains("selftest.key_lengths has shape [0], expected [2] (one length per sequence)"));
  // The sample itself still passes on both declarations.
  CHECK(self_test_error(dense_norm_json(), declared()) == "(no error)");
  CHECK(self_test_error(dense_norm_json(), open()) == "(no error)");
}

TEST_CASE("self-test: a tolerance is a plain decimal number") {
  // dense_norm's weights and self-test as a safetensors file, with the tolerance rewritten.
  const auto model = tfm::io::tfjs_layers_model::open(tfjs_dir + "dense_norm/model.json");
  const auto with_atol = [&](const std::string& atol) {
    tfm::io::safetensors_writer writer;
    for (const auto& t : model.weights().tensors())
      writer.add(t.name, t.type, t.shape, model.weights().raw_bytes(t.name));
    for (const auto& [key, value] : model.weights().metadata()) writer.set_metadata(key, value);
    writer.set_metadata("selftest.atol", atol);
    return error_of([&] {
      (void)tfm::load_weights<dense_norm>(
          tfm::io::safetensors_file::from_bytes(writer.to_bytes(), "w.safetensors"),
          tfm::naming::keras, tfm::verify::on);
    });
  };
  CHECK(with_atol("1e-5") == "(no error)");
  CHECK(with_atol("0.00001") == "(no error)");
  for (const char* bad : {" 0.1", "0x1p-3", "1e-5\n", "+0.1", "inf", "nan", "-1", "", "1,5"}) {
    CAPTURE(bad);
    CHECK_THAT(with_atol(bad), Contains("__metadata__ \"selftest.atol\" is \"") &&
                                   Contains("expected a non-negative decimal number"));
  }
}
