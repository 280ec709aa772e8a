#pragma once
// split_heads<H>(x): a (batch, length, H·width) tensor — PyTorch's and Keras's (B, L, E)
// layout, and what a projection writes — read in place as (batch, H, length, width), the
// layout `evaluate` computes in. Nothing is copied: the kernels take the strides.
//
//   evaluate(split_heads<8>(out), softmax(s * split_heads<8>(q) * transpose(split_heads<2>(k)))
//                                     * split_heads<2>(v), ws);

#include <array>
#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/extent.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/kernels/attention_layout.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer::expr {

/// (batch, heads, length, width) over a row-major (batch, length, heads·width) buffer.
template <class T, extent_t Batch, extent_t Heads, extent_t Length, extent_t Width>
class split_heads_view {
 public:
  static constexpr std::size_t rank = 4;
  static constexpr std::array<extent_t, rank> static_extents = {Batch, Heads, Length, Width};
  using value_type = T;

  split_heads_view(T* data, const std::array<extent_t, rank>& extents) noexcept
      : data_(data), extents_(extents) {}

  T* data() const noexcept { return data_; }
  extent_t extent(std::size_t axis) const noexcept { return extents_[axis]; }
  const std::array<extent_t, rank>& extents() const noexcept { return extents_; }
  /// Element (b, h, j, d) at data()[b·batch + h·head + j·row + d].
  kernels::head_strides strides() const noexcept {
    const auto h = static_cast<std::size_t>(extents_[1]), l = static_cast<std::size_t>(extents_[2]),
               w = static_cast<std::size_t>(extents_[3]);
    return {l * h * w, w, h * w};
  }

 private:
  T* data_;
  std::array<extent_t, rank> extents_;
};

template <class V>
struct is_split_heads_view : std::false_type {};
template <class T, extent_t B, extent_t H, extent_t L, extent_t W>
struct is_split_heads_view<split_heads_view<T, B, H, L, W>> : std::true_type {};

/// The strides of a row-major (batch, heads, length, width) view.
template <class T, extent_t... E>
requires(sizeof...(E) == 4) kernels::head_strides strides_of(const tensor_view<T, E...>& v)
noexcept {
  const auto h = static_cast<std::size_t>(v.extent(1)), l = static_cast<std::size_t>(v.extent(2)),
             w = static_cast<std::size_t>(v.extent(3));
  return {h * l * w, l * w, w};
}
template <class T, extent_t B, extent_t H, extent_t L, extent_t W>
kernels::head_strides strides_of(const split_heads_view<T, B, H, L, W>& v) noexcept {
  return v.strides();
}

/// v, a (batch, length, heads·width) view, as (batch, heads, length, width), with `Heads` the
/// heads known at compile time (or dynamic) and `heads` the run-time count. A width the heads do
/// not divide is `shape_error` (`split_heads` checks static widths at compile time first).
template <extent_t Heads, class V>
auto split_heads_of_view(const V& v, extent_t heads) {
  constexpr auto e = V::static_extents;
  constexpr extent_t width =
      e[2] == dynamic || Heads == dynamic || e[2] % Heads != 0 ? dynamic : e[2] / Heads;
  diagnostics::check<diagnostics::heads_do_not_divide_d_model>(
      heads > 0 && v.extent(2) % heads == 0, "split_heads", "expression", v.extent(2), heads);
  using T = std::remove_pointer_t<decltype(v.data())>;
  return split_heads_view<T, e[0], Heads, e[1], width>(
      v.data(), {v.extent(0), heads, v.extent(1), v.extent(2) / heads});
}

/// x, a (batch, length, Heads·width) view or container (anything `as_view<3>` takes), as
/// (batch, Heads, length, width). A width that Heads does not divide is an error: at compile
/// time when the width is static, else `shape_error`.
template <extent_t Heads, class X>
auto split_heads(X&& x) {
  static_assert(
      diagnostics::require<(Heads > 0), diagnostics::heads_must_be_positive<
                                            layer_name_of<"split_heads">, Heads, 0>>::rule_holds);
  const auto v = as_view<3>(std::forward<X>(x));
  constexpr auto e = std::remove_cvref_t<decltype(v)>::static_extents;
  static_assert(diagnostics::require < e[2] == dynamic || e[2] % Heads == 0,
                diagnostics::heads_do_not_divide_d_model < layer_name_of<"split_heads">, e[2],
                Heads >> ::rule_holds);
  return split_heads_of_view<Heads>(v, Heads);
}

}  // namespace typeformer::expr

namespace typeformer {
template <class T, extent_t B, extent_t H, extent_t L, extent_t W>
inline constexpr std::size_t static_rank_of<expr::split_heads_view<T, B, H, L, W>> = 4;
template <class T, extent_t B, extent_t H, extent_t L, extent_t W>
struct view_traits<expr::split_heads_view<T, B, H, L, W>> {
  template <std::size_t Rank>
  static expr::split_heads_view<T, B, H, L, W> view(
      const expr::split_heads_view<T, B, H, L, W>& v) noexcept {
    static_assert(Rank == 4, "split_heads gives a rank-4 (batch, heads, length, width) view");
    return v;
  }
};
}  // namespace typeformer
