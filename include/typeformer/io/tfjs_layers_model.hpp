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
// Every defect is a format_error naming model.json (and the shard and the weight when there is
// one): a shard path that is not relative, climbs out with "..", or resolves through a symbolic
// link to a file outside the model's directory (io/contained_path.hpp); a shard that is not a
// regular file, is missing, short or too long, or is listed twice (by name or as the same file);
// an unknown dtype or quantisation, or one whose values overflow float; a negative or
// overflowing shape; a duplicate weight name or layer name; a duplicate JSON key; JSON nested
// too deep or holding too many values. Every shard's size is checked against what the
// manifest describes before any shard is read.

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
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
#include <typeformer/io/compiled_io.hpp>
#include <typeformer/io/contained_path.hpp>
#include <typeformer/io/crc32.hpp>
#include <typeformer/io/half.hpp>
#include <typeformer/io/regular_file.hpp>
#include <typeformer/io/safetensors_reader.hpp>
#include <typeformer/io/safetensors_writer.hpp>
#include <typeformer/io/untrusted_json.hpp>

namespace typeformer::io {

namespace detail {

/// What the model.json reader takes of a model's shards: the files beside model.json or the
/// caller's function. Virtual so that the reader is compiled once (src/compiled_io.cpp), whatever
/// function a caller gives. At namespace scope, not in the reader's class: as a member class its
/// vtable was left to the class's explicit instantiation in src/compiled_io.cpp, where clang 14
/// did not emit it (a link error in the ASan build); here each unit that needs it emits it.
struct tfjs_shard_source {
  virtual std::size_t count() const noexcept = 0;
  virtual std::uint64_t size(const std::string& shard) = 0;
  virtual void read(std::size_t index, std::span<std::byte> out) = 0;

 protected:
  tfjs_shard_source() = default;
  tfjs_shard_source(const tfjs_shard_source&) = default;
  tfjs_shard_source& operator=(const tfjs_shard_source&) = default;
  ~tfjs_shard_source() = default;
};

}  // namespace detail

// A class template only so that its members, and the JSON parser's instantiations they need,
// are compiled in a program that reads a model.json and in no other (about 1 s of every unit
// that includes the library). Use it as tfjs_layers_model.
template <class = void>
class basic_tfjs_layers_model {
 public:
  /// model.json is at most this large; its JSON nests at most max_depth deep and holds at most
  /// max_json_values values (a self-test sample's numbers included); it lists at most
  /// max_shards shard paths.
  static constexpr std::size_t max_json_bytes = std::size_t{64} << 20;
  static constexpr std::size_t max_depth = 128;
  static constexpr std::size_t max_json_values = 1'000'000;
  static constexpr std::size_t max_shards = 65'536;

  /// Reads model.json and every shard it names (relative to its directory). A shard may be a
  /// symbolic link only to a file inside `symlink_root`; empty, that is the model's directory,
  /// or the repository folder of a Hugging Face cache snapshot (io/contained_path.hpp).
  static basic_tfjs_layers_model open(const std::filesystem::path& model_json,
                                      const std::filesystem::path& symlink_root = {});

