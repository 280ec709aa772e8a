// The fuzz targets' bodies; see fuzz_inputs.hpp.

#include "fuzz_inputs.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <tuple>

#include <nlohmann/json.hpp>

#include <typeformer/typeformer.hpp>

namespace typeformer_fuzz {
namespace {

namespace tfm = typeformer;
namespace io = typeformer::io;
using namespace tfm::dims;

/// A broken invariant: report it and abort, which libFuzzer records as a crash.
void require(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

/// Runs `body`; the exception types in `Allowed` are the contract's answers to bad input,
/// anything else escaping is a bug.
template <class... Allowed, class Body>
void expecting(Body&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    const bool allowed = (... || (dynamic_cast<const Allowed*>(&e) != nullptr));
    if (!allowed) {
      std::fprintf(stderr, "unexpected exception: %s\n", e.what());
      std::abort();
    }
    // A typed error must say something.
    require(std::strlen(e.what()) > 0, "an exception with an empty message");
  }
}

// ---- The models ----------------------------------------------------------------------------
// Small, so a run costs microseconds, and between them covering every layer's weight layout:
// embedding, packed and separate attention projections, layer norm, feed-forward, dense, LSTM,
// Conv1D, relative-position tables, additive and Bahdanau scores.

using token_encoder =
    tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<2>, max_seq<6>>,
               tfm::embedding<"embed", 11, 8>,
               tfm::transformer_encoder_layer<heads<2>, dim_feedforward<12>>,
               tfm::dense<"out", 5, tfm::activations::softmax>>;

using recurrent_heads =
    tfm::model<tfm::tokens<batch<tfm::dynamic>, seq<tfm::dynamic>, max_batch<2>, max_seq<6>>,
               tfm::embedding<"embed", 11, 4>, tfm::multi_head<tfm::lstm<"lstm", 3>, 2>,
               tfm::flatten<>, tfm::dense<"dense", 2>>;

using conv_relative =
    tfm::model<tfm::input<batch<tfm::dynamic>, seq<6>, d_model<4>, max_batch<2>>,
               tfm::conv1d<"conv", 4, 3, tfm::padding<tfm::conv_padding::same>>,
               tfm::wrapper_attention_block<"block", heads<2>, tfm::max_relative_position<3>>>;

using cross_attention = tfm::multi_head_attention<"cross", heads<2>, d_model<4>, key_features<3>>;
using additive = tfm::additive_attention<"additive", d_model<4>>;
using bahdanau = tfm::bahdanau_attention<"bahdanau", 3, d_model<4>>;

// tests/data/tfjs/dense_norm: the tfjs target's seeds load into it, with their self-test.
using tfjs_dense_norm = tfm::model<
    tfm::input<batch<tfm::dynamic>, seq<tfm::dynamic>, d_model<10>, max_batch<2>, max_seq<6>>,
    tfm::dense<"hidden", 16, tfm::activations::relu>, tfm::layer_norm<"norm", tfm::epsilon<1, -5>>,
    tfm::dense<"out", 4>>;

/// One call on a fixed, valid input (token ids or floats): the weights are what is fuzzed.
template <class Model>
void run_once(const typename Model::parameters& weights) {
  tfm::runner<Model> run(weights, {.threads = 1});
  if constexpr (Model::has_tokens) {
    xt::xtensor<std::int32_t, 2> ids = {{1, 2, 3, 0, 0}, {10, 9, 8, 7, 6}};
    const auto y = run(ids);
    require(y.shape(0) == 2, "the output's batch");
  } else {
    xt::xtensor<float, 3> x = xt::zeros<float>({std::size_t{2}, std::size_t{6}, std::size_t{4}});
    for (std::size_t i = 0; i < x.size(); ++i)
      x.data()[i] = static_cast<float>(i % 7) * 0.25f - 0.5f;
    const auto y = run(x);
    require(y.shape(0) == 2, "the output's batch");
  }
}

/// One call of a float-input model on a fixed input of its width.
template <class Model>
void run_once_on(const typename Model::parameters& weights) {
  tfm::runner<Model> run(weights, {.threads = 1});
  xt::xtensor<float, 3> x = xt::zeros<float>(
      {std::size_t{2}, std::size_t{5}, static_cast<std::size_t>(Model::input_type::width)});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i % 5) * 0.5f - 1.0f;
  require(run(x).shape(0) == 2, "the output's batch");
}

template <class Layer>
constexpr bool is_model = requires {
  typename Layer::input_type;
};

template <class Layer, class Naming>
std::vector<std::byte> valid_file(Naming naming) {
  io::safetensors_writer writer;
  int tensor = 0;
  for (const auto& spec : Layer::expected_weights(naming)) {
    std::size_t n = 1;
    for (const auto e : spec.shape) n *= static_cast<std::size_t>(e);
    std::vector<float> values(n);
    for (std::size_t i = 0; i < n; ++i)
      values[i] =
          static_cast<float>((i * 7 + static_cast<std::size_t>(tensor) * 3) % 19) / 19.0f - 0.5f;
    writer.add_floats(spec.name, spec.shape, values);
    ++tensor;
  }
  return writer.to_bytes();
}

// ---- weight_conversion's input stream -------------------------------------------------------

/// Reads the conversion target's input: little-endian u16 lengths and raw float bytes; past the
/// end, zeros.
class byte_stream {
 public:
  explicit byte_stream(std::span<const std::byte> data) : data_(data) {}
  std::uint8_t byte() {
    if (at_ >= data_.size()) return 0;
    return std::to_integer<std::uint8_t>(data_[at_++]);
  }
  std::uint16_t u16() {
    const auto low = byte();
    return static_cast<std::uint16_t>(low | (byte() << 8));
  }
  float value() {
    std::uint8_t raw[4] = {};
    for (auto& b : raw) b = byte();
    float v;
    std::memcpy(&v, raw, sizeof v);
    return v;
  }

