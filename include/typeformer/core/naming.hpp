#pragma once
// Which framework's parameter names and layouts a weight file uses. Layers know how their
// parameters are spelled under each; io/ reads the file.

#include <cstdint>
#include <string>
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

/// One tensor a layer expects in a weight file: its full name and shape.
struct weight_spec {
  std::string name;
  std::vector<std::int64_t> shape;
};

}  // namespace typeformer
