#pragma once
// tfjs_layers_model: a Keras model saved in the TensorFlow.js Layers format -- model.json (the
// Keras topology and a weightsManifest) plus binary weight shards beside it -- as written by
// tfjs's model.save() and by `tensorflowjs_converter --input_format keras`.
//
// The manifest is a list of groups; each group's shards, concatenated in order, hold its
// weights back to back in manifest order (a tensor may straddle two shards). A weight is
// float32 or int32 as stored, or quantised (`quantization` {dtype float16 | uint8 | uint16,
// scale, min}) and dequantised here as tfjs-core's io.decodeWeights does: q * scale + min, or
// IEEE half to float. The result is presented as an in-memory safetensors_file of F32 (and I32)
// tensors under the manifest's names, so load_weights and its checks apply unchanged.
//
// A self-test, when the exporter wrote one, sits in model.json's userDefinedMetadata:
//   "typeformer_selftest": {"input": {"dtype", "shape", "values"}, "output": {...},
//                           "key_lengths": [...]?, "causal": bool?, "atol": x, "rtol": y}
// and becomes the selftest.* tensors and metadata that verify::on reads.
//
// Every defect is a format_error naming model.json or the shard and the weight: a path that
// leaves the model's directory, a missing or short shard, trailing bytes, an unknown dtype or
// quantisation, a negative or overflowing shape, a duplicate name, JSON nested too deep.

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/core/weight_source.hpp>
#include <typeformer/io/crc32.hpp>
#include <typeformer/io/half.hpp>
#include <typeformer/io/json_depth.hpp>
#include <typeformer/io/safetensors_reader.hpp>
#include <typeformer/io/safetensors_writer.hpp>

namespace typeformer::io {

class tfjs_layers_model {
 public:
  /// model.json is at most this large; its JSON nests at most max_depth deep.
  static constexpr std::size_t max_json_bytes = std::size_t{64} << 20;
  static constexpr std::size_t max_depth = 128;

  /// Reads model.json and every shard it names (relative to its directory).
  static tfjs_layers_model open(const std::filesystem::path& model_json) {
    const std::string source = model_json.string();
    const std::string where = detail::concat("tfjs model ", detail::quote_name(source), ": ");
    std::error_code ec;
    const auto size = std::filesystem::file_size(model_json, ec);
    if (!ec && size > max_json_bytes)
      throw format_error(detail::concat(where, "model.json has ", std::to_string(size),
                                        " bytes, more than the ", std::to_string(max_json_bytes),
                                        " accepted"));
    const std::vector<std::byte> bytes = detail::read_file_bytes(model_json, source);
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const std::filesystem::path directory = model_json.parent_path();
    return tfjs_layers_model(text, source, [&](const std::string& shard) {
      return detail::read_file_bytes(directory / shard, (directory / shard).string());
    });
  }

  /// model.json's text given in memory; `read_shard(path)` returns a shard's bytes (a path
  /// already checked to stay inside the model's directory).
  template <class ReadShard>
  static tfjs_layers_model from_json(std::string_view text, ReadShard read_shard,
                                     std::string source_name = "<memory>") {
    return tfjs_layers_model(text, std::move(source_name), read_shard);
  }

  /// The weights (dequantised to F32) and the self-test, as a safetensors file in memory.
  const safetensors_file& weights() const noexcept { return *weights_; }
  /// The Keras model config: {"class_name": ..., "config": {"layers": [...], ...}}.
  const nlohmann::json& topology() const noexcept { return topology_; }
  /// The layers of the topology, each {"class_name", "config", "inbound_nodes"?}.
  const nlohmann::json& layers() const noexcept { return topology_.at("config").at("layers"); }
  const std::string& source() const noexcept { return source_; }