 private:
  std::span<const std::byte> data_;
  std::size_t at_ = 0;
};

template <class Layer, class Naming>
void convert(byte_stream& in, Naming naming) {
  expecting<tfm::weight_error>([&] {
    const auto weights = Layer::from_weights(naming, [&](const std::string&) {
      std::vector<float> values(in.u16());
      for (float& v : values) v = in.value();
      return values;
    });
    if constexpr (is_model<Layer>) expecting<tfm::weight_error>([&] { run_once<Layer>(weights); });
  });
}

/// The seed of a conversion case: the lengths it expects, and values a few bytes of pattern.
template <class Layer, class Naming>
std::vector<std::byte> conversion_seed(std::uint8_t which, Naming naming) {
  std::vector<std::byte> out = {std::byte{which},
                                std::byte{std::is_same_v<Naming, tfm::naming::keras_t> ? 1 : 0}};
  for (const auto& spec : Layer::expected_weights(naming)) {
    std::size_t n = 1;
    for (const auto e : spec.shape) n *= static_cast<std::size_t>(e);
    out.push_back(static_cast<std::byte>(n & 0xFFu));
    out.push_back(static_cast<std::byte>((n >> 8) & 0xFFu));
    for (std::size_t i = 0; i < n; ++i) {
      const float v = static_cast<float>(i % 5) * 0.125f - 0.25f;
      std::byte raw[4];
      std::memcpy(raw, &v, sizeof v);
      out.insert(out.end(), raw, raw + 4);
    }
  }
  return out;
}

/// Calls f.template operator()<Layer>(index) for each conversion case.
template <class F>
void for_each_case(F&& f) {
  f.template operator()<token_encoder>(0);
  f.template operator()<recurrent_heads>(1);
  f.template operator()<conv_relative>(2);
  f.template operator()<cross_attention>(3);
  f.template operator()<additive>(4);
  f.template operator()<bahdanau>(5);
}
constexpr std::uint8_t case_count = 6;

}  // namespace

void safetensors_file(std::span<const std::byte> data) {
  expecting<tfm::format_error>([&] {
    const auto file = io::safetensors_file::from_bytes(data, "fuzz.safetensors");
    io::safetensors_writer copy;
    for (const auto& [key, value] : file.metadata()) copy.set_metadata(key, value);
    for (const io::tensor_info& t : file.tensors()) {
      const auto raw = file.raw_bytes(t.name);
      require(raw.size() == t.byte_size(), "raw_bytes() has the entry's byte size");
      require(t.byte_size() == t.element_count() * io::element_size(t.type),
              "byte size = element size × element count");
      if (io::is_floating_dtype(t.type)) {
        require(file.read_floats(t.name).size() == t.element_count(), "read_floats() length");
      } else {
        expecting<tfm::format_error>([&] {  // a BOOL byte other than 0/1, a U64 above INT64_MAX
          require(file.read_integers(t.name).size() == t.element_count(), "read_integers() length");
        });
      }
      copy.add(t.name, t.type, t.shape, std::vector<std::byte>(raw.begin(), raw.end()));
    }
    // What was accepted is written back byte for byte in meaning: same tensors, same bytes.
    const auto again = io::safetensors_file::from_bytes(copy.to_bytes(), "rewritten");
    require(again.tensors().size() == file.tensors().size(), "rewritten tensor count");
    require(again.metadata() == file.metadata(), "rewritten metadata");
    for (const io::tensor_info& t : file.tensors()) {
      const io::tensor_info* u = again.find(t.name);
      require(u != nullptr && u->type == t.type && u->shape == t.shape, "rewritten entry");
      const auto a = file.raw_bytes(t.name), b = again.raw_bytes(t.name);
      require(std::equal(a.begin(), a.end(), b.begin(), b.end()), "rewritten bytes");
    }
  });
}

