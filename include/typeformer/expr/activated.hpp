#pragma once
// activated(x, activations::relu): queries, keys or values with an element-wise activation
// applied as `evaluate` copies them for the kernel, as keras-multi-head applies one to each of
// its projections:
//
//   evaluate(out, softmax(s * activated(q, activations::relu) * transpose(activated(k,
//   activations::relu))) *
//                     activated(v, activations::relu), ws);
//
// (A declared layer applies it in its projection GEMM's store instead:
// projection_activation<activations::relu>.)

#include <string>
#include <utility>

#include <typeformer/core/errors.hpp>
#include <typeformer/expr/nodes.hpp>
#include <typeformer/kernels/activation.hpp>

namespace typeformer::expr {

template <class E>
struct activated_node {
  activation_function function;
  E inner;
};
template <class E>
struct is_node<activated_node<E>> : std::true_type {};

/// Queries, keys or values (a rank-4 view, a split_heads view or a leaf) with the element-wise
/// activation `a` applied (shape_error for softmax, which is not element-wise).
template <tensor_operand E>
auto activated(E&& e, activation_function a) {
  if (!is_element_wise(a))
    throw shape_error(
        "activated(x, a) applies an element-wise activation; softmax over a head's features is "
        "not one");
  return activated_node<node_t<E>>{a, node(std::forward<E>(e))};
}

}  // namespace typeformer::expr