  /// A weight as the shards store it (before dequantisation), for listings.
  struct stored_weight {
    std::string name;
    std::string dtype;  // "float32", "int32", "uint8 (quantised float32)", ...
    std::vector<std::int64_t> shape;
    std::size_t bytes;
    std::uint32_t crc32;  // of the stored bytes, as zlib.crc32 computes it
  };
  /// Every weight in manifest order.
  const std::vector<stored_weight>& stored_weights() const noexcept { return stored_; }
  /// Layers whose recorded call (inbound_nodes) says use_causal_mask, with its value. The mask
  /// is a call argument in Keras as in typeformer, so no declaration can be checked against
  /// it: a runner must be given masks::causal where this says true. A Sequential model records
  /// no calls, so this is empty and causality cannot be read from the file.
  const std::vector<std::pair<std::string, bool>>& causal_calls() const noexcept {
    return causal_calls_;
  }

 private:
  template <class ReadShard>
  tfjs_layers_model(std::string_view text, std::string source, const ReadShard& read_shard)
      : source_(std::move(source)) {
    check_depth(text);
    nlohmann::json root;
    try {
      root = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {  // also out_of_range: a number beyond double
      fail("model.json is not valid JSON: ", e.what());
    }
    if (!root.is_object()) fail("model.json is not a JSON object");
    read_topology(root);
    safetensors_writer out;
    read_manifest(root, read_shard, out);
    read_self_test(root, out);
    out.set_metadata("format", "tfjs layers-model");
    weights_ = safetensors_file::from_bytes(out.to_bytes(), source_);
  }

  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw format_error(detail::concat("tfjs model ", detail::quote_name(source_), ": ", parts...));
  }

  void check_depth(std::string_view text) const {
    if (const auto at = detail::json_too_deep_at(text, max_depth))
      fail("model.json nests deeper than ", std::to_string(max_depth), " levels at byte ",
           std::to_string(*at));
  }

  // model.save() stores the model config itself; tensorflowjs_converter wraps it in
  // {"keras_version", "backend", "model_config": ...}.
  void read_topology(const nlohmann::json& root) {
    const auto found = root.find("modelTopology");
    if (found == root.end() || !found->is_object())
      fail(
          "model.json has no \"modelTopology\" object (a weights-only manifest cannot be "
          "checked against the model's type)");
    const nlohmann::json& outer = *found;
    const auto inner = outer.find("model_config");
    topology_ = inner != outer.end() ? *inner : outer;
    if (!topology_.is_object() || !topology_.contains("class_name") ||
        !topology_["class_name"].is_string() || !topology_.contains("config") ||
        !topology_["config"].is_object())
      fail("modelTopology has no \"class_name\" and \"config\"");
    const nlohmann::json& config = topology_["config"];
    if (!config.contains("layers") || !config["layers"].is_array())
      fail("modelTopology's config has no \"layers\" array");
    for (const nlohmann::json& layer : config["layers"]) {
      if (!layer.is_object() || !layer.contains("class_name") || !layer["class_name"].is_string() ||
          !layer.contains("config") || !layer["config"].is_object() ||
          !layer["config"].contains("name") || !layer["config"]["name"].is_string())
        fail("modelTopology has a layer without a class_name, a config or a name: ",
             layer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).substr(0, 200));
      if (const auto nodes = layer.find("inbound_nodes"); nodes != layer.end())
        if (const auto causal = find_causal_flag(*nodes))
          causal_calls_.emplace_back(layer["config"]["name"].get<std::string>(), *causal);
    }
  }

  // Keras 2 keeps call kwargs in [[[name, 0, 0, {kwargs}]]], Keras 3 in [{"kwargs": {...}}].
  static std::optional<bool> find_causal_flag(const nlohmann::json& j) {
    if (j.is_object()) {
      if (const auto f = j.find("use_causal_mask"); f != j.end() && f->is_boolean())
        return f->get<bool>();
      for (const auto& [key, value] : j.items())
        if (const auto found = find_causal_flag(value)) return found;
    } else if (j.is_array()) {
      for (const nlohmann::json& e : j)
        if (const auto found = find_causal_flag(e)) return found;
    }
    return std::nullopt;
  }

