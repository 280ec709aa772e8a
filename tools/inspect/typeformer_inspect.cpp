// typeformer-inspect FILE [--against MANIFEST.json] [--json]
//
// Lists a weight file's tensors -- name, dtype, shape, bytes, CRC-32 of the stored bytes (as
// Python's zlib.crc32 computes it) -- and its metadata. FILE is a safetensors file or a
// TensorFlow.js model.json (whose weights are listed as the shards store them; the self-test
// and metadata as typeformer reads them).
// With --against, compares the file with a model's manifest (written by
// typeformer::manifest<Model>(naming).save(path) or the CMake helper typeformer_add_manifest)
// and prints every missing, extra or mis-shaped tensor in the words load_weights would throw.
//
// Exit status: 0 when the file is readable (and matches the manifest), 1 when it does not
// match the manifest, 2 when the file or the manifest cannot be read or the usage is wrong.

#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <typeformer/core/errors.hpp>
#include <typeformer/io/crc32.hpp>
#include <typeformer/io/safetensors_reader.hpp>
#include <typeformer/io/tfjs_layers_model.hpp>
#include <typeformer/io/weight_manifest.hpp>

namespace {

namespace io = typeformer::io;
using typeformer::detail::concat;

constexpr std::string_view usage =
    "usage: typeformer-inspect FILE [--against MANIFEST.json] [--json] [--symlink-root DIR]\n"
    "  FILE           a .safetensors file, or a TensorFlow.js model.json\n"
    "  --against      compare with a model's weight manifest (typeformer::manifest<Model>)\n"
    "  --json         print the listing and the comparison as JSON\n"
    "  --symlink-root a model.json's shards may link to files inside DIR (default: the\n"
    "                 model's directory, or the repository of a Hugging Face cache snapshot)\n"
    "exit status: 0 readable (and matching), 1 does not match the manifest, 2 error\n";

struct arguments {
  std::filesystem::path file;
  std::optional<std::filesystem::path> manifest;
  std::filesystem::path symlink_root;
  bool json = false;
};

std::optional<arguments> parse_arguments(int argc, char** argv) {
  arguments args;
  bool have_file = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--json") {
      args.json = true;
    } else if (a == "--against" && i + 1 < argc) {
      args.manifest = argv[++i];
    } else if (a == "--symlink-root" && i + 1 < argc) {
      args.symlink_root = argv[++i];
    } else if (a.starts_with("-") || have_file) {
      return std::nullopt;
    } else {
      args.file = a;
      have_file = true;
    }
  }
  if (!have_file) return std::nullopt;
  return args;
}

// Names come from the file: shown as they are when nothing in them needs escaping (see
// io/quoted_text.hpp: controls, bidirectional overrides, bytes that are not UTF-8), quoted and
// escaped otherwise.
std::string display_name(std::string_view name) {
  std::string quoted = io::detail::quote_name(name);
  const bool plain = quoted.size() == name.size() + 2 && quoted.compare(1, name.size(), name) == 0;
  return plain ? std::string(name) : quoted;
}

std::string hex32(std::uint32_t v) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", v);
  return text;
}

struct listed_tensor {
  std::string name, dtype, shape;
  std::vector<std::int64_t> extents;
  std::size_t bytes, values;
  std::uint32_t crc;
};

std::vector<listed_tensor> list(const io::safetensors_file& file) {
  std::vector<listed_tensor> out;
  for (const io::tensor_info& t : file.tensors())
    out.push_back({t.name, std::string(io::dtype_name(t.type)), io::detail::format_shape(t.shape),
                   t.shape, t.byte_size(), t.element_count(), io::crc32(file.raw_bytes(t.name))});
  return out;
}

void print_table(const std::string& description, const io::safetensors_file& file,
                 const std::vector<listed_tensor>& tensors) {
  std::size_t name_w = 4, dtype_w = 5, shape_w = 5, bytes_w = 5, values = 0, bytes = 0;
  for (const listed_tensor& t : tensors) {
    name_w = std::max(name_w, display_name(t.name).size());
    dtype_w = std::max(dtype_w, t.dtype.size());
    shape_w = std::max(shape_w, t.shape.size());
    bytes_w = std::max(bytes_w, std::to_string(t.bytes).size());
    values += t.values;
    bytes += t.bytes;
  }
  std::cout << description << "\n";
  for (const auto& [key, value] : file.metadata())
    std::cout << "  metadata " << display_name(key) << " = " << display_name(value) << "\n";
  const auto row = [&](std::string_view n, std::string_view d, std::string_view s,
                       std::string_view b, std::string_view c) {
    std::cout << n << std::string(name_w - n.size() + 2, ' ') << d
              << std::string(dtype_w - d.size() + 2, ' ') << s
              << std::string(shape_w - s.size() + 2, ' ') << std::string(bytes_w - b.size(), ' ')
              << b << "  " << c << "\n";
  };
  row("name", "dtype", "shape", "bytes", "crc32");
  for (const listed_tensor& t : tensors)
    row(display_name(t.name), t.dtype, t.shape, std::to_string(t.bytes), hex32(t.crc));
  std::cout << tensors.size() << " tensors, " << values << " values, " << bytes
            << " bytes of data\n";
}

