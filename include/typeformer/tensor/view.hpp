#pragma once
// Non-owning, row-major views with mixed static/dynamic extents: `tensor_view<const float, dynamic,
// 5, 512>` is a (batch, 5, 512) input whose batch is known only at run time. Layers read the static
// extents at compile time and check the dynamic ones when called.

#include <array>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/extent.hpp>
#include <typeformer/core/text.hpp>

namespace typeformer {

/// How a container becomes a view of rank `Rank`. Specialised for tensor_view below and for
/// xtensor containers in tensor/xtensor_adapt.hpp; a user can specialise it for their own
/// container with `template <std::size_t Rank, class C> static auto view(C&&)`.
template <class Container, class Enable = void>
struct view_traits;

/// The rank a container's type fixes, or 0 where only the run time knows it (xt::xarray).
template <class Container>
inline constexpr std::size_t static_rank_of = 0;

template <class T, extent_t... Extents>
class tensor_view;

template <class V>
struct is_tensor_view : std::false_type {};
template <class T, extent_t... E>
struct is_tensor_view<tensor_view<T, E...>> : std::true_type {};

/// Whether `as_view` takes a C (a view, or a container with view_traits).
template <class C>
concept viewable = requires {
  sizeof(view_traits<std::remove_cvref_t<C>>);
};

namespace detail {
/// A container (not a view) that view_traits knows and whose type does not fix another rank
/// than `Rank`.
template <class C, std::size_t Rank>
concept container_of_rank =
    !is_tensor_view<std::remove_cv_t<C>>::value && viewable<C> &&
    (static_rank_of<std::remove_cv_t<C>> == Rank || static_rank_of<std::remove_cv_t<C>> == 0);
}  // namespace detail

template <class T, extent_t... Extents>
class tensor_view {
 public:
  static constexpr std::size_t rank = sizeof...(Extents);
  static constexpr std::array<extent_t, rank> static_extents = {Extents...};
  using value_type = T;

  /// Throws `shape_error` if a static extent disagrees with the run-time one.
  tensor_view(T* data, const std::array<extent_t, rank>& extents) : data_(data), extents_(extents) {
    for (std::size_t i = 0; i < rank; ++i) {
      if (extents_[i] < 0)
        throw shape_error(detail::concat("tensor_view: extent ", std::to_string(i),
                                         " is negative (", std::to_string(extents_[i]), ")"));
      if (static_extents[i] != dynamic && static_extents[i] != extents_[i])
        throw shape_error(detail::concat(
            "tensor_view: extent ", std::to_string(i), " is ", std::to_string(extents_[i]),
            " but the view's type fixes it at ", std::to_string(static_extents[i])));
    }
  }

  /// A view whose extents are all static needs only the pointer.
  explicit tensor_view(T* data) requires((Extents != dynamic) && ...)
      : data_(data), extents_{Extents...} {}

  /// From a view of the same rank with T or const T elements and any extents: adds const,
  /// or fixes or frees extents (a static extent is checked against the run-time one).
  template <class U, extent_t... Other>
  requires(sizeof...(Other) == rank && std::is_convertible_v<U*, T*> &&
           !std::is_same_v<tensor_view<U, Other...>, tensor_view>)
      tensor_view(const tensor_view<U, Other...>& other)
      : tensor_view(other.data(), other.extents()) {}

  /// From a container view_traits knows (an xt::xtensor, ...), as as_view<rank> makes it: so a
  /// mask or an operand takes the container itself. Lvalues only: a view of a temporary would
  /// dangle.
  template <class C>
  requires detail::container_of_rank<C, rank> && requires(C& c) {
    tensor_view(view_traits<std::remove_cv_t<C>>::template view<rank>(c));
  }
  tensor_view(C& c) : tensor_view(view_traits<std::remove_cv_t<C>>::template view<rank>(c)) {}

  T* data() const noexcept { return data_; }
  extent_t extent(std::size_t axis) const noexcept { return extents_[axis]; }
  const std::array<extent_t, rank>& extents() const noexcept { return extents_; }
  std::size_t size() const noexcept {
    std::size_t n = 1;
    for (auto e : extents_) n *= static_cast<std::size_t>(e);
    return n;
  }

 private:
  T* data_;
  std::array<extent_t, rank> extents_;
};

template <class T, extent_t... E>
struct view_traits<tensor_view<T, E...>> {
  template <std::size_t Rank>
  static tensor_view<T, E...> view(const tensor_view<T, E...>& v) noexcept {
    static_assert(Rank == sizeof...(E), "a view of the wrong rank was passed");
    return v;
  }
};

template <class T, extent_t... E>
inline constexpr std::size_t static_rank_of<tensor_view<T, E...>> = sizeof...(E);

/// The rank-`Rank` view of anything `view_traits` knows; const containers give const views.
template <std::size_t Rank, class Container>
auto as_view(Container&& c)
    -> decltype(view_traits<std::remove_cvref_t<Container>>::template view<Rank>(
        std::forward<Container>(c))) {
  return view_traits<std::remove_cvref_t<Container>>::template view<Rank>(
      std::forward<Container>(c));
}

}  // namespace typeformer
