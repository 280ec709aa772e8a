#pragma once
// The compile-time half of the attention layers' shape rules. Every static extent of a call
// y = attention(query, key, value, mask) is checked against the others and against the widths
// the layer declares; the run-time checks in each layer use the same rules (and so the same
// sentences) for the extents that are dynamic.

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/extent.hpp>
#include <typeformer/expr/masks.hpp>

namespace typeformer::detail {

/// The widths a layer declares for its inputs and output; `dynamic` where it declares none.
/// `query_is_key_width`: the scores compare query and key features one to one (no projection).
struct declared_widths {
  extent_t query = dynamic, key = dynamic, value = dynamic, output = dynamic;
  bool query_is_key_width = false;
};

/// Static extents of one mask part that may constrain the query rows (masks::keep_queries).
template <class QueryMask>
constexpr masks::static_extents query_mask_extents() {
  if constexpr (requires { QueryMask::extents; })
    return QueryMask::extents;
  else if constexpr (requires { decltype(QueryMask::mask)::static_extents; })
    return {decltype(QueryMask::mask)::static_extents[0], dynamic,
            decltype(QueryMask::mask)::static_extents[1], dynamic};
  else
    return {};
}

/// The first broken rule of y = attention(query, key, value, mask), or `passed`. Q, K, V, Y are
/// the views' types (static_extents of rank 3); the output width is W.output, or the value's
/// width when the layer declares none. A layer asserts its `rule_holds`, so that a broken rule is
/// reported at the layer's call with the rule's name, the layer's name and both numbers.
template <class Name, declared_widths W, class Q, class K, class V, class Y, class Mask,
          class QueryMask>
struct attention_shapes {
  static constexpr auto q = Q::static_extents;
  static constexpr auto k = K::static_extents;
  static constexpr auto v = V::static_extents;
  static constexpr auto y = Y::static_extents;
  static constexpr masks::static_extents mx = Mask::extents;
  static constexpr masks::static_extents qm = query_mask_extents<QueryMask>();
  static constexpr extent_t output = W.output != dynamic ? W.output : v[2];
  using problem = first_problem<
      diagnostics::require<extents_may_agree(q[2], W.query),
                           diagnostics::query_features_do_not_match_d_model<Name, q[2], W.query>>,
      diagnostics::require<extents_may_agree(k[2], W.key),
                           diagnostics::key_features_do_not_match_declaration<Name, k[2], W.key>>,
      diagnostics::require<
          extents_may_agree(v[2], W.value),
          diagnostics::value_features_do_not_match_declaration<Name, v[2], W.value>>,
      diagnostics::require<!W.query_is_key_width || extents_may_agree(q[2], k[2]),
                           diagnostics::query_and_key_widths_differ<Name, q[2], k[2]>>,
      diagnostics::require<extents_may_agree(k[1], v[1]),
                           diagnostics::key_and_value_lengths_differ<Name, k[1], v[1]>>,
      diagnostics::require<extents_may_agree(k[0], q[0]),
                           diagnostics::batch_sizes_differ<Name, k[0], q[0]>>,
      diagnostics::require<extents_may_agree(v[0], q[0]),
                           diagnostics::batch_sizes_differ<Name, v[0], q[0]>>,
      diagnostics::require<extents_may_agree(y[2], output),
                           diagnostics::output_shape_does_not_match<Name, y[2], output>>,
      diagnostics::require<extents_may_agree(y[1], q[1]),
                           diagnostics::output_shape_does_not_match<Name, y[1], q[1]>>,
      diagnostics::require<extents_may_agree(y[0], q[0]),
                           diagnostics::batch_sizes_differ<Name, y[0], q[0]>>,
      diagnostics::require<extents_may_agree(mx.query_len, q[1]),
                           diagnostics::mask_query_length_does_not_match<Name, mx.query_len, q[1]>>,
      diagnostics::require<extents_may_agree(mx.key_len, k[1]),
                           diagnostics::mask_key_length_does_not_match<Name, mx.key_len, k[1]>>,
      diagnostics::require<extents_may_agree(mx.batch, q[0]),
                           diagnostics::mask_batch_does_not_match<Name, mx.batch, q[0]>>,
      diagnostics::require<extents_may_agree(qm.query_len, q[1]),
                           diagnostics::mask_query_length_does_not_match<Name, qm.query_len, q[1]>>,
      diagnostics::require<extents_may_agree(qm.batch, q[0]),
                           diagnostics::mask_batch_does_not_match<Name, qm.batch, q[0]>>>;
};

template <class Name, declared_widths W, class Q, class K, class V, class Y, class Mask,
          class QueryMask = masks::all_queries>
using attention_shape_problem =
    typename attention_shapes<Name, W, Q, K, V, Y, Mask, QueryMask>::problem;

}  // namespace typeformer::detail