int run(const arguments& args) {
  const bool is_model_json = args.file.extension() == ".json";
  std::optional<io::tfjs_layers_model> model;
  std::optional<io::safetensors_file> loaded;
  if (is_model_json)
    model.emplace(io::tfjs_layers_model::open(args.file, args.symlink_root));
  else
    loaded.emplace(io::safetensors_file::open(args.file));
  const io::safetensors_file& file = is_model_json ? model->weights() : *loaded;
  std::vector<listed_tensor> tensors;
  if (is_model_json) {
    for (const auto& w : model->stored_weights())
      tensors.push_back({w.name, w.dtype, io::detail::format_shape(w.shape), w.shape, w.bytes,
                         typeformer::detail::element_count(w.shape), w.crc32});
  } else {
    tensors = list(file);
  }

  std::string description = concat(args.file.string(), ": ");
  if (is_model_json) {
    description += "TensorFlow.js layers-model; layers:";
    for (const auto& layer : model->layers())
      description += concat(
          " ",
          display_name(
              layer.value("config", nlohmann::json::object()).value("name", std::string("?"))),
          " (", display_name(layer.value("class_name", std::string("?"))), ")");
  } else {
    description += "safetensors";
  }

  std::vector<std::string> problems;
  std::optional<typeformer::weight_manifest> manifest;
  if (args.manifest) {
    manifest = typeformer::weight_manifest::open(*args.manifest);
    problems = manifest->mismatches(file);
  }

  if (args.json) {
    nlohmann::json out = {{"file", args.file.string()},
                          {"format", is_model_json ? "tfjs layers-model" : "safetensors"},
                          {"metadata", file.metadata()}};
    nlohmann::json list = nlohmann::json::array();
    for (const listed_tensor& t : tensors)
      list.push_back({{"name", t.name},
                      {"dtype", t.dtype},
                      {"shape", t.extents},
                      {"bytes", t.bytes},
                      {"crc32", hex32(t.crc)}});
    out["tensors"] = std::move(list);
    if (manifest)
      out["against"] = {{"manifest", args.manifest->string()},
                        {"layer", manifest->layer},
                        {"naming", manifest->naming},
                        {"matches", problems.empty()},
                        {"problems", problems}};
    // Names from a hostile file need not be UTF-8: replace, do not throw; ASCII only, so
    // control and bidirectional characters arrive as \u escapes, not raw.
    std::cout << out.dump(2, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace)
              << "\n";
  } else {
    print_table(description, file, tensors);
    if (manifest) {
      std::cout << "\nagainst " << args.manifest->string() << " (" << display_name(manifest->layer)
                << ", " << manifest->naming << " names, " << manifest->tensors.size()
                << " tensors, " << manifest->parameter_count << " parameters):\n";
      if (is_model_json)
        std::cout << "  (tensors only: load_weights also checks the Keras topology against the "
                     "model's C++ type, which a manifest does not hold)\n";
      if (problems.empty()) std::cout << "  matches: load_weights would accept this file\n";
      for (const std::string& p : problems) std::cout << "  " << p << "\n";
      if (!problems.empty())
        std::cout << problems.size() << (problems.size() == 1 ? " problem" : " problems")
                  << "; load_weights throws the first\n";
    }
  }
  return problems.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<arguments> args = parse_arguments(argc, argv);
  if (!args) {
    const bool help =
        argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h");
    (help ? std::cout : std::cerr) << usage;
    return help ? 0 : 2;
  }
  try {
    return run(*args);
  } catch (const typeformer::error& e) {
    std::cerr << "typeformer-inspect: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "typeformer-inspect: " << args->file.string() << ": " << e.what() << "\n";
  }
  return 2;
}
