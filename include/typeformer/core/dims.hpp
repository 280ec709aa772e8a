#pragma once
// Named dimensions. Each is a template over its extent, static (`heads<8>`) or
// `dynamic` (`batch<dynamic>`), and carries the name used in messages.

#include <string_view>
#include <type_traits>

#include <typeformer/core/extent.hpp>

namespace typeformer {

/// Common base of all named dimensions: the extent and whether it is static.
template <extent_t Extent>
struct dimension {
  static_assert(Extent == dynamic || Extent > 0, "a static extent must be positive");
  static constexpr extent_t extent = Extent;
  static constexpr bool is_static = Extent != dynamic;
};

namespace dims {
// Sizes of data.
template <extent_t N = dynamic>
struct batch : dimension<N> {
  static constexpr std::string_view name = "batch";
};
template <extent_t N = dynamic>
struct seq : dimension<N> {
  static constexpr std::string_view name = "seq";
};
template <extent_t N = dynamic>
struct query_seq : dimension<N> {
  static constexpr std::string_view name = "query_seq";
};
template <extent_t N = dynamic>
struct key_seq : dimension<N> {
  static constexpr std::string_view name = "key_seq";
};
/// The largest batch a dynamic batch will take (a runner sizes its workspace for it).
template <extent_t N>
struct max_batch : dimension<N> {
  static constexpr std::string_view name = "max_batch";
};
/// The longest sequence a dynamic seq will take.
template <extent_t N>
struct max_seq : dimension<N> {
  static constexpr std::string_view name = "max_seq";
};

// Widths of features and of attention heads.
/// Feature width of the query (PyTorch `embed_dim`, Keras query input's last axis).
template <extent_t N>
struct d_model : dimension<N> {
  static constexpr std::string_view name = "d_model";
};
template <extent_t N>
struct heads : dimension<N> {
  static constexpr std::string_view name = "heads";
};
/// Key/value heads of grouped-query attention (Hugging Face's `num_key_value_heads`): query
/// head h reads key/value head h·kv_heads/heads. Default: one per query head.
template <extent_t N>
struct kv_heads : dimension<N> {
  static constexpr std::string_view name = "kv_heads";
};
/// Width of one head's queries and keys (Keras `key_dim`; PyTorch `embed_dim / num_heads`).
template <extent_t N>
struct key_dim_per_head : dimension<N> {
  static constexpr std::string_view name = "key_dim_per_head";
};
/// Width of one head's values (Keras `value_dim`; PyTorch `embed_dim / num_heads`).
template <extent_t N>
struct value_dim_per_head : dimension<N> {
  static constexpr std::string_view name = "value_dim_per_head";
};
/// Feature width of the key input (PyTorch `kdim`).
template <extent_t N>
struct key_features : dimension<N> {
  static constexpr std::string_view name = "key_features";
};
/// Feature width of the value input (PyTorch `vdim`).
template <extent_t N>
struct value_features : dimension<N> {
  static constexpr std::string_view name = "value_features";
};
/// Width of the layer's output (Keras `output_shape`; PyTorch always `embed_dim`).
template <extent_t N>
struct output_features : dimension<N> {
  static constexpr std::string_view name = "output_features";
};
/// Width of a transformer layer's feed-forward hidden layer (PyTorch `dim_feedforward`).
template <extent_t N>
struct dim_feedforward : dimension<N> {
  static constexpr std::string_view name = "dim_feedforward";
};
}  // namespace dims

/// True when `D` is `Kind<n>` for some extent n: `is_dim_kind_v<heads<8>, dims::heads>`.
template <class D, template <extent_t> class Kind>
struct is_dim_kind : std::false_type {};
template <template <extent_t> class Kind, extent_t N>
struct is_dim_kind<Kind<N>, Kind> : std::true_type {};
template <class D, template <extent_t> class Kind>
inline constexpr bool is_dim_kind_v = is_dim_kind<D, Kind>::value;

namespace detail {
template <template <extent_t> class Kind, extent_t Default, class... Options>
constexpr extent_t find_extent() noexcept {
  extent_t found = Default;
  [[maybe_unused]] auto take = [&found]<class T>(T*) {
    if constexpr (is_dim_kind_v<T, Kind>) found = T::extent;
  };
  (take(static_cast<Options*>(nullptr)), ...);
  return found;
}
template <template <extent_t> class Kind, class... Options>
constexpr int count_kind() noexcept {
  return (0 + ... + int(is_dim_kind_v<Options, Kind>));
}
}  // namespace detail

/// The extent of the option of kind `Kind` among `Options...`, or `Default` if absent.
template <template <extent_t> class Kind, extent_t Default, class... Options>
inline constexpr extent_t extent_of_v = detail::find_extent<Kind, Default, Options...>();

/// Whether `Options...` names a dimension of kind `Kind`.
template <template <extent_t> class Kind, class... Options>
inline constexpr bool has_dim_v = detail::count_kind<Kind, Options...>() > 0;

/// How many times `Options...` names a dimension of kind `Kind` (a layer rejects repeats).
template <template <extent_t> class Kind, class... Options>
inline constexpr int dim_count_v = detail::count_kind<Kind, Options...>();

}  // namespace typeformer
