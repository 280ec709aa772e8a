#pragma once
// load_weights<Layer>(file, naming): a layer's parameters from a safetensors file, by the
// framework's own names. Strict: a missing tensor, an unexpected one, a wrong shape or a
// non-floating dtype throws `weight_error` naming the tensor, the expected and the found.

#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/errors.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/io/keras_topology.hpp>
#include <typeformer/io/safetensors_reader.hpp>
#include <typeformer/io/tfjs_layers_model.hpp>
#include <typeformer/io/weight_check.hpp>
#include <typeformer/model/binding.hpp>

namespace typeformer {

namespace detail {
/// load_weights after the naming rule holds.
template <class Layer, class Naming>
typename Layer::parameters load_checked_weights(const io::safetensors_file& file, Naming naming,
                                                const load_options& options) {
  const load_options resolved = detail::resolved_options<Layer, Naming>(options);
  const std::string& prefix = *resolved.prefix;
  const std::vector<weight_spec> expected = Layer::expected_weights(naming, prefix);
  const std::vector<std::string> findings =
      detail::weight_mismatches(expected, file, Naming::name, resolved);
  if (!findings.empty())
    throw weight_error(detail::concat(
        detail::weight_check_context(detail::layer_title<Layer>(), Naming::name, file.source()),
        findings.front(),
        detail::other_naming_hint(expected, file, Naming::name, resolved.ignore_prefixes)));
  return Layer::from_weights(
      naming, [&](const std::string& name) { return file.read_floats(name); }, prefix);
}
}  // namespace detail

template <class Layer, class Naming>
typename Layer::parameters load_weights(const io::safetensors_file& file, Naming naming,
                                        const load_options& options = {}) {
  static_assert(naming::is_naming_v<Naming>, "pass typeformer::naming::pytorch or ::keras");
  // Before any name is read, so that a broken rule is the one error.
  using naming_problem = detail::naming_problem_of<Layer, Naming>;
  static_assert(naming_problem::rule_holds);
  if constexpr (!std::is_same_v<naming_problem, diagnostics::passed>)
    return {};
  else
    return detail::load_checked_weights<Layer>(file, naming, options);
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
      return load_weights<Layer>(io::tfjs_layers_model::open(path, options.symlink_root), naming,
                                 options);
    else
      throw weight_error(detail::concat(path.string(),
                                        ": a TensorFlow.js model.json holds Keras "
                                        "names: pass naming::keras"));
  }
  return load_weights<Layer>(io::safetensors_file::open(path), naming, options);
}

}  // namespace typeformer
