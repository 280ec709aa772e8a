#pragma once
// weight_manifest: what a weight file must hold for a model type -- every tensor's name and
// shape under one naming and prefix -- as a small JSON file. manifest<Model>(naming) writes it
// from the type; `typeformer-inspect FILE --against MANIFEST.json` reads it and reports every
// missing, extra or mis-shaped tensor in the words load_weights<Model> would throw, without the
// model's C++ type at hand (a data scientist checking an export, a CI step).
//
// The format (version 1):
//   {"format": "typeformer.weight_manifest", "version": 1, "layer": "model",
//    "naming": "pytorch" | "keras", "parameter_count": N, "prefix": "",
//    "ignore_prefixes": ["selftest."], "file_holds_other_layers": false,
//    "tensors": [{"name": "...", "shape": [..]}, ...]}
// A manifest is read as untrusted input: a wrong type, an unknown key, a duplicate key, a
// negative extent, a duplicate tensor name or an empty ignore prefix (which would hide every
// tensor) is a format_error naming the file and the field. The file must be a regular file.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/io/regular_file.hpp>
#include <typeformer/io/safetensors_reader.hpp>
#include <typeformer/io/untrusted_json.hpp>
#include <typeformer/io/weight_check.hpp>

namespace typeformer {

// A class template only so that a unit that neither reads nor writes a manifest does not
// compile its JSON code (io/tfjs_layers_model.hpp says why). Use it as weight_manifest.
template <class = void>
struct basic_weight_manifest {
  static constexpr std::string_view format_name = "typeformer.weight_manifest";
  static constexpr int format_version = 1;
  /// Larger files are refused before parsing: a manifest lists names and shapes only.
  static constexpr std::size_t max_json_bytes = std::size_t{16} << 20;
  /// ... nesting at most this deep, with at most this many JSON values.
  static constexpr std::size_t max_depth = 16;
  static constexpr std::size_t max_json_values = 1'000'000;

  /// How load messages name the layer: `model`, `multi_head_attention "self_attn"`.
  std::string layer;
  /// "pytorch" or "keras".
  std::string naming;
  std::uint64_t parameter_count = 0;
  load_options options;
  std::vector<weight_spec> tensors;

  /// Every way `file` differs from the manifest, each the full sentence load_weights would
  /// throw for it; empty when the file would load. The first is the one load_weights throws.
  std::vector<std::string> mismatches(const io::safetensors_file& file) const {
    std::vector<std::string> out = detail::weight_mismatches(tensors, file, naming, options);
    const std::string context = detail::weight_check_context(layer, naming, file.source());
    for (std::string& line : out) line.insert(0, context);
    return out;
  }

  std::string to_json() const {
    using json = nlohmann::json;
    std::string out = "{\n";
    const auto field = [&](std::string_view key, const json& value) {
      out += detail::concat("  ", json(key).dump(), ": ", value.dump(), ",\n");
    };
    field("format", format_name);
    field("version", format_version);
    field("layer", layer);
    field("naming", naming);
    field("parameter_count", parameter_count);
    field("prefix", options.prefix.value_or(std::string()));
    field("ignore_prefixes", options.ignore_prefixes);
    field("file_holds_other_layers", options.file_holds_other_layers);
    out += "  \"tensors\": [";
    for (std::size_t i = 0; i < tensors.size(); ++i)
      out += detail::concat(i ? ",\n    " : "\n    ", "{\"name\": ", json(tensors[i].name).dump(),
                            ", \"shape\": ", json(tensors[i].shape).dump(), "}");
    out += tensors.empty() ? "]\n}\n" : "\n  ]\n}\n";
    return out;
  }

  void save(const std::filesystem::path& path) const {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    if (!file)
      throw format_error(detail::concat("weight manifest ", io::detail::quote_name(path.string()),
                                        ": cannot open the file for writing"));
    const std::string text = to_json();
    file.write(text.data(), static_cast<std::streamsize>(text.size()));
    file.close();
    if (!file)
      throw format_error(detail::concat("weight manifest ", io::detail::quote_name(path.string()),
                                        ": cannot write the file"));
  }

  static basic_weight_manifest open(const std::filesystem::path& path) {
    const std::string source = path.string();
    const std::vector<std::byte> bytes =
        io::regular_file::open(
            path, detail::concat("weight manifest ", io::detail::quote_name(source, 4096), ": "))
            .read_all(max_json_bytes);
    return from_json(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                     source);
  }