  struct stored_as {
    std::string_view dtype;  // what is in the shard: float32, int32, float16, uint8, uint16
    std::size_t width;
  };

  template <class ReadShard>
  void read_manifest(const nlohmann::json& root, const ReadShard& read_shard,
                     safetensors_writer& out) {
    const auto manifest = root.find("weightsManifest");
    if (manifest == root.end() || !manifest->is_array())
      fail("model.json has no \"weightsManifest\" array");
    std::set<std::string> names;
    for (std::size_t g = 0; g < manifest->size(); ++g) {
      const nlohmann::json& group = (*manifest)[g];
      const std::string at = detail::concat("weightsManifest[", std::to_string(g), "]");
      if (!group.is_object() || !group.contains("paths") || !group["paths"].is_array() ||
          !group.contains("weights") || !group["weights"].is_array())
        fail(at, " needs a \"paths\" array and a \"weights\" array");
      std::vector<std::byte> data;
      std::string shards;  // for messages
      for (const nlohmann::json& path : group["paths"]) {
        if (!path.is_string()) fail(at, ": a path is not a string");
        const std::string shard = checked_shard_path(path.get<std::string>(), at);
        std::vector<std::byte> bytes = read_shard(shard);
        data.insert(data.end(), bytes.begin(), bytes.end());
        shards += detail::concat(shards.empty() ? "" : " + ", detail::quote_name(shard));
      }
      std::size_t offset = 0, index = 0;
      for (const nlohmann::json& weight : group["weights"]) {
        ++index;
        if (!weight.is_object() || !weight.contains("name") || !weight["name"].is_string())
          fail(at, " weight ", std::to_string(index), " has no \"name\"");
        const std::string name = weight["name"].get<std::string>();
        const std::string who = detail::concat(at, " weight ", detail::quote_name(name), ": ");
        if (!names.insert(name).second) fail(who, "listed twice");
        const std::vector<std::int64_t> shape = checked_shape(weight, who);
        const std::size_t count = checked_count(shape, who);
        const auto [stored, quantization] = storage_of(weight, who);
        if (count > (std::numeric_limits<std::size_t>::max() - offset) / stored.width)
          fail(who, "its size overflows");
        const std::size_t bytes = count * stored.width;
        if (offset + bytes > data.size())
          fail(who, "needs bytes [", std::to_string(offset), ", ", std::to_string(offset + bytes),
               ") of the shards ", shards, ", which hold ", std::to_string(data.size()));
        add_weight(out, name, shape, count, stored, quantization, data.data() + offset);
        stored_.push_back({name,
                           quantization || stored.dtype == "float16"
                               ? detail::concat(stored.dtype, " (quantised float32)")
                               : std::string(stored.dtype),
                           shape, bytes,
                           crc32(std::span<const std::byte>(data).subspan(offset, bytes))});
        offset += bytes;
      }
      if (offset != data.size())
        fail(at, ": the shards ", shards, " hold ", std::to_string(data.size()),
             " bytes, the weights use ", std::to_string(offset), " (",
             std::to_string(data.size() - offset), " bytes left over)");
    }
  }

  // A shard is a file beside model.json or below it: never an absolute path, never "..".
  std::string checked_shard_path(const std::string& path, const std::string& at) const {
    const std::filesystem::path p(path);
    bool escapes = path.empty() || p.is_absolute() || p.has_root_name() || p.has_root_directory() ||
                   path.find('\\') != std::string::npos || path.find('\0') != std::string::npos;
    for (const auto& part : p)
      if (part == "..") escapes = true;
    if (escapes)
      fail(at, ": shard path ", detail::quote_name(path),
           " is not a relative path inside the model's directory");
    return path;
  }

