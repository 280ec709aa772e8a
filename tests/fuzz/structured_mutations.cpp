// Structure-aware mutations for the load_weights and tfjs_model targets; see fuzz_inputs.hpp.
// Byte-level mutation rarely keeps a safetensors header or a model.json valid while changing
// the one number that matters (a self-test extent, a shard list, a quantisation scale), so
// these parse the input, change it as a hostile writer would, and write it back valid.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include <typeformer/io/safetensors.hpp>

#include "fuzz_inputs.hpp"

namespace typeformer_fuzz {
namespace {

namespace io = typeformer::io;
using rng_t = std::mt19937_64;

// Extents a hostile file states: small ones that fit, and huge ones that only fit with a 0 beside
// them (zero elements, so the file stays small while the shape says terabytes).
constexpr std::array<std::int64_t, 18> interesting_extents = {
    0,
    1,
    2,
    3,
    5,
    6,
    7,
    64,
    255,
    256,
    65536,
    std::int64_t{1} << 20,
    std::int64_t{1} << 21,
    std::int64_t{1} << 31,
    std::int64_t{1} << 32,
    std::int64_t{1} << 40,
    std::int64_t{1} << 62,
    std::numeric_limits<std::int64_t>::max()};

// Tolerance and flag strings: decimal ones and the near misses a reader must refuse.
constexpr std::array<const char*, 14> interesting_texts = {"1e-5",   "0",  "0.1",  " 0.1", "0x1p-3",
                                                           "1e-5\n", "+1", "-1",   "inf",  "nan",
                                                           "1e400",  "-0", "true", ""};

constexpr std::array<const char*, 5> self_test_names = {"selftest.input", "selftest.output",
                                                        "selftest.key_lengths", "selftest.memory",
                                                        "selftest.memory_key_lengths"};

std::int64_t pick_extent(rng_t& rng) {
  return interesting_extents[rng() % interesting_extents.size()];
}

struct tensor {
  std::string name;
  io::dtype type;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;
};

// Bytes for `shape` in `type` (a repeating pattern), or nullopt when they would be more than
// 64 KiB: the caller then zeroes an extent.
std::optional<std::vector<std::byte>> filled(io::dtype type,
                                             const std::vector<std::int64_t>& shape) {
  if (std::any_of(shape.begin(), shape.end(), [](std::int64_t e) { return e < 0; }))
    return std::nullopt;
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return std::vector<std::byte>{};
  std::uint64_t count = io::element_size(type);
  for (const std::int64_t e : shape) {
    if (e != 0 && count > (std::uint64_t{1} << 16) / static_cast<std::uint64_t>(e))
      return std::nullopt;
    count *= static_cast<std::uint64_t>(e);
  }
  std::vector<std::byte> bytes(static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<std::byte>(type == io::dtype::boolean ? i % 2 : (i * 37 + 11) % 64);
  return bytes;
}

// A shape for `t` with one extent changed (or one added), its bytes refilled; a shape too large
// to store gets a 0 elsewhere, which is the hostile case: huge extents, no elements.
void change_extent(tensor& t, rng_t& rng) {
  if (t.shape.empty() || rng() % 4 == 0)
    t.shape.insert(t.shape.begin() + static_cast<std::ptrdiff_t>(rng() % (t.shape.size() + 1)),
                   pick_extent(rng));
  else
    t.shape[rng() % t.shape.size()] = pick_extent(rng);
  auto bytes = filled(t.type, t.shape);
  if (!bytes) {
    const std::size_t keep = rng() % t.shape.size();
    for (std::size_t a = 0; a < t.shape.size() && !bytes; ++a) {
      if (a == keep) continue;
      t.shape[a] = 0;
      bytes = filled(t.type, t.shape);
    }
    if (!bytes) {  // negative extents (from a model.json): start over
      t.shape = {pick_extent(rng), 0};
      bytes = filled(t.type, t.shape);
    }
  }
  t.bytes = bytes.value_or(std::vector<std::byte>{});
}

std::vector<std::byte> to_bytes(const std::string& text) {
  std::vector<std::byte> out(text.size());
  if (!text.empty()) std::memcpy(out.data(), text.data(), text.size());
  return out;
}

}  // namespace

std::vector<std::byte> mutate_weight_file(std::span<const std::byte> data,
                                          std::uint64_t random_seed) {
  rng_t rng(random_seed);
  static const std::vector<seed> templates = load_weights_seeds();
  std::optional<io::safetensors_file> file;
  try {
    file = io::safetensors_file::from_bytes(data, "mutated");
  } catch (const typeformer::format_error&) {
    // Not a file yet (the empty input of an empty corpus): start from a valid weight file.
    const auto& t = templates[rng() % templates.size()].bytes;
    return t;
  }
  std::vector<tensor> tensors;
  for (const io::tensor_info& t : file->tensors()) {
    const auto raw = file->raw_bytes(t.name);
    tensors.push_back({t.name, t.type, t.shape, {raw.begin(), raw.end()}});
  }
  std::map<std::string, std::string> metadata = file->metadata();
  const int steps = 1 + static_cast<int>(rng() % 3);
  for (int step = 0; step < steps; ++step) {
    switch (rng() % 5) {
      case 0:  // an extent of any tensor
        if (!tensors.empty()) change_extent(tensors[rng() % tensors.size()], rng);
        break;
      case 1: {  // a self-test tensor, new or reshaped, with tolerances to run it
        const std::string name = self_test_names[rng() % self_test_names.size()];
        auto found = std::find_if(tensors.begin(), tensors.end(),
                                  [&](const tensor& t) { return t.name == name; });
        if (found == tensors.end()) {
          const bool ids = name.ends_with("lengths") || rng() % 2 == 0;
          tensors.push_back({name, ids ? io::dtype::i32 : io::dtype::f32, {2, 5}, {}});
          tensors.back().bytes = *filled(tensors.back().type, tensors.back().shape);
          found = std::prev(tensors.end());
        }
        change_extent(*found, rng);
        metadata.try_emplace("selftest.atol", "1e-5");
        metadata.try_emplace("selftest.rtol", "1e-4");
        break;
      }
      case 2: {  // a tolerance or the causal flag
        static constexpr std::array<const char*, 3> keys = {"selftest.atol", "selftest.rtol",
                                                            "selftest.causal"};
        metadata[keys[rng() % keys.size()]] = interesting_texts[rng() % interesting_texts.size()];
        break;
      }
      case 3:  // a tensor dropped
        if (!tensors.empty())
          tensors.erase(tensors.begin() + static_cast<std::ptrdiff_t>(rng() % tensors.size()));
        break;
      default: {  // a dtype changed, the bytes refilled for it
        if (tensors.empty()) break;
        static constexpr std::array<io::dtype, 6> types = {io::dtype::f32,  io::dtype::f16,
                                                           io::dtype::bf16, io::dtype::f64,
                                                           io::dtype::i64,  io::dtype::boolean};
        tensor& t = tensors[rng() % tensors.size()];
        t.type = types[rng() % types.size()];
        if (auto bytes = filled(t.type, t.shape))
          t.bytes = *bytes;
        else
          t.type = io::dtype::u8, t.shape = {0}, t.bytes.clear();
      }
    }
  }
  try {
    io::safetensors_writer writer;
    for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
    for (const tensor& t : tensors) writer.add(t.name, t.type, t.shape, t.bytes);
    return writer.to_bytes();
  } catch (const typeformer::format_error&) {
    return {data.begin(), data.end()};
  }
}

std::vector<std::byte> mutate_tfjs_model(std::span<const std::byte> data,
                                         std::uint64_t random_seed) {
  rng_t rng(random_seed);
  const auto nul = std::find(data.begin(), data.end(), std::byte{0});
  const std::string text(reinterpret_cast<const char*>(data.data()),
                         static_cast<std::size_t>(nul - data.begin()));
  nlohmann::json model = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!model.is_object()) return {data.begin(), data.end()};
  const auto at = [&](nlohmann::json& j, const char* key) -> nlohmann::json& {
    if (!j.is_object()) j = nlohmann::json::object();
    return j[key];
  };
  switch (rng() % 6) {
    case 0: {  // a self-test's extents: a shape with no values, or values to match
      nlohmann::json& test = at(at(model, "userDefinedMetadata"), "typeformer_selftest");
      nlohmann::json& sample = at(test, rng() % 2 ? "input" : "output");
      std::vector<std::int64_t> shape = {2, 6, 10};
      if (sample.is_object() && sample.contains("shape") && sample["shape"].is_array() &&
          std::all_of(sample["shape"].begin(), sample["shape"].end(),
                      [](const nlohmann::json& e) { return e.is_number_integer(); }))
        shape = sample["shape"].get<std::vector<std::int64_t>>();
      tensor t{"sample", io::dtype::f32, shape, {}};
      change_extent(t, rng);
      at(sample, "shape") = t.shape;
      at(sample, "values") = std::vector<float>(t.bytes.size() / 4, 0.25f);
      break;
    }
    case 1: {  // one shard listed again (or again and again), under its name or another spelling
      nlohmann::json& groups = at(model, "weightsManifest");
      if (!groups.is_array() || groups.empty() || !groups[0].is_object()) break;
      nlohmann::json& paths = at(groups[0], "paths");
      if (!paths.is_array() || paths.empty() || !paths[0].is_string()) break;
      const std::string first = paths[0].get<std::string>();
      const std::size_t copies = rng() % 2 ? 1 : 1 + rng() % 4096;
      for (std::size_t i = 0; i < copies; ++i) paths.push_back(rng() % 2 ? first : "./" + first);
      break;
    }
    case 2: {  // a layer entry repeated, with another unit count
      nlohmann::json& topology = at(model, "modelTopology");
      nlohmann::json& layers = at(at(topology, "config"), "layers");
      if (!layers.is_array() || layers.empty()) break;
      nlohmann::json copy = layers[rng() % layers.size()];
      if (copy.is_object() && copy.contains("config") && copy["config"].is_object())
        copy["config"]["units"] = pick_extent(rng);
      layers.push_back(copy);
      break;
    }
    case 3: {  // a quantisation scale or min from the extremes
      nlohmann::json& groups = at(model, "weightsManifest");
      if (!groups.is_array() || groups.empty() || !groups[0].is_object()) break;
      nlohmann::json& weights = at(groups[0], "weights");
      if (!weights.is_array() || weights.empty() || !weights[0].is_object()) break;
      static constexpr std::array<double, 6> numbers = {1e300, -1e300, 3.4e38, 1e-300, 0, 1};
      nlohmann::json& q = at(weights[rng() % weights.size()], "quantization");
      at(q, "dtype") = rng() % 2 ? "uint8" : "uint16";
      at(q, rng() % 2 ? "scale" : "min") = numbers[rng() % numbers.size()];
      break;
    }
    case 4: {  // key lengths (empty, short, negative, huge) or a tolerance
      nlohmann::json& test = at(at(model, "userDefinedMetadata"), "typeformer_selftest");
      if (rng() % 2) {
        nlohmann::json lengths = nlohmann::json::array();
        const std::size_t n = rng() % 4;
        for (std::size_t i = 0; i < n; ++i)
          lengths.push_back(pick_extent(rng) - (rng() % 2 ? 0 : 1));
        at(test, "key_lengths") = lengths;
      } else {
        at(test, rng() % 2 ? "atol" : "rtol") =
            rng() % 2 ? nlohmann::json(1e-5)
                      : nlohmann::json(interesting_texts[rng() % interesting_texts.size()]);
      }
      break;
    }
    default: {  // a key written twice in the text (a DOM cannot hold it): the reader must refuse
      std::string dumped = model.dump();
      const std::size_t brace = dumped.find('{', rng() % (dumped.size() ? dumped.size() : 1));
      if (brace == std::string::npos || dumped.compare(brace, 2, "{\"") != 0) break;
      const std::size_t key_end = dumped.find("\":", brace);
      if (key_end == std::string::npos) break;
      const std::string key = dumped.substr(brace + 1, key_end + 2 - (brace + 1));  // "name":
      dumped.insert(brace + 1, key + "0,");
      std::vector<std::byte> out = to_bytes(dumped);
      out.insert(out.end(), nul, data.end());
      return out;
    }
  }
  std::vector<std::byte> out = to_bytes(model.dump());
  out.insert(out.end(), nul, data.end());
  return out;
}

}  // namespace typeformer_fuzz