void load_weights(std::span<const std::byte> data) {
  expecting<tfm::format_error>([&] {
    const auto file = io::safetensors_file::from_bytes(data, "fuzz.safetensors");
    for_each_case([&]<class Layer>(int) {
      if constexpr (is_model<Layer>) {
        for (const bool keras : {false, true}) {
          expecting<tfm::weight_error, tfm::format_error>([&] {
            const auto weights = keras ? tfm::load_weights<Layer>(file, tfm::naming::keras)
                                       : tfm::load_weights<Layer>(file, tfm::naming::pytorch);
            run_once<Layer>(weights);
            // The self-test path: a file with selftest.* tensors and tolerances runs the model
            // on them (a mismatch, or a sample that does not fit, is a weight_error).
            if (file.contains("selftest.input") || file.contains("selftest.output")) {
              if (keras)
                (void)tfm::load_weights<Layer>(file, tfm::naming::keras, tfm::verify::on);
              else
                (void)tfm::load_weights<Layer>(file, tfm::naming::pytorch, tfm::verify::on);
            }
          });
        }
      }
    });
  });
}

void weight_conversion(std::span<const std::byte> data) {
  byte_stream in(data);
  const std::uint8_t which = in.byte() % case_count;
  const bool keras = (in.byte() & 1u) != 0;
  for_each_case([&]<class Layer>(int index) {
    if (index != which) return;
    if (keras)
      convert<Layer>(in, tfm::naming::keras);
    else
      convert<Layer>(in, tfm::naming::pytorch);
  });
}

void tfjs_model(std::span<const std::byte> data) {
  const auto nul = std::find(data.begin(), data.end(), std::byte{0});
  const auto text_size = static_cast<std::size_t>(nul - data.begin());
  const std::string_view text(reinterpret_cast<const char*>(data.data()), text_size);
  const auto shards = data.subspan(std::min(text_size + 1, data.size()));
  expecting<tfm::format_error>([&] {
    const auto manifest = tfm::weight_manifest::from_json(text, "fuzz.manifest.json");
    const std::string json = manifest.to_json();
    require(tfm::weight_manifest::from_json(json).to_json() == json, "manifest JSON round trip");
  });
  expecting<tfm::format_error>([&] {
    bool first = true;  // the first shard read gets every byte: shards are concatenated anyway
    const auto model = io::tfjs_layers_model::from_json(
        text,
        [&](const std::string&) {
          std::vector<std::byte> bytes;
          if (first) bytes.assign(shards.begin(), shards.end());
          first = false;
          return bytes;
        },
        "fuzz/model.json");
    require(model.stored_weights().size() <= model.weights().tensors().size(),
            "every stored weight is a tensor");
    for (const auto& w : model.stored_weights()) {
      const io::tensor_info* t = model.weights().find(w.name);
      require(t != nullptr && t->shape == w.shape, "a stored weight's tensor and shape");
    }
    expecting<tfm::weight_error, tfm::format_error, tfm::shape_error>([&] {
      if (model.weights().contains("selftest.input"))
        (void)tfm::load_weights<tfjs_dense_norm>(model, tfm::naming::keras, tfm::verify::on);
      else
        run_once_on<tfjs_dense_norm>(tfm::load_weights<tfjs_dense_norm>(model, tfm::naming::keras));
    });
  });
}

