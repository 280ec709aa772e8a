// Weight manifests (io/weight_manifest.hpp) and the CRC-32 typeformer-inspect prints: a
// manifest reports a file's problems in exactly the sentence load_weights throws, the first
// being the one it throws; a manifest survives its JSON round trip; a hostile manifest is a
// format_error naming the field.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <typeformer/io/crc32.hpp>
#include <typeformer/typeformer.hpp>

#include "scratch_directory.hpp"

namespace tfm = typeformer;
using namespace tfm::dims;
using Catch::Matchers::Contains;

namespace {

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

using attention = tfm::multi_head_attention<"self_attn", heads<2>, d_model<4>>;
using encoder = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<8>, max_batch<2>, max_seq<4>>,
    tfm::repeat<"layers", 2, tfm::transformer_encoder_layer<heads<2>, dim_feedforward<16>>>,
    tfm::layer_norm<"norm">>;

// A file holding `specs`, each filled with zeros, in the given dtype.
tfm::io::safetensors_file file_of(const std::vector<tfm::weight_spec>& specs,
                                  tfm::io::dtype type = tfm::io::dtype::f32) {
  tfm::io::safetensors_writer out;
  for (const tfm::weight_spec& w : specs) {
    std::size_t n = 1;
    for (const auto e : w.shape) n *= static_cast<std::size_t>(e);
    if (type == tfm::io::dtype::f32)
      out.add_floats(w.name, w.shape, std::vector<float>(n));
    else
      out.add_integers(w.name, w.shape, std::vector<std::int64_t>(n), type);
  }
  return tfm::io::safetensors_file::from_bytes(out.to_bytes(), "case.safetensors");
}

template <class Layer, class Naming>
std::string load_error(const tfm::io::safetensors_file& file, Naming naming,
                       const tfm::load_options& options = {}) {
  try {
    (void)tfm::load_weights<Layer>(file, naming, options);
  } catch (const tfm::weight_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("crc32: the standard check value, as zlib.crc32 computes it") {
  CHECK(tfm::io::crc32(bytes_of("123456789")) == 0xCBF43926u);
  CHECK(tfm::io::crc32(bytes_of("")) == 0u);
  CHECK(tfm::io::crc32(bytes_of("The quick brown fox jumps over the lazy dog")) == 0x414FA339u);
  // Continued over two spans: the same as over one.
  CHECK(tfm::io::crc32(bytes_of("56789"), tfm::io::crc32(bytes_of("1234"))) == 0xCBF43926u);
  static_assert(tfm::io::crc32(std::span<const std::byte>{}) == 0u);
}

TEST_CASE("manifest: the tensors load_weights expects, and its JSON round trip") {
  const tfm::weight_manifest m = tfm::manifest<encoder>(tfm::naming::pytorch);
  CHECK(m.layer == "model");
  CHECK(m.naming == "pytorch");
  CHECK(m.parameter_count == encoder::parameter_count);
  const auto expected = encoder::expected_weights(tfm::naming::pytorch, "");
  REQUIRE(m.tensors.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(m.tensors[i].name == expected[i].name);
    CHECK(m.tensors[i].shape == expected[i].shape);
  }
  const tfm::weight_manifest back = tfm::weight_manifest::from_json(m.to_json());
  CHECK(back.to_json() == m.to_json());
  CHECK(back.options.ignore_prefixes == m.options.ignore_prefixes);

  const auto keras = tfm::manifest<attention>(tfm::naming::keras, {.prefix = "block/mha/"});
  CHECK(keras.layer == "multi_head_attention \"self_attn\"");
  CHECK(keras.tensors.front().name == "block/mha/query/kernel");
  CHECK(tfm::weight_manifest::from_json(keras.to_json()).options.prefix == "block/mha/");
}

TEST_CASE("manifest: a good file has no mismatch; a bad one, load_weights's own sentences") {
  const tfm::weight_manifest m = tfm::manifest<encoder>(tfm::naming::pytorch);
  std::vector<tfm::weight_spec> specs = m.tensors;
  CHECK(m.mismatches(file_of(specs)).empty());
  CHECK(load_error<encoder>(file_of(specs), tfm::naming::pytorch).empty());

  SECTION("each kind of mismatch") {
    struct edit {
      const char* what;
      std::vector<tfm::weight_spec> specs;
      tfm::io::dtype type = tfm::io::dtype::f32;
    };
    std::vector<edit> edits;
    auto missing = specs;
    missing.erase(missing.begin() + 3);
    edits.push_back({"missing tensor", missing});
    auto reshaped = specs;
    reshaped[5].shape.back() += 1;
    edits.push_back({"has shape", reshaped});
    auto extra = specs;
    extra.push_back({"layers.2.norm1.weight", {8}});
    edits.push_back({"unexpected tensor", extra});
    auto bias_kv = specs;
    bias_kv.push_back({"layers.0.self_attn.bias_k", {1, 1, 8}});
    edits.push_back({"add_bias_kv=True", bias_kv});
    edits.push_back({"has dtype I32", specs, tfm::io::dtype::i32});
    auto several = missing;
    several[0].shape = {1};
    several.push_back({"extra", {2, 2}});
    edits.push_back({"has shape [1]", several});
    for (const edit& e : edits) {
      INFO(e.what);
      const auto file = file_of(e.specs, e.type);
      const std::vector<std::string> found = m.mismatches(file);
      REQUIRE_FALSE(found.empty());
      CHECK(found.front() == load_error<encoder>(file, tfm::naming::pytorch));
      CHECK_THAT(found.front(), Contains(e.what));
      CHECK_THAT(found.front(), Contains("model (pytorch names) in case.safetensors: "));
    }
    // Every problem is listed, in load_weights's order: expected tensors first, then extras.
    const auto all = m.mismatches(file_of(several));
    REQUIRE(all.size() == 3);
    CHECK_THAT(all[0], Contains("has shape [1]"));
    CHECK_THAT(all[1], Contains("missing tensor"));
    CHECK_THAT(all[2], Contains("unexpected tensor \"extra\" with shape [2, 2]"));
  }

  SECTION("a layer read out of a larger file, under a prefix") {
    const tfm::load_options options{.prefix = "layers.0.self_attn.",
                                    .file_holds_other_layers = true};
    const auto layer = tfm::manifest<attention>(tfm::naming::pytorch, options);
    auto wrong = layer.tensors;
    wrong[1].shape = {7};
    wrong.push_back({"layers.1.other", {3}});  // another layer's: left alone
    wrong.push_back({"layers.0.self_attn.stray", {3}});
    const auto file = file_of(wrong);
    const auto found = layer.mismatches(file);
    REQUIRE(found.size() == 2);
    CHECK(found.front() == load_error<attention>(file, tfm::naming::pytorch, options));
    CHECK_THAT(found[1], Contains("unexpected tensor \"layers.0.self_attn.stray\""));
    CHECK_THAT(found[1], Contains("under \"layers.0.self_attn.\""));
  }
}

TEST_CASE("manifest: a hostile manifest is a format_error naming the field") {
  const std::string dir = std::string(TYPEFORMER_TEST_DATA) + "/manifest/hostile/";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"truncated.json", "not valid JSON"},
      {"negative_extent.json", "tensor \"w\" has extent -2, expected an integer in [0, 2^40]"},
      {"duplicate_tensor.json", "tensor \"w\" appears twice"},
      {"version_2.json", "version 2 is not supported (this build reads version 1)"},
      {"unknown_naming.json", "\"naming\" is \"onnx\", expected \"pytorch\" or \"keras\""},
      {"unknown_key.json", "unknown key \"dtype\""},
      {"not_a_manifest.json", "\"format\" is not \"typeformer.weight_manifest\""},
      {"too_deep.json", "JSON nests deeper than 16 levels at byte 27"},
      {"duplicate_key.json", "JSON has the key \"naming\" twice in one object"},
      {"empty_ignore_prefix.json",
       "\"ignore_prefixes\" holds \"\", which would ignore every tensor of a file"},
  };
  for (const auto& [file, message] : cases) {
    INFO(file);
    CHECK_THROWS_AS(tfm::weight_manifest::open(dir + file), tfm::format_error);
    CHECK_THROWS_WITH(
        tfm::weight_manifest::open(dir + file),
        Catch::StartsWith("weight manifest \"" + dir + file + "\": ") && Contains(message));
  }
  CHECK_THROWS_WITH(tfm::weight_manifest::open(dir + "no_such.json"), Contains("no such file"));
  CHECK_THROWS_WITH(tfm::weight_manifest::from_json("[1, 2]", "m.json"),
                    "weight manifest \"m.json\": not a JSON object");
  CHECK_THROWS_WITH(
      tfm::weight_manifest::from_json(R"({"format": "typeformer.weight_manifest", "version": 1})"),
      Contains("lacks \"layer\""));
}

TEST_CASE("manifest and model.json: a number beyond double is a format_error (found by fuzzing)") {
  // nlohmann reports it as out_of_range, not parse_error; both readers must still refuse it.
  CHECK_THROWS_AS(tfm::weight_manifest::from_json(R"({"version": 1e400})"), tfm::format_error);
  CHECK_THROWS_WITH(tfm::weight_manifest::from_json(R"({"version": -2.1e400})", "m.json"),
                    Catch::StartsWith("weight manifest \"m.json\": not valid JSON: "));
  const auto no_shards = [](const std::string&) { return std::vector<std::byte>{}; };
  CHECK_THROWS_WITH(
      tfm::io::tfjs_layers_model::from_json(R"({"weightsManifest": [], "x": 1e999})", no_shards,
                                            "model.json"),
      Catch::StartsWith("tfjs model \"model.json\": model.json is not valid JSON: ") &&
          Contains("number overflow"));
}

TEST_CASE(
    "manifest: a duplicate key, an empty ignore prefix or a file that is not regular is refused") {
  const tfm::weight_manifest m = tfm::manifest<encoder>(tfm::naming::pytorch);
  std::string json = m.to_json();
  // nlohmann alone would keep the last "naming"; a manifest, like every file read, refuses it.
  std::string twice = json;
  twice.replace(twice.find("\"naming\""), 0, "\"naming\": \"keras\", ");
  CHECK_THROWS_WITH(tfm::weight_manifest::from_json(twice, "m.json"),
                    Contains("weight manifest \"m.json\": JSON has the key \"naming\" twice in one "
                             "object"));
  // [""] would make every tensor "ignored", so --against would report a match for any file.
  const std::string_view prefix = "\"selftest.\"";
  const auto at = json.find(prefix);
  REQUIRE(at != std::string::npos);
  // Built by appending: replace() in place made GCC 12 warn of a memmove of SIZE_MAX bytes.
  const std::string empty_prefix =
      std::string(json, 0, at).append("\"\"").append(json, at + prefix.size());
  CHECK_THROWS_WITH(tfm::weight_manifest::from_json(empty_prefix, "m.json"),
                    Contains("\"ignore_prefixes\" holds \"\", which would ignore every tensor"));
  tfm::load_options options;
  options.ignore_prefixes = {""};
  CHECK_THAT(load_error<encoder>(file_of(encoder::expected_weights(tfm::naming::pytorch, "")),
                                 tfm::naming::pytorch, options),
             Contains("load_options::ignore_prefixes holds an empty prefix"));
  // Devices and FIFOs are refused before they are read (or block).
  const typeformer_test::scratch_directory dir("typeformer-manifest");
  REQUIRE(::mkfifo((dir / "fifo.json").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(tfm::weight_manifest::open(dir / "fifo.json"),
                    Contains("is a FIFO (named pipe), not a regular file"));
  CHECK_THROWS_WITH(tfm::weight_manifest::open("/dev/zero"),
                    "weight manifest \"/dev/zero\": is a character device, not a regular file");
}
