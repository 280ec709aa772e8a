#pragma once
// rotary(x, embedding): queries or keys with rotary position embedding (kernels/
// rotary_embedding.hpp), applied as `evaluate` copies them for the kernel:
//
//   const rotary_embedding rope{.pairs = rotary_pairs::half_split, .first_position = past};
//   evaluate(out, softmax(s * rotary(q, rope) * transpose(rotary(k, {.pairs = ...}))) * v, ws);
//
// A query row j is at position first_position + j; so is key j. When decoding, the queries'
// first position is the number of cached keys and the keys' is 0.

#include <cstddef>
#include <utility>

#include <typeformer/expr/nodes.hpp>
#include <typeformer/kernels/rotary_embedding.hpp>

namespace typeformer::expr {

using kernels::rotary_pairs;

/// How queries or keys are rotated. `dims` 0 rotates the whole head width; else the first
/// `dims` features (an even number, at most the width) and the rest pass unchanged.
struct rotary_embedding {
  rotary_pairs pairs = rotary_pairs::half_split;
  std::size_t first_position = 0;
  double base = 10000.0;
  std::size_t dims = 0;
};

template <class E>
struct rotated {
  rotary_embedding embedding;
  E inner;
};
template <class E>
struct is_node<rotated<E>> : std::true_type {};

/// Queries or keys (a rank-4 view, a split_heads view or a leaf) with rotary position embedding.
template <tensor_operand E>
auto rotary(E&& e, const rotary_embedding& embedding) {
  return rotated<node_t<E>>{embedding, node(std::forward<E>(e))};
}

}  // namespace typeformer::expr
