#pragma once
// Which framework's parameter names and layouts a weight file uses. Layers know how their
// parameters are spelled under each; io/ reads the file.

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <typeformer/core/extent.hpp>

namespace typeformer::naming {

/// PyTorch `state_dict` names and layouts: `in_proj_weight` (3E, E), `out_proj.weight` (out, in).
struct pytorch_t {
  static constexpr const char* name = "pytorch";
  /// Joins scopes in a path: `layers.0.self_attn.in_proj_weight`.
  static constexpr const char* separator = ".";
};
/// Keras weight names and layouts: `query/kernel` (d_model, heads, key_dim), kernels (in, out).
struct keras_t {
  static constexpr const char* name = "keras";
  /// Joins scopes in a path: `encoder/self_attn/query/kernel`.
  static constexpr const char* separator = "/";
};
inline constexpr pytorch_t pytorch{};
inline constexpr keras_t keras{};

template <class T>
inline constexpr bool is_naming_v = std::is_same_v<T, pytorch_t> || std::is_same_v<T, keras_t>;

}  // namespace typeformer::naming

namespace typeformer {

/// The prefix of a layer's weight names when the layer stands alone rather than in a model.
/// One rule for both frameworks, as each writes a lone layer's weights: Keras names every weight
/// under its layer's name, alone or in a model (`dense/kernel`, `self/self_Wq`); a PyTorch
/// module's own state_dict carries no name of the module (`weight`, `in_proj_weight`), its name
/// being the path a parent module gives it. In a model both frameworks prefix the layer's path.
template <class Naming>
std::string standalone_prefix(std::string_view layer_name) {
  if constexpr (std::is_same_v<Naming, naming::keras_t>)
    return layer_name.empty() ? std::string()
                              : std::string(layer_name) + naming::keras_t::separator;
  else
    return {};
}

/// One tensor a layer expects in a weight file: its full name and shape.
struct weight_spec {
  std::string name;
  std::vector<std::int64_t> shape;
};

}  // namespace typeformer
