#pragma once
// Zero-copy views of xtensor containers: xt::xarray, xt::xtensor and xt::xtensor_fixed
// (whose shape becomes the view's static extents). Containers must be row-major.

#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <xtensor/xarray.hpp>
#include <xtensor/xfixed.hpp>
#include <xtensor/xtensor.hpp>

#include <typeformer/tensor/view.hpp>

namespace typeformer {
namespace detail {

template <class T, std::size_t N, class Container, std::size_t... I>
auto dynamic_view(Container& c, std::index_sequence<I...>) {
  if (c.dimension() != N)
    throw shape_error(detail::concat("xtensor container has ", std::to_string(c.dimension()),
                                     " dimensions, expected ", std::to_string(N)));
  if (c.layout() != xt::layout_type::row_major)
    throw shape_error("xtensor container is not row-major");
  return tensor_view<T, ((void)I, dynamic)...>(c.data(), {static_cast<extent_t>(c.shape()[I])...});
}

}  // namespace detail

template <class T, std::size_t N, xt::layout_type L, class Tag>
struct view_traits<xt::xtensor_container<xt::uvector<T, std::allocator<T>>, N, L, Tag>> {
  template <std::size_t Rank, class C>
  static auto view(C&& c) {
    static_assert(Rank == N, "an xtensor of the wrong rank was passed");
    using element = std::conditional_t<std::is_const_v<std::remove_reference_t<C>>, const T, T>;
    return detail::dynamic_view<element, N>(c, std::make_index_sequence<N>{});
  }
};

template <class T, xt::layout_type L, class Tag>
struct view_traits<
    xt::xarray_container<xt::uvector<T, std::allocator<T>>, L,
                         xt::svector<std::size_t, 4, std::allocator<std::size_t>, true>, Tag>> {
  // An xarray's rank is known only at run time: checked against the rank the layer expects.
  template <std::size_t Rank, class C>
  static auto view(C&& c) {
    using element = std::conditional_t<std::is_const_v<std::remove_reference_t<C>>, const T, T>;
    return detail::dynamic_view<element, Rank>(c, std::make_index_sequence<Rank>{});
  }
};

template <class T, std::size_t... S, xt::layout_type L, bool SH, class Tag>
struct view_traits<xt::xfixed_container<T, xt::fixed_shape<S...>, L, SH, Tag>> {
  template <std::size_t Rank, class C>
  static auto view(C&& c) {
    static_assert(Rank == sizeof...(S), "an xtensor_fixed of the wrong rank was passed");
    static_assert(L == xt::layout_type::row_major, "typeformer views need row-major containers");
    using element = std::conditional_t<std::is_const_v<std::remove_reference_t<C>>, const T, T>;
    return tensor_view<element, static_cast<extent_t>(S)...>(c.data());
  }
};

template <class T, std::size_t N, xt::layout_type L, class Tag>
inline constexpr std::size_t
    static_rank_of<xt::xtensor_container<xt::uvector<T, std::allocator<T>>, N, L, Tag>> = N;
template <class T, std::size_t... S, xt::layout_type L, bool SH, class Tag>
inline constexpr std::size_t
    static_rank_of<xt::xfixed_container<T, xt::fixed_shape<S...>, L, SH, Tag>> = sizeof...(S);

}  // namespace typeformer