  /// model.json's text given in memory; `read_shard(path)` returns a shard's bytes (a path
  /// already checked to be relative, without "..", and listed once).
  template <class ReadShard>
  static basic_tfjs_layers_model from_json(std::string_view text, ReadShard read_shard,
                                           std::string source_name = "<memory>") {
    callback_shards<ReadShard> shards(read_shard);
    return basic_tfjs_layers_model(text, std::move(source_name), shards);
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
  // Shards as files beside model.json: each resolved inside the root and opened as a regular
  // file when the sizes are checked, and each file taken once. A shard is closed after its size
  // is taken and opened again to be read (a model may have more shards than a process may hold
  // open); the second open must reach the same file with the same size.
  struct file_shards final : detail::tfjs_shard_source {
    struct shard_file {
      std::string name;
      std::filesystem::path target;
      regular_file::identity id;
      std::uint64_t bytes = 0;
    };
    file_shards(std::filesystem::path dir, std::filesystem::path symlink_root, std::string at)
        : directory(std::move(dir)), root(std::move(symlink_root)), where(std::move(at)) {}

    std::filesystem::path directory, root;
    std::string where;
    std::vector<shard_file> listed;
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::size_t> seen;  // (dev, inode) -> index

    std::size_t count() const noexcept override { return listed.size(); }
    std::uint64_t size(const std::string& shard) override {
      const std::string what = detail::concat("shard ", detail::quote_name(shard));
      std::filesystem::path target = resolve_inside(directory, shard, root, where, what);
      const regular_file file = open(target, shard);
      const regular_file::identity id = file.id();
      if (id != regular_file::identity{}) {  // unknown on systems without inodes
        const auto [at, added] = seen.try_emplace({id.device, id.inode}, listed.size());
        if (!added)
          file.fail(detail::concat("is the same file as shard ",
                                   detail::quote_name(listed[at->second].name),
                                   " (a file is listed once)"));
      }
      listed.push_back({shard, std::move(target), id, file.size()});
      return file.size();
    }
    void read(std::size_t index, std::span<std::byte> out) override {
      const shard_file& shard = listed[index];
      regular_file file = open(shard.target, shard.name);
      if (file.id() != shard.id || file.size() != shard.bytes)
        file.fail("changed while the model was read (it is not the file whose size was checked)");
      file.read_at(0, out);
    }
    regular_file open(const std::filesystem::path& target, const std::string& shard) const {
      return regular_file::open(target,
                                detail::concat(where, "shard ", detail::quote_name(shard), ": "),
                                /*follow_symlink=*/false);
    }
  };

  // Shards from the caller's function, which returns each one's bytes.
  template <class ReadShard>
  struct callback_shards final : detail::tfjs_shard_source {
    explicit callback_shards(const ReadShard& read) : read_shard(read) {}

    const ReadShard& read_shard;
    std::vector<std::vector<std::byte>> read_bytes;  // in the order the sizes were taken

    std::size_t count() const noexcept override { return read_bytes.size(); }
    std::uint64_t size(const std::string& shard) override {
      return read_bytes.emplace_back(read_shard(shard)).size();
    }
    void read(std::size_t index, std::span<std::byte> out) override {
      std::vector<std::byte>& bytes = read_bytes[index];
      if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size());
      bytes = {};
    }
  };

  basic_tfjs_layers_model(std::string_view text, std::string source,
                          detail::tfjs_shard_source& shards);

  std::string where() const {
    return detail::concat("tfjs model ", detail::quote_name(source_, 4096), ": ");
  }

  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw format_error(detail::concat(where(), parts...));
  }

  // model.save() stores the model config itself; tensorflowjs_converter wraps it in
  // {"keras_version", "backend", "model_config": ...}.
  void read_topology(const nlohmann::json& root);

  // Keras 2 keeps call kwargs in [[[name, 0, 0, {kwargs}]]], Keras 3 in [{"kwargs": {...}}].
  static std::optional<bool> find_causal_flag(const nlohmann::json& j);

  struct affine {
    double scale = 1, min = 0;
  };

  struct stored_as {
    std::string_view dtype;  // what is in the shard: float32, int32, float16, uint8, uint16
    std::size_t width;
  };

  // One weight as the manifest describes it, checked before any shard is read.
  struct manifest_weight {
    std::string name;
    std::vector<std::int64_t> shape;
    std::size_t count;
    stored_as stored;
    std::optional<affine> quantization;
    std::size_t bytes;
  };

  struct manifest_group {
    std::string at;                   // weightsManifest[g], for messages
    std::vector<std::string> shards;  // in order; concatenated they hold the weights
    std::vector<manifest_weight> weights;
    std::size_t bytes = 0;  // the weights' total
  };

  // The shards of a group for messages: the first few, then how many more.
  static std::string shard_list(const std::vector<std::string>& shards);

  // Reads the manifest whole, then each group's shard sizes against its weights, and only
  // then the shards' bytes: no byte is read for a manifest that does not describe the files.
  void read_manifest(const nlohmann::json& root, detail::tfjs_shard_source& shards,
                     safetensors_writer& out);

  std::vector<manifest_group> parse_manifest(const nlohmann::json& root) const;

  std::vector<std::int64_t> checked_shape(const nlohmann::json& weight,
                                          const std::string& who) const;

  // The element count; refused, as the safetensors reference refuses it, when the byte size's
  // running product (element width first, then each extent) overflows, even if a later extent
  // is 0: such a shape cannot be stored in the safetensors file the weights become.
  std::size_t checked_count(const std::vector<std::int64_t>& shape, const std::string& who,
                            std::size_t width) const;

  std::pair<stored_as, std::optional<affine>> storage_of(const nlohmann::json& weight,
                                                         const std::string& who) const;

