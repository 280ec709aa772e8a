#pragma once
// load_weights<Layer>(file, naming): a layer's parameters from a safetensors file, by the
// framework's own names. Strict: a missing tensor, an unexpected one, a wrong shape or a
// non-floating dtype throws `weight_error` naming the tensor, the expected and the found.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/core/weight_source.hpp>
#include <typeformer/io/keras_topology.hpp>
#include <typeformer/io/safetensors_reader.hpp>
#include <typeformer/io/tfjs_layers_model.hpp>

namespace typeformer {

struct load_options {
  /// Prepended to every name the layer expects: "layers.0.self_attn." (PyTorch), "mha/" (Keras).
  std::string prefix = {};
  /// Tensors under these prefixes are not weights and are not "unexpected": the exporter's
  /// self-test sample ("selftest.") and reference data kept beside the weights.
  std::vector<std::string> ignore_prefixes = {"selftest."};
  /// The file holds other layers' weights too (a whole model's file, read one layer at a time):
  /// only tensors under `prefix` must belong to the layer, the rest are left alone.
  bool file_holds_other_layers = false;
};

namespace detail {

inline bool starts_with_any(const std::string& name, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return name.rfind(p, 0) == 0; });
}

}  // namespace detail

template <class Layer, class Naming>
typename Layer::parameters load_weights(const io::safetensors_file& file, Naming naming,
                                        const load_options& options = {}) {
  static_assert(naming::is_naming_v<Naming>, "pass typeformer::naming::pytorch or ::keras");
  const auto where = [&] {
    const std::string who = Layer::name.empty()
                                ? std::string(Layer::kind)
                                : detail::concat(Layer::kind, " \"", Layer::name, "\"");
    return detail::concat(who, " (", Naming::name, " names) in ", file.source(), ": ");
  };
  const std::vector<weight_spec> expected = Layer::expected_weights(naming, options.prefix);
  for (const weight_spec& w : expected) {
    const io::tensor_info* t = file.find(w.name);
    if (!t)
      throw weight_error(detail::concat(where(), "missing tensor \"", w.name, "\", expected shape ",
                                        detail::shape_text(w.shape)));
    if (!io::is_floating_dtype(t->type))
      throw weight_error(detail::concat(where(), "tensor \"", w.name, "\" has dtype ",
                                        io::dtype_name(t->type),
                                        ", expected a floating dtype (F32, F16, BF16, F64)"));
    if (t->shape != w.shape)
      throw weight_error(detail::concat(where(), "tensor \"", w.name, "\" has shape ",
                                        detail::shape_text(t->shape), ", expected ",
                                        detail::shape_text(w.shape)));
  }
  for (const io::tensor_info& t : file.tensors()) {
    if (detail::starts_with_any(t.name, options.ignore_prefixes)) continue;
    if (options.file_holds_other_layers && t.name.rfind(options.prefix, 0) != 0) continue;
    const bool known = std::any_of(expected.begin(), expected.end(),
                                   [&](const weight_spec& w) { return w.name == t.name; });
    const auto ends_with = [&](std::string_view tail) {
      return t.name.size() >= tail.size() &&
             std::string_view(t.name).substr(t.name.size() - tail.size()) == tail;
    };
    if (!known && std::is_same_v<Naming, naming::pytorch_t> &&
        (ends_with("bias_k") || ends_with("bias_v")))
      throw weight_error(detail::concat(
          where(), "tensor \"", t.name,
          "\" comes from nn.MultiheadAttention(add_bias_kv=True), which typeformer does not "
          "support (a learned key and value appended to every sequence); export the model "
          "with add_bias_kv=False"));
    if (!known)
      throw weight_error(detail::concat(
          where(), "unexpected tensor \"", t.name, "\" with shape ", detail::shape_text(t.shape),
          " (the layer expects ", std::to_string(expected.size()), " tensors",
          options.prefix.empty() ? std::string()
                                 : detail::concat(" under \"", options.prefix, "\""),
          ")"));
  }
  return Layer::from_weights(
      naming, [&](const std::string& name) { return file.read_floats(name); }, options.prefix);
}

/// A Keras model saved by TensorFlow.js (model.json and its shards): the topology is checked
/// against the declaration first (io/keras_topology.hpp), then the weights as above.
template <class Layer, class Naming>
typename Layer::parameters load_weights(const io::tfjs_layers_model& model, Naming naming,
                                        const load_options& options = {}) {
  static_assert(std::is_same_v<Naming, naming::keras_t>,
                "a TensorFlow.js model.json holds Keras names: pass typeformer::naming::keras");
  detail::check_keras_topology<Layer>(
      model, detail::concat("model (keras names) in ", model.source(), ": "));
  return load_weights<Layer>(model.weights(), naming, options);
}

namespace detail {
inline bool is_tfjs_model_json(const std::filesystem::path& path) {
  return path.extension() == ".json";
}
}  // namespace detail

/// A safetensors file, or a TensorFlow.js model.json (by its extension).
template <class Layer, class Naming>
typename Layer::parameters load_weights(const std::filesystem::path& path, Naming naming,
                                        const load_options& options = {}) {
  if (detail::is_tfjs_model_json(path)) {
    if constexpr (std::is_same_v<Naming, naming::keras_t>)
      return load_weights<Layer>(io::tfjs_layers_model::open(path), naming, options);
    else
      throw weight_error(detail::concat(path.string(),
                                        ": a TensorFlow.js model.json holds Keras "
                                        "names: pass naming::keras"));
  }
  return load_weights<Layer>(io::safetensors_file::open(path), naming, options);
}

}  // namespace typeformer
