#pragma once
// Expression nodes. An expression is a type; nothing is computed until `evaluate` matches
// the tree onto a fused kernel (expr/evaluate.hpp):
//
//   softmax(scale * q * transpose(k) + mask) * v
//
// is `product<softmax_of<masked<scaled<product<leaf<Q>, transposed<leaf<K>>>>, M>>, leaf<V>>`.
// Leaves are rank-4 (batch, heads, length, width) views, the layout of PyTorch's
// scaled_dot_product_attention, or (batch, length, heads·width) tensors read in place through
// split_heads<H> (expr/split_heads.hpp). Containers (xtensor's) become leaves through `node(x)`.

#include <type_traits>
#include <utility>

#include <typeformer/expr/split_heads.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer::expr {

template <class View>
struct leaf {
  View view;
};
template <class E>
struct transposed {
  E inner;
};
template <class A, class B>
struct product {
  A left;
  B right;
};
template <class E>
struct scaled {
  float factor;
  E inner;
};
template <class E, class Mask>
struct masked {
  E inner;
  Mask mask;
};
template <class E>
struct softmax_of {
  E inner;
};

template <class T>
struct is_node : std::false_type {};
template <class V>
struct is_node<leaf<V>> : std::true_type {};
template <class E>
struct is_node<transposed<E>> : std::true_type {};
template <class A, class B>
struct is_node<product<A, B>> : std::true_type {};
template <class E>
struct is_node<scaled<E>> : std::true_type {};
template <class E, class M>
struct is_node<masked<E, M>> : std::true_type {};
template <class E>
struct is_node<softmax_of<E>> : std::true_type {};

/// A node, or a rank-4 view or container (anything `as_view<4>` takes) turned into a leaf.
template <class T>
auto node(T&& x) {
  if constexpr (is_node<std::remove_cvref_t<T>>::value)
    return std::forward<T>(x);
  else
    return leaf<decltype(as_view<4>(x))>{as_view<4>(x)};
}
template <class T>
using node_t = decltype(node(std::declval<T>()));

/// Something that may stand in an expression: a node, a rank-4 tensor_view or a split_heads
/// view. (Not any container: xtensor has its own element-wise operator*, which argument-dependent
/// lookup would find first; wrap a container with `node(x)`.)
template <class T>
concept tensor_operand = is_node<std::remove_cvref_t<T>>::value ||
    is_split_heads_view<std::remove_cvref_t<T>>::value ||
    (is_tensor_view<std::remove_cvref_t<T>>::value&& std::remove_cvref_t<T>::rank == 4);

template <tensor_operand E>
auto transpose(E&& e) {
  return transposed<node_t<E>>{node(std::forward<E>(e))};
}
template <tensor_operand E>
auto softmax(E&& e) {
  return softmax_of<node_t<E>>{node(std::forward<E>(e))};
}
template <tensor_operand A, tensor_operand B>
auto operator*(A&& a, B&& b) {
  return product<node_t<A>, node_t<B>>{node(std::forward<A>(a)), node(std::forward<B>(b))};
}
template <tensor_operand E>
auto operator*(float s, E&& e) {
  return scaled<node_t<E>>{s, node(std::forward<E>(e))};
}
/// Adds a typed mask (expr/masks.hpp) to scores: `scores + masks::causal{}`.
template <class E, class Mask>
requires is_node<std::remove_cvref_t<E>>::value && requires { Mask::extents; }
auto operator+(E&& e, Mask mask) {
  return masked<std::remove_cvref_t<E>, Mask>{std::forward<E>(e), mask};
}

}  // namespace typeformer::expr

namespace typeformer {
// Found by argument-dependent lookup for tensor_views, which live in this namespace.
using expr::operator*;
using expr::operator+;
using expr::softmax;
using expr::transpose;
}  // namespace typeformer