  static std::uint32_t little_endian(const std::byte* p, std::size_t width) noexcept;

  void add_weight(safetensors_writer& out, const manifest_weight& w, const std::byte* data) const;

  void read_self_test(const nlohmann::json& root, safetensors_writer& out) const;

  void add_sample(safetensors_writer& out, const std::string& name, const nlohmann::json& sample,
                  const std::string& who) const;

  std::string source_;
  nlohmann::json topology_;
  std::vector<std::pair<std::string, bool>> causal_calls_;
  std::optional<safetensors_file> weights_;  // set by every constructor that returns
  std::vector<stored_weight> stored_;
};

// The reader's work, out of the class: under TYPEFORMER_COMPILED_IO=1 only src/compiled_io.cpp
// compiles it (and clang does not check its JSON expressions in every unit either).
#if TYPEFORMER_IO_DEFINITIONS

template <class Unused>
basic_tfjs_layers_model<Unused>::basic_tfjs_layers_model(std::string_view text, std::string source,
                                                         detail::tfjs_shard_source& shards)
    : source_(std::move(source)) {
  const nlohmann::json root = detail::parse_untrusted_json(
      text, {.max_depth = max_depth, .max_values = max_json_values}, where(), "model.json");
  if (!root.is_object()) fail("model.json is not a JSON object");
  read_topology(root);
  safetensors_writer out;
  read_manifest(root, shards, out);
  read_self_test(root, out);
  out.set_metadata("format", "tfjs layers-model");
  weights_ = safetensors_file::from_bytes(out.to_bytes(), source_);
}