/// `Model`'s valid pytorch-named file plus a self-test whose output is our own (a seed for the
/// fuzzer, not a reference): ids (2, 5), key lengths, tolerances.
template <class Model>
std::vector<std::byte> file_with_self_test() {
  const auto bytes = valid_file<Model>(tfm::naming::pytorch);
  const auto file = io::safetensors_file::from_bytes(bytes, "seed");
  const auto weights = tfm::load_weights<Model>(file, tfm::naming::pytorch);
  xt::xtensor<std::int32_t, 2> ids = {{1, 2, 3, 0, 0}, {10, 9, 8, 7, 6}};
  const std::vector<tfm::extent_t> lengths = {3, 5};
  tfm::runner<Model> run(weights);
  const auto y = run(ids, tfm::masks::key_lengths{lengths});
  io::safetensors_writer writer;
  for (const io::tensor_info& t : file.tensors()) {
    const auto raw = file.raw_bytes(t.name);
    writer.add(t.name, t.type, t.shape, std::vector<std::byte>(raw.begin(), raw.end()));
  }
  writer.add_integers("selftest.input", {2, 5}, std::vector<std::int64_t>(ids.begin(), ids.end()),
                      io::dtype::i32);
  writer.add_integers("selftest.key_lengths", {2},
                      std::vector<std::int64_t>(lengths.begin(), lengths.end()), io::dtype::i64);
  std::vector<std::int64_t> shape(y.shape().begin(), y.shape().end());
  writer.add_floats("selftest.output", shape, std::vector<float>(y.begin(), y.end()));
  writer.set_metadata("selftest.atol", "1e-5");
  writer.set_metadata("selftest.rtol", "1e-4");
  return writer.to_bytes();
}

std::vector<seed> load_weights_seeds() {
  std::vector<seed> out;
  out.push_back({"model0_pytorch_selftest.safetensors", file_with_self_test<token_encoder>()});
  for_each_case([&]<class Layer>(int index) {
    if constexpr (is_model<Layer>) {
      const std::string n = std::to_string(index);
      out.push_back(
          {"model" + n + "_pytorch.safetensors", valid_file<Layer>(tfm::naming::pytorch)});
      out.push_back({"model" + n + "_keras.safetensors", valid_file<Layer>(tfm::naming::keras)});
    }
  });
  return out;
}

std::vector<seed> tfjs_model_seeds(const std::string& test_data) {
  namespace fs = std::filesystem;
  const auto read = [](const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> chars((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    std::vector<std::byte> bytes(chars.size());
    std::memcpy(bytes.data(), chars.data(), chars.size());
    return bytes;
  };
  std::vector<seed> out;
  const auto add = [&](std::string name, const fs::path& json,
                       const std::vector<fs::path>& shards) {
    std::vector<std::byte> bytes = read(json);
    bytes.push_back(std::byte{0});
    for (const fs::path& shard : shards) {
      const auto b = read(shard);
      bytes.insert(bytes.end(), b.begin(), b.end());
    }
    out.push_back({std::move(name), std::move(bytes)});
  };
  std::vector<fs::path> cases;
  for (const fs::path& dir :
       {fs::path(test_data) / "tfjs", fs::path(test_data) / "tfjs" / "hostile"})
    for (const auto& entry : fs::directory_iterator(dir))
      if (fs::exists(entry.path() / "model.json")) cases.push_back(entry.path());
  std::sort(cases.begin(), cases.end());
  for (const fs::path& dir : cases) {
    std::vector<fs::path> shards;  // the manifest's paths, in order, where they exist
    try {
      const auto json = nlohmann::json::parse(std::ifstream(dir / "model.json"));
      for (const auto& group : json.at("weightsManifest"))
        for (const auto& p : group.at("paths"))
          if (p.is_string() && fs::is_regular_file(dir / p.get<std::string>()))
            shards.push_back(dir / p.get<std::string>());
    } catch (const nlohmann::json::exception&) {  // hostile: no shards
    }
    add(dir.parent_path().filename().string() + "-" + dir.filename().string(), dir / "model.json",
        shards);
  }
  for (const auto& entry : fs::directory_iterator(fs::path(test_data) / "manifest" / "hostile"))
    add("manifest-" + entry.path().stem().string(), entry.path(), {});
  const std::string good = tfm::manifest<tfjs_dense_norm>(tfm::naming::keras).to_json();
  std::vector<std::byte> bytes(good.size());
  std::memcpy(bytes.data(), good.data(), good.size());
  out.push_back({"manifest-tfjs_dense_norm", std::move(bytes)});
  return out;
}

std::vector<seed> weight_conversion_seeds() {
  std::vector<seed> out;
  for_each_case([&]<class Layer>(int index) {
    const auto i = static_cast<std::uint8_t>(index);
    const std::string n = std::to_string(index);
    out.push_back({"case" + n + "_pytorch", conversion_seed<Layer>(i, tfm::naming::pytorch)});
    out.push_back({"case" + n + "_keras", conversion_seed<Layer>(i, tfm::naming::keras)});
  });
  return out;
}

}  // namespace typeformer_fuzz