  std::vector<std::int64_t> checked_shape(const nlohmann::json& weight,
                                          const std::string& who) const {
    if (!weight.contains("shape") || !weight["shape"].is_array()) fail(who, "no \"shape\" array");
    std::vector<std::int64_t> shape;
    for (const nlohmann::json& e : weight["shape"]) {
      if (!e.is_number_integer() || e.get<std::int64_t>() < 0)
        fail(who, "shape ", weight["shape"].dump(),
             " holds a value that is not a non-negative "
             "integer");
      shape.push_back(e.get<std::int64_t>());
    }
    return shape;
  }

  std::size_t checked_count(const std::vector<std::int64_t>& shape, const std::string& who) const {
    std::size_t count = 1;
    for (const std::int64_t e : shape) {
      const auto extent = static_cast<std::size_t>(e);
      if (extent != 0 && count > std::numeric_limits<std::size_t>::max() / extent)
        fail(who, "shape ", typeformer::detail::shape_text(shape),
             " has more elements than memory can hold");
      count *= extent;
    }
    return count;
  }

  struct affine {
    double scale = 1, min = 0;
  };

  std::pair<stored_as, std::optional<affine>> storage_of(const nlohmann::json& weight,
                                                         const std::string& who) const {
    if (!weight.contains("dtype") || !weight["dtype"].is_string()) fail(who, "no \"dtype\"");
    const std::string dtype = weight["dtype"].get<std::string>();
    if (dtype != "float32" && dtype != "int32")
      fail(who, "dtype ", detail::quote_name(dtype),
           " is not one typeformer reads (float32, int32; bool, string and complex64 are not "
           "weights of the layers it implements)");
    const auto q = weight.find("quantization");
    if (q == weight.end()) return {{dtype == "float32" ? "float32" : "int32", 4}, std::nullopt};
    if (!q->is_object() || !q->contains("dtype") || !(*q)["dtype"].is_string())
      fail(who, "\"quantization\" has no dtype");
    const std::string kind = (*q)["dtype"].get<std::string>();
    if (dtype != "float32")
      fail(who, "quantisation of a ", dtype, " weight is not supported (only float32)");
    if (kind == "float16") return {{"float16", 2}, std::nullopt};
    if (kind != "uint8" && kind != "uint16")
      fail(who, "quantization dtype ", detail::quote_name(kind),
           " is not one tfjs writes (float16, uint8, uint16)");
    const auto number = [&](const char* field) {
      const auto f = q->find(field);
      if (f == q->end() || !f->is_number() || !std::isfinite(f->get<double>()))
        fail(who, "quantization has no finite \"", field, "\"");
      return f->get<double>();
    };
    return {{kind == "uint8" ? "uint8" : "uint16", kind == "uint8" ? std::size_t{1} : 2},
            affine{number("scale"), number("min")}};
  }