  static basic_weight_manifest from_json(std::string_view text,
                                         std::string_view source = "<memory>") {
    using json = nlohmann::json;
    const auto fail = [&](const auto&... parts) { refuse(source, parts...); };
    const json root = io::detail::parse_untrusted_json(
        text, {.max_depth = max_depth, .max_values = max_json_values},
        detail::concat("weight manifest ", io::detail::quote_name(source, 4096), ": "), "");
    if (!root.is_object()) fail("not a JSON object");
    static const std::set<std::string_view> known = {
        "format",          "version", "layer",           "naming",
        "parameter_count", "prefix",  "ignore_prefixes", "file_holds_other_layers",
        "tensors"};
    for (const auto& [key, value] : root.items())
      if (!known.contains(key)) fail("unknown key ", io::detail::quote_name(key));
    const auto member = [&](std::string_view key, bool (json::*is_kind)() const noexcept,
                            std::string_view kind) -> const json& {
      const auto it = root.find(key);
      if (it == root.end()) fail("lacks \"", key, "\"");
      if (!((*it).*is_kind)()) fail("\"", key, "\" is not ", kind);
      return *it;
    };
    const auto text_of = [&](std::string_view key) {
      return member(key, &json::is_string, "a string").template get<std::string>();
    };
    if (text_of("format") != format_name)
      fail("\"format\" is not \"", format_name, "\": not a typeformer weight manifest");
    const json& version = member("version", &json::is_number_unsigned, "a version number");
    if (version.get<std::uint64_t>() != format_version)
      fail("version ", version.dump(), " is not supported (this build reads version ",
           std::to_string(format_version), ")");

    basic_weight_manifest m;
    m.layer = text_of("layer");
    m.naming = text_of("naming");
    if (m.naming != naming::pytorch_t::name && m.naming != naming::keras_t::name)
      fail("\"naming\" is ", io::detail::quote_name(m.naming),
           ", expected \"pytorch\" or \"keras\"");
    m.parameter_count =
        member("parameter_count", &json::is_number_unsigned, "a non-negative integer")
            .template get<std::uint64_t>();
    m.options.prefix = text_of("prefix");
    m.options.file_holds_other_layers =
        member("file_holds_other_layers", &json::is_boolean, "true or false").template get<bool>();
    m.options.ignore_prefixes.clear();
    for (const json& p : member("ignore_prefixes", &json::is_array, "an array")) {
      if (!p.is_string()) fail("\"ignore_prefixes\" holds ", p.dump(), ", not a string");
      if (p.get_ref<const std::string&>().empty())
        fail("\"ignore_prefixes\" holds \"\", which would ignore every tensor of a file");
      m.options.ignore_prefixes.push_back(p.get<std::string>());
    }
    std::set<std::string> seen;
    for (const json& t : member("tensors", &json::is_array, "an array")) {
      const std::string at = detail::concat("tensor #", std::to_string(m.tensors.size()));
      if (!t.is_object() || t.size() != 2 || !t.contains("name") || !t.contains("shape"))
        fail(at, " is not {\"name\": ..., \"shape\": [...]}");
      if (!t["name"].is_string()) fail(at, " has a \"name\" that is not a string");
      weight_spec w{t["name"].get<std::string>(), {}};
      if (!seen.insert(w.name).second)
        fail("tensor ", io::detail::quote_name(w.name), " appears twice");
      if (!t["shape"].is_array() || t["shape"].size() > 8)
        fail("tensor ", io::detail::quote_name(w.name),
             " has a \"shape\" that is not an array of at most 8 extents");
      for (const json& e : t["shape"]) {
        if (!e.is_number_unsigned() || e.get<std::uint64_t>() > (std::uint64_t{1} << 40))
          fail("tensor ", io::detail::quote_name(w.name), " has extent ", e.dump(),
               ", expected an integer in [0, 2^40]");
        w.shape.push_back(static_cast<std::int64_t>(e.get<std::uint64_t>()));
      }
      m.tensors.push_back(std::move(w));
    }
    return m;
  }

 private:
  template <class... Parts>
  [[noreturn]] static void refuse(std::string_view source, const Parts&... parts) {
    throw format_error(
        detail::concat("weight manifest ", io::detail::quote_name(source), ": ", parts...));
  }
};
using weight_manifest = basic_weight_manifest<>;

/// The manifest of `Layer` (a layer or a whole model) under `naming` and `options`.
template <class Layer, class Naming>
weight_manifest manifest(Naming naming, const load_options& options = {}) {
  static_assert(naming::is_naming_v<Naming>, "pass typeformer::naming::pytorch or ::keras");
  const load_options resolved = detail::resolved_options<Layer, Naming>(options);
  return {detail::layer_title<Layer>(), Naming::name,
          static_cast<std::uint64_t>(Layer::parameter_count), resolved,
          Layer::expected_weights(naming, *resolved.prefix)};
}

}  // namespace typeformer