template <class Unused>
void basic_tfjs_layers_model<Unused>::read_topology(const nlohmann::json& root) {
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
  std::set<std::string, std::less<>> names;
  for (const nlohmann::json& layer : config["layers"]) {
    if (!layer.is_object() || !layer.contains("class_name") || !layer["class_name"].is_string() ||
        !layer.contains("config") || !layer["config"].is_object() ||
        !layer["config"].contains("name") || !layer["config"]["name"].is_string())
      fail(
          "modelTopology has a layer without a class_name, a config or a name: ",
          detail::quote_name(layer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
    // Keras gives every layer of a model its own name; a second layer under a declared name
    // would pass a check that looks each name up once.
    const std::string& name = layer["config"]["name"].get_ref<const std::string&>();
    if (!names.insert(name).second)
      fail("modelTopology has two layers named ", detail::quote_name(name),
           " (Keras names each layer of a model once)");
    if (const auto nodes = layer.find("inbound_nodes"); nodes != layer.end())
      if (const auto causal = find_causal_flag(*nodes))
        causal_calls_.emplace_back(layer["config"]["name"].get<std::string>(), *causal);
  }
}

template <class Unused>
std::optional<bool> basic_tfjs_layers_model<Unused>::find_causal_flag(const nlohmann::json& j) {
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

template <class Unused>
std::string basic_tfjs_layers_model<Unused>::shard_list(const std::vector<std::string>& shards) {
  std::string out;
  for (std::size_t i = 0; i < shards.size() && i < 4; ++i)
    out += detail::concat(i ? " + " : "", detail::quote_name(shards[i]));
  if (shards.size() > 4) out += detail::concat(" and ", std::to_string(shards.size() - 4), " more");
  return out;
}

template <class Unused>
void basic_tfjs_layers_model<Unused>::read_manifest(const nlohmann::json& root,
                                                    detail::tfjs_shard_source& shards,
                                                    safetensors_writer& out) {
  const std::vector<manifest_group> groups = parse_manifest(root);
  for (const manifest_group& group : groups) {
    std::vector<std::uint64_t> sizes;
    const std::size_t first_shard = shards.count();
    std::uint64_t held = 0;
    for (const std::string& shard : group.shards) held += sizes.emplace_back(shards.size(shard));
    std::size_t offset = 0;
    for (const manifest_weight& w : group.weights) {
      if (offset + w.bytes > held)
        fail(group.at, " weight ", detail::quote_name(w.name), ": needs bytes [",
             std::to_string(offset), ", ", std::to_string(offset + w.bytes), ") of the shards ",
             shard_list(group.shards), ", which hold ", std::to_string(held));
      offset += w.bytes;
    }
    if (offset != held)
      fail(group.at, ": the shards ", shard_list(group.shards), " hold ", std::to_string(held),
           " bytes, the weights use ", std::to_string(offset), " (", std::to_string(held - offset),
           " bytes left over)");
    std::vector<std::byte> data(group.bytes);
    std::size_t filled = 0;
    for (std::size_t i = 0; i < group.shards.size(); ++i) {
      const auto size = static_cast<std::size_t>(sizes[i]);
      shards.read(first_shard + i, std::span<std::byte>(data).subspan(filled, size));
      filled += size;
    }
    offset = 0;
    for (const manifest_weight& w : group.weights) {
      add_weight(out, w, data.data() + offset);
      stored_.push_back({w.name,
                         w.quantization || w.stored.dtype == "float16"
                             ? detail::concat(w.stored.dtype, " (quantised float32)")
                             : std::string(w.stored.dtype),
                         w.shape, w.bytes,
                         crc32(std::span<const std::byte>(data).subspan(offset, w.bytes))});
      offset += w.bytes;
    }
  }
}

template <class Unused>
auto basic_tfjs_layers_model<Unused>::parse_manifest(const nlohmann::json& root) const
    -> std::vector<manifest_group> {
  const auto manifest = root.find("weightsManifest");
  if (manifest == root.end() || !manifest->is_array())
    fail("model.json has no \"weightsManifest\" array");
  std::vector<manifest_group> groups;
  std::set<std::string, std::less<>> names;
  std::set<std::filesystem::path> paths;  // lexically normal
  for (std::size_t g = 0; g < manifest->size(); ++g) {
    const nlohmann::json& group = (*manifest)[g];
    manifest_group& parsed = groups.emplace_back();
    parsed.at = detail::concat("weightsManifest[", std::to_string(g), "]");
    const std::string& at = parsed.at;
    if (!group.is_object() || !group.contains("paths") || !group["paths"].is_array() ||
        !group.contains("weights") || !group["weights"].is_array())
      fail(at, " needs a \"paths\" array and a \"weights\" array");
    for (const nlohmann::json& path : group["paths"]) {
      if (!path.is_string()) fail(at, ": a path is not a string");
      const std::string& shard = path.get_ref<const std::string&>();
      if (const auto problem = relative_path_problem(shard))
        fail(at, ": shard path ", detail::quote_name(shard),
             " is not a relative path inside the model's directory (it ", *problem, ")");
      if (!paths.insert(std::filesystem::path(shard).lexically_normal()).second)
        fail(at, ": shard path ", detail::quote_name(shard),
             " is listed twice (each shard is read once)");
      if (paths.size() > max_shards)
        fail("model.json lists more than ", std::to_string(max_shards), " shard paths (the limit)");
      parsed.shards.push_back(shard);
    }
    std::size_t index = 0;
    for (const nlohmann::json& weight : group["weights"]) {
      ++index;
      if (!weight.is_object() || !weight.contains("name") || !weight["name"].is_string())
        fail(at, " weight ", std::to_string(index), " has no \"name\"");
      manifest_weight w;
      w.name = weight["name"].get<std::string>();
      const std::string who = detail::concat(at, " weight ", detail::quote_name(w.name), ": ");
      if (!names.insert(w.name).second) fail(who, "listed twice");
      w.shape = checked_shape(weight, who);
      std::tie(w.stored, w.quantization) = storage_of(weight, who);
      w.count = checked_count(w.shape, who, 4);  // as float32 or int32 once decoded
      if (w.count > (std::numeric_limits<std::size_t>::max() - parsed.bytes) / w.stored.width)
        fail(who, "its size overflows");
      w.bytes = w.count * w.stored.width;
      parsed.bytes += w.bytes;
      parsed.weights.push_back(std::move(w));
    }
  }
  return groups;
}

template <class Unused>
std::vector<std::int64_t> basic_tfjs_layers_model<Unused>::checked_shape(
    const nlohmann::json& weight, const std::string& who) const {
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

template <class Unused>
std::size_t basic_tfjs_layers_model<Unused>::checked_count(const std::vector<std::int64_t>& shape,
                                                           const std::string& who,
                                                           std::size_t width) const {
  std::size_t bytes = width;
  for (const std::int64_t e : shape) {
    const auto extent = static_cast<std::size_t>(e);
    if (extent != 0 && bytes > std::numeric_limits<std::size_t>::max() / extent)
      fail(who, "shape ", typeformer::detail::shape_text(shape),
           " has more elements than memory can hold");
    bytes *= extent;
  }
  return bytes / width;
}

template <class Unused>
auto basic_tfjs_layers_model<Unused>::storage_of(const nlohmann::json& weight,
                                                 const std::string& who) const
    -> std::pair<stored_as, std::optional<affine>> {
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
  const affine q_affine{number("scale"), number("min")};
  // Every stored value must dequantise to a finite float: q * scale + min for q up to 255 or
  // 65535 (a scale of 1e300 would load infinite weights without a word).
  const double largest_q = kind == "uint8" ? 255.0 : 65535.0;
  if (std::fabs(q_affine.scale) * largest_q + std::fabs(q_affine.min) >
      double(std::numeric_limits<float>::max()))
    fail(who, "quantization scale ", typeformer::detail::number_text(q_affine.scale), " and min ",
         typeformer::detail::number_text(q_affine.min), " give values beyond float's range for ",
         kind, " values up to ", kind == "uint8" ? "255" : "65535");
  return {{kind == "uint8" ? "uint8" : "uint16", kind == "uint8" ? std::size_t{1} : 2}, q_affine};
}

template <class Unused>
std::uint32_t basic_tfjs_layers_model<Unused>::little_endian(const std::byte* p,
                                                             std::size_t width) noexcept {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < width; ++i)
    v |= std::uint32_t(std::to_integer<unsigned>(p[i])) << (8 * i);
  return v;
}

template <class Unused>
void basic_tfjs_layers_model<Unused>::add_weight(safetensors_writer& out, const manifest_weight& w,
                                                 const std::byte* data) const {
  if (w.stored.dtype == "int32") {
    std::vector<std::int64_t> values(w.count);
    for (std::size_t i = 0; i < w.count; ++i)
      values[i] = static_cast<std::int32_t>(little_endian(data + 4 * i, 4));
    out.add_integers(w.name, w.shape, values, dtype::i32);
    return;
  }
  std::vector<float> values(w.count);
  for (std::size_t i = 0; i < w.count; ++i) {
    const std::uint32_t bits = little_endian(data + w.stored.width * i, w.stored.width);
    if (w.stored.dtype == "float32")
      values[i] = std::bit_cast<float>(bits);
    else if (w.stored.dtype == "float16")
      values[i] = f16_to_float(static_cast<std::uint16_t>(bits));
    else  // as tfjs-core's decodeWeights: in double, rounded to float once
      values[i] = detail::narrow_to_float(static_cast<double>(bits) * w.quantization->scale +
                                          w.quantization->min);
  }
  out.add_floats(w.name, w.shape, values);
}

template <class Unused>
void basic_tfjs_layers_model<Unused>::read_self_test(const nlohmann::json& root,
                                                     safetensors_writer& out) const {
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

template <class Unused>
void basic_tfjs_layers_model<Unused>::add_sample(safetensors_writer& out, const std::string& name,
                                                 const nlohmann::json& sample,
                                                 const std::string& who) const {
  if (!sample.is_object() || !sample.contains("shape") || !sample.contains("values") ||
      !sample["values"].is_array())
    fail(who, "needs \"shape\" and \"values\"");
  const std::vector<std::int64_t> shape = checked_shape(sample, who);
  const std::size_t count = checked_count(shape, who, 4);
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
      floats.push_back(detail::narrow_to_float(v.get<double>()));
    }
    out.add_floats(name, shape, floats);
  } else {
    fail(who, "dtype ", detail::quote_name(dtype), " is not float32 or int32");
  }
}

template <class Unused>
basic_tfjs_layers_model<Unused> basic_tfjs_layers_model<Unused>::open(
    const std::filesystem::path& model_json, const std::filesystem::path& symlink_root) {
  const std::string source = model_json.string();
  const std::string where = detail::concat("tfjs model ", detail::quote_name(source, 4096), ": ");
  const std::vector<std::byte> bytes =
      regular_file::open(model_json, where + "model.json: ").read_all(max_json_bytes);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::filesystem::path directory = model_json.parent_path();
  if (directory.empty()) directory = ".";
  file_shards shards(directory,
                     symlink_root.empty() ? default_symlink_root(model_json) : symlink_root, where);
  return basic_tfjs_layers_model(text, source, shards);
}

#endif  // TYPEFORMER_IO_DEFINITIONS

#if TYPEFORMER_COMPILED_IO && !defined(TYPEFORMER_DEFINE_COMPILED_IO)
extern template class basic_tfjs_layers_model<>;
#endif

using tfjs_layers_model = basic_tfjs_layers_model<>;

}  // namespace typeformer::io