  static std::uint32_t little_endian(const std::byte* p, std::size_t width) noexcept {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < width; ++i)
      v |= std::uint32_t(std::to_integer<unsigned>(p[i])) << (8 * i);
    return v;
  }

  void add_weight(safetensors_writer& out, const std::string& name,
                  const std::vector<std::int64_t>& shape, std::size_t count, stored_as stored,
                  const std::optional<affine>& quantization, const std::byte* data) const {
    if (stored.dtype == "int32") {
      std::vector<std::int64_t> values(count);
      for (std::size_t i = 0; i < count; ++i)
        values[i] = static_cast<std::int32_t>(little_endian(data + 4 * i, 4));
      out.add_integers(name, shape, values, dtype::i32);
      return;
    }
    std::vector<float> values(count);
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint32_t bits = little_endian(data + stored.width * i, stored.width);
      if (stored.dtype == "float32")
        values[i] = std::bit_cast<float>(bits);
      else if (stored.dtype == "float16")
        values[i] = f16_to_float(static_cast<std::uint16_t>(bits));
      else  // as tfjs-core's decodeWeights: in double, rounded to float once
        values[i] =
            static_cast<float>(static_cast<double>(bits) * quantization->scale + quantization->min);
    }
    out.add_floats(name, shape, values);
  }

  void read_self_test(const nlohmann::json& root, safetensors_writer& out) const {
    const auto meta = root.find("userDefinedMetadata");
    if (meta == root.end() || !meta->is_object()) return;
    const auto test = meta->find("typeformer_selftest");
    if (test == meta->end()) return;
    const std::string at = "userDefinedMetadata.typeformer_selftest";
    if (!test->is_object()) fail(at, " is not an object");
    for (const char* part : {"input", "output"}) {
      const auto t = test->find(part);
      if (t == test->end()) continue;  // verify::on reports what is missing
      add_sample(out, detail::concat("selftest.", part), *t, detail::concat(at, ".", part, ": "));
    }
    if (const auto lengths = test->find("key_lengths"); lengths != test->end()) {
      if (!lengths->is_array()) fail(at, ".key_lengths is not an array");
      std::vector<std::int64_t> values;
      for (const nlohmann::json& n : *lengths) {
        if (!n.is_number_integer()) fail(at, ".key_lengths holds a non-integer");
        values.push_back(n.get<std::int64_t>());
      }
      out.add_integers("selftest.key_lengths", {static_cast<std::int64_t>(values.size())}, values);
    }
    for (const char* field : {"atol", "rtol"}) {
      const auto f = test->find(field);
      if (f == test->end()) continue;
      if (!f->is_number()) fail(at, ".", field, " is not a number");
      out.set_metadata(detail::concat("selftest.", field), f->dump());
    }
    // Without an explicit flag, the sample runs as the recorded call did.
    bool causal = false;
    for (const auto& [layer, flag] : causal_calls_) causal = causal || flag;
    if (const auto explicit_flag = test->find("causal"); explicit_flag != test->end()) {
      if (!explicit_flag->is_boolean()) fail(at, ".causal is not true or false");
      causal = explicit_flag->get<bool>();
    }
    if (causal) out.set_metadata("selftest.causal", "true");
  }

  void add_sample(safetensors_writer& out, const std::string& name, const nlohmann::json& sample,
                  const std::string& who) const {
    if (!sample.is_object() || !sample.contains("shape") || !sample.contains("values") ||
        !sample["values"].is_array())
      fail(who, "needs \"shape\" and \"values\"");
    const std::vector<std::int64_t> shape = checked_shape(sample, who);
    const std::size_t count = checked_count(shape, who);
    const nlohmann::json& values = sample["values"];
    if (values.size() != count)
      fail(who, "holds ", std::to_string(values.size()), " values, its shape ",
           typeformer::detail::shape_text(shape), " needs ", std::to_string(count));
    const std::string dtype = sample.contains("dtype") && sample["dtype"].is_string()
                                  ? sample["dtype"].get<std::string>()
                                  : "float32";
    if (dtype == "int32") {
      std::vector<std::int64_t> ids;
      for (const nlohmann::json& v : values) {
        if (!v.is_number_integer()) fail(who, "an int32 value is not an integer");
        ids.push_back(v.get<std::int64_t>());
      }
      out.add_integers(name, shape, ids, dtype::i32);
    } else if (dtype == "float32") {
      std::vector<float> floats;
      for (const nlohmann::json& v : values) {
        if (!v.is_number()) fail(who, "a value is not a number");
        floats.push_back(static_cast<float>(v.get<double>()));
      }
      out.add_floats(name, shape, floats);
    } else {
      fail(who, "dtype ", detail::quote_name(dtype), " is not float32 or int32");
    }
  }

  std::string source_;
  nlohmann::json topology_;
  std::vector<std::pair<std::string, bool>> causal_calls_;
  std::optional<safetensors_file> weights_;  // set by every constructor that returns
  std::vector<stored_weight> stored_;
};

}  // namespace typeformer::io
