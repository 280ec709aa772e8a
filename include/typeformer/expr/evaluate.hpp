#pragma once
// evaluate(out, expression, workspace): matches an expression tree onto a fused kernel.
//
//   softmax(s * q * transpose(k) [+ mask]) * v   ->  kernels::flash_attention
//   (with or without the scale, with or without a mask or score function)
//
// q (batch, heads, Lq, d), k (batch, kv_heads, Lk, d), v (batch, kv_heads, Lk, dv) and out
// (batch, heads, Lq, dv), as rank-4 views or split_heads<H> views of (batch, length, H·width)
// tensors. kv_heads divides heads: query head h reads key and value head h·kv_heads/heads
// (grouped-query attention; multi-query at kv_heads 1). q and k may be rotary(…) (expr/rotary.hpp)
// or activated(…) (expr/activated.hpp); v may be activated(…), or v + value_function<E>(…).
// The score matrix is never formed; the workspace holds a transposed copy of k and a padded
// copy of v (O(batch·kv_heads·Lk·d)), and rotated copies of q and k when they are rotated. A
// tree no kernel matches is a compile error naming
// `diagnostics::no_fused_kernel_for_expression<tree>`.

#include <cmath>
#include <cstdint>
#include <functional>
#include <string_view>
#include <type_traits>
#include <utility>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/expr/activated.hpp>
#include <typeformer/expr/function_attention.hpp>
#include <typeformer/expr/masks.hpp>
#include <typeformer/expr/nodes.hpp>
#include <typeformer/expr/rotary.hpp>
#include <typeformer/expr/split_heads.hpp>
#include <typeformer/kernels/activation.hpp>
#include <typeformer/kernels/flash_attention.hpp>
#include <typeformer/kernels/rotary_embedding.hpp>
#include <typeformer/kernels/workspace.hpp>

namespace typeformer::diagnostics {
template <class Expression>
struct no_fused_kernel_for_expression {};
}  // namespace typeformer::diagnostics

namespace typeformer::expr {
namespace detail {

// A query or key operand: a leaf, or a leaf with rotary position embedding.
template <class N>
struct input_of : std::false_type {};
template <class V>
struct input_of<leaf<V>> : std::true_type {
  static const V& view(const leaf<V>& n) { return n.view; }
  static const rotary_embedding* rotation(const leaf<V>&) { return nullptr; }
  static const activation_function* function(const leaf<V>&) { return nullptr; }
};
template <class V>
struct input_of<rotated<leaf<V>>> : std::true_type {
  static const V& view(const rotated<leaf<V>>& n) { return n.inner.view; }
  static const rotary_embedding* rotation(const rotated<leaf<V>>& n) { return &n.embedding; }
  static const activation_function* function(const rotated<leaf<V>>&) { return nullptr; }
};
template <class V>
struct input_of<activated_node<leaf<V>>> : std::true_type {
  static const V& view(const activated_node<leaf<V>>& n) { return n.inner.view; }
  static const rotary_embedding* rotation(const activated_node<leaf<V>>&) { return nullptr; }
  static const activation_function* function(const activated_node<leaf<V>>& n) {
    return &n.function;
  }
};

// The score subtree: q·kᵀ, optionally scaled, optionally masked. q(s) and k(s) give the
// operand nodes (input_of).
template <class S>
struct scores : std::false_type {};
template <class QN, class KN>
requires(input_of<QN>::value&& input_of<KN>::value) struct scores<product<QN, transposed<KN>>>
    : std::true_type {
  using self = product<QN, transposed<KN>>;
  using mask = masks::none;
  static constexpr no_function score_function{};
  static bindings<> score_operands(const auto&) { return {}; }
  static const QN& q(const self& s) { return s.left; }
  static const KN& k(const self& s) { return s.right.inner; }
  static float scale(const self&) { return 1.0f; }
  static masks::none get_mask(const self&) { return {}; }
};
template <class QN, class KN>
requires(
    input_of<QN>::value&& input_of<KN>::value) struct scores<product<scaled<QN>, transposed<KN>>>
    : scores<product<QN, transposed<KN>>> {
  using self = product<scaled<QN>, transposed<KN>>;
  static const QN& q(const self& s) { return s.left.inner; }
  static const KN& k(const self& s) { return s.right.inner; }
  static float scale(const self& s) { return s.left.factor; }
  static masks::none get_mask(const self&) { return {}; }
};
// A scale outside a mask (or a score function) would scale the mask's bias (or the function's
// result) too: no kernel computes that, so such a tree is not matched (and fails to compile with
// no_fused_kernel_for_expression).
template <class P>
requires(std::is_same_v<typename scores<P>::mask, masks::none>&&
             std::is_same_v<std::remove_cvref_t<decltype(scores<P>::score_function)>,
                            no_function>) struct scores<scaled<P>> : scores<P> {
  static const auto& q(const scaled<P>& s) { return scores<P>::q(s.inner); }
  static const auto& k(const scaled<P>& s) { return scores<P>::k(s.inner); }
  static float scale(const scaled<P>& s) { return s.factor * scores<P>::scale(s.inner); }
  static masks::none get_mask(const scaled<P>&) { return {}; }
};
template <class P, class M>
requires(std::is_same_v<typename scores<P>::mask, masks::none>) struct scores<masked<P, M>>
    : scores<P> {
  using mask = M;
  static const auto& q(const masked<P, M>& s) { return scores<P>::q(s.inner); }
  static const auto& k(const masked<P, M>& s) { return scores<P>::k(s.inner); }
  static float scale(const masked<P, M>& s) { return scores<P>::scale(s.inner); }
  static const M& get_mask(const masked<P, M>& s) { return s.mask; }
  static auto score_operands(const masked<P, M>& s) { return scores<P>::score_operands(s.inner); }
};
// A score function of the scaled scores, before any mask.
template <auto E, class P, class B>
requires(std::is_same_v<typename scores<P>::mask, masks::none>&&
             std::is_same_v<std::remove_cvref_t<decltype(scores<P>::score_function)>,
                            no_function>) struct scores<scored<E, P, B>> : scores<P> {
  using self = scored<E, P, B>;
  static constexpr auto score_function = E;
  static const B& score_operands(const self& s) { return s.operands; }
  static const auto& q(const self& s) { return scores<P>::q(s.inner); }
  static const auto& k(const self& s) { return scores<P>::k(s.inner); }
  static float scale(const self& s) { return scores<P>::scale(s.inner); }
  static masks::none get_mask(const self&) { return {}; }
};

// The features a rotary embedding turns at head width `width`, or shape_error.
inline std::size_t rotated_dims(const rotary_embedding& r, extent_t width, std::string_view what) {
  const auto w = static_cast<std::size_t>(width);
  const std::size_t dims = r.dims ? r.dims : w;
  if (dims % 2 != 0 || dims > w)
    throw shape_error(typeformer::detail::concat(
        "rotary embedding of the ", what, ": it turns pairs of features, so its dims (",
        std::to_string(dims), ") must be even and at most the head width (", std::to_string(w),
        ")"));
  if (!(r.base > 1.0) || !std::isfinite(r.base))
    throw shape_error(typeformer::detail::concat("rotary embedding of the ", what,
                                                 ": base must be finite and above 1"));
  return dims;
}

// The values: a leaf, or a leaf with a value function's rows added.
template <class N>
struct values_of : std::false_type {};
template <class V>
struct values_of<leaf<V>> : std::true_type {
  static constexpr auto function = no_function{};
  static const V& view(const leaf<V>& n) { return n.view; }
  static bindings<> operands(const leaf<V>&) { return {}; }
  static const activation_function* activation_of(const leaf<V>&) { return nullptr; }
};
template <class V>
struct values_of<activated_node<leaf<V>>> : std::true_type {
  static constexpr auto function = no_function{};
  static const V& view(const activated_node<leaf<V>>& n) { return n.inner.view; }
  static bindings<> operands(const activated_node<leaf<V>>&) { return {}; }
  static const activation_function* activation_of(const activated_node<leaf<V>>& n) {
    return &n.function;
  }
};
template <class V, auto E, class B>
struct values_of<with_value_rows<leaf<V>, E, B>> : std::true_type {
  static constexpr auto function = E;
  static const V& view(const with_value_rows<leaf<V>, E, B>& n) { return n.inner.view; }
  static const B& operands(const with_value_rows<leaf<V>, E, B>& n) { return n.operands; }
  static const activation_function* activation_of(const with_value_rows<leaf<V>, E, B>&) {
    return nullptr;
  }
};

// The output as (batch, heads, length, width): a rank-3 (batch, length, heads·width) view or
// container is split into the query heads (`Heads` static, or dynamic; `heads` at run time).
template <extent_t Heads, class Out>
auto output_view(Out&& out, extent_t heads) {
  if constexpr (static_rank_of<std::remove_cvref_t<Out>> == 3)
    return split_heads_of_view<Heads>(as_view<3>(std::forward<Out>(out)), heads);
  else
    return as_view<4>(std::forward<Out>(out));
}

template <class E>
struct attention_pattern : std::false_type {};
template <class S, class VN>
requires(
    scores<S>::value&& values_of<VN>::value) struct attention_pattern<product<softmax_of<S>, VN>>
    : std::true_type {
};

// The first static shape rule an attention expression E writing Out breaks, or `passed`: checked
// where the user calls evaluate, so that a broken rule is one error and nothing after it is
// instantiated.
template <class E, class Out>
struct attention_shapes {
  using S = std::remove_cvref_t<decltype(std::declval<const E&>().left.inner)>;
  using QN = std::remove_cvref_t<decltype(scores<S>::q(std::declval<const S&>()))>;
  using KN = std::remove_cvref_t<decltype(scores<S>::k(std::declval<const S&>()))>;
  using Q = std::remove_cvref_t<decltype(input_of<QN>::view(std::declval<const QN&>()))>;
  using K = std::remove_cvref_t<decltype(input_of<KN>::view(std::declval<const KN&>()))>;
  using VN = std::remove_cvref_t<decltype(std::declval<const E&>().right)>;
  using V = std::remove_cvref_t<decltype(values_of<VN>::view(std::declval<const VN&>()))>;
  using O =
      std::remove_cvref_t<decltype(output_view<Q::static_extents[1]>(std::declval<Out>(), 1))>;
  // A rank-3 output's width, which the query heads must divide.
  static constexpr extent_t merged_width = [] {
    if constexpr (static_rank_of<std::remove_cvref_t<Out>> == 3)
      return std::remove_cvref_t<decltype(as_view<3>(std::declval<Out>()))>::static_extents[2];
    else
      return dynamic;
  }();
  using M = std::remove_cvref_t<decltype(scores<S>::get_mask(std::declval<const S&>()))>;
  static constexpr auto qx = Q::static_extents, kx = K::static_extents, vx = V::static_extents,
                        ox = O::static_extents;
  static constexpr auto mx = M::extents;
  using L = layer_name_of<"expression">;
  // Keys and values may have fewer heads than queries (grouped-query attention).
  static constexpr bool kv_heads_divide =
      kx[1] == dynamic || qx[1] == dynamic || (kx[1] > 0 && qx[1] % kx[1] == 0);
  template <bool Holds, class Rule>
  using rule = diagnostics::require<Holds, Rule>;
  using problem = typeformer::detail::first_problem<
      rule<merged_width == dynamic || qx[1] == dynamic || merged_width % qx[1] == 0,
           diagnostics::heads_do_not_divide_d_model<L, merged_width, qx[1]>>,
      rule<extents_may_agree(qx[3], kx[3]),
           diagnostics::query_and_key_widths_differ<L, qx[3], kx[3]>>,
      rule<extents_may_agree(kx[2], vx[2]),
           diagnostics::key_and_value_lengths_differ<L, kx[2], vx[2]>>,
      rule<extents_may_agree(kx[0], qx[0]), diagnostics::batch_sizes_differ<L, kx[0], qx[0]>>,
      rule<extents_may_agree(vx[0], qx[0]), diagnostics::batch_sizes_differ<L, vx[0], qx[0]>>,
      rule<extents_may_agree(ox[0], qx[0]), diagnostics::batch_sizes_differ<L, ox[0], qx[0]>>,
      rule<kv_heads_divide, diagnostics::key_heads_do_not_divide_query_heads<L, kx[1], qx[1]>>,
      rule<extents_may_agree(vx[1], kx[1]),
           diagnostics::value_heads_differ_from_key_heads<L, vx[1], kx[1]>>,
      rule<extents_may_agree(ox[1], qx[1]), diagnostics::heads_differ<L, ox[1], qx[1]>>,
      rule<extents_may_agree(ox[2], qx[2]),
           diagnostics::output_shape_does_not_match<L, ox[2], qx[2]>>,
      rule<extents_may_agree(ox[3], vx[3]),
           diagnostics::output_shape_does_not_match<L, ox[3], vx[3]>>,
      rule<extents_may_agree(mx.batch, qx[0]),
           diagnostics::mask_batch_does_not_match<L, mx.batch, qx[0]>>,
      rule<extents_may_agree(mx.heads, qx[1]),
           diagnostics::mask_heads_do_not_match<L, mx.heads, qx[1]>>,
      rule<extents_may_agree(mx.query_len, qx[2]),
           diagnostics::mask_query_length_does_not_match<L, mx.query_len, qx[2]>>,
      rule<extents_may_agree(mx.key_len, kx[2]),
           diagnostics::mask_key_length_does_not_match<L, mx.key_len, kx[2]>>>;
};

template <class Arch, class Out, class E>
void evaluate_attention(Out&& out_in, const E& e, workspace& ws, fully_masked_rows policy,
                        maths softmax_maths);
}  // namespace detail

/// out = the expression's value, computed by the kernel its tree matches. `policy` says what a
/// query row with every key masked gives (see fully_masked_rows), `softmax_maths` how the
/// softmax's exponentials are evaluated (see maths).
template <class Arch = simd::best_available, class Out, class E>
void evaluate(Out&& out, const E& e, workspace& ws,
              fully_masked_rows policy = fully_masked_rows::zeros,
              maths softmax_maths = maths::fast) {
  static_assert(diagnostics::require<detail::attention_pattern<E>::value,
                                     diagnostics::no_fused_kernel_for_expression<E>>::rule_holds);
  if constexpr (detail::attention_pattern<E>::value) {
    using problem = typename detail::attention_shapes<E, Out>::problem;
    static_assert(problem::rule_holds);
    if constexpr (std::is_same_v<problem, diagnostics::passed>)
      detail::evaluate_attention<Arch>(std::forward<Out>(out), e, ws, policy, softmax_maths);
  }
}

/// softmax(s·q·kᵀ + mask)·v by the fused attention kernel. Allocates nothing once the
/// workspace has grown to the size.
template <class Arch, class Out, class E>
void detail::evaluate_attention(Out&& out_in, const E& e, workspace& ws, fully_masked_rows policy,
                                maths softmax_maths) {
  using S = std::remove_cvref_t<decltype(e.left.inner)>;
  using scores_of = detail::scores<S>;
  using namespace diagnostics;
  constexpr std::string_view kind = "scaled_dot_product_attention", name = "expression";
  const auto& q_node = scores_of::q(e.left.inner);
  const auto& k_node = scores_of::k(e.left.inner);
  using QI = input_of<std::remove_cvref_t<decltype(q_node)>>;
  using KI = input_of<std::remove_cvref_t<decltype(k_node)>>;
  const auto& q = QI::view(q_node);
  const auto& k = KI::view(k_node);
  using VI = values_of<std::remove_cvref_t<decltype(e.right)>>;
  const auto& v = VI::view(e.right);
  const auto out = output_view<std::remove_cvref_t<decltype(q)>::static_extents[1]>(
      std::forward<Out>(out_in), q.extent(1));
  const auto& mask = scores_of::get_mask(e.left.inner);
  using M = std::remove_cvref_t<decltype(mask)>;
  const extent_t B = q.extent(0), H = q.extent(1), Lq = q.extent(2), D = q.extent(3);
  const extent_t KV = k.extent(1), Lk = k.extent(2), DV = v.extent(3);
  check<query_and_key_widths_differ>(k.extent(3) == D, kind, name, D, k.extent(3));
  check<key_and_value_lengths_differ>(v.extent(2) == Lk, kind, name, Lk, v.extent(2));
  for (const auto* t : {&k.extents(), &v.extents(), &out.extents()})
    check<batch_sizes_differ>((*t)[0] == B, kind, name, (*t)[0], B);
  check<key_heads_do_not_divide_query_heads>(KV > 0 && H % KV == 0, kind, name, KV, H);
  check<value_heads_differ_from_key_heads>(v.extent(1) == KV, kind, name, v.extent(1), KV);
  check<heads_differ>(out.extent(1) == H, kind, name, out.extent(1), H);
  check<output_shape_does_not_match>(out.extent(2) == Lq, kind, name, out.extent(2), Lq);
  check<output_shape_does_not_match>(out.extent(3) == DV, kind, name, out.extent(3), DV);
  const rotary_embedding* q_rotation = QI::rotation(q_node);
  const rotary_embedding* k_rotation = KI::rotation(k_node);
  const std::size_t q_rotated_dims = q_rotation ? rotated_dims(*q_rotation, D, "queries") : 0;
  const std::size_t k_rotated_dims = k_rotation ? rotated_dims(*k_rotation, D, "keys") : 0;

  // Score, mask and value functions, with the operands bound to them, checked before any work.
  constexpr auto score_function = scores_of::score_function;
  constexpr auto value_function = VI::function;
  constexpr auto carried_mask = carried<M>::function;
  constexpr bool has_mask_function =
      !std::is_same_v<std::remove_cvref_t<decltype(carried_mask)>, no_function>;
  constexpr bool has_value_function =
      !std::is_same_v<std::remove_cvref_t<decltype(value_function)>, no_function>;
  constexpr bool has_functions =
      has_mask_function || has_value_function ||
      !std::is_same_v<std::remove_cvref_t<decltype(score_function)>, no_function>;
  const auto operands = [&] {
    const auto scored_and_values =
        joined(scores_of::score_operands(e.left.inner), VI::operands(e.right));
    return joined(scored_and_values, carried<M>::operands(mask));
  }();
  constexpr auto mask_function = carried_mask;
  using functions_type =
      kernels::attention_functions<score_function, mask_function,
                                   std::remove_cvref_t<decltype(operands)>, value_function>;
  if constexpr (has_functions) {
    const function_call_extents call{B, H, Lq, Lk, kind};
    check_function_call(score_function, operands, call);
    check_function_call(mask_function, operands, call);
    check_function_call(value_function, operands, call);
    functions_type::check_row_widths(operands, std::size_t(D), std::size_t(DV), kind);
  }

  kernels::mask_spec spec;
  spec.policy = policy;
  mask.lower(spec, masks::call_extents{B, H, Lq, Lk, kind, name});

  using std::size_t;
  const auto b = size_t(B), h = size_t(H), kv = size_t(KV), lq = size_t(Lq), lk = size_t(Lk),
             d = size_t(D), dv = size_t(DV);
  const kernels::head_strides q_strides = strides_of(q), k_strides = strides_of(k),
                              out_strides = strides_of(out);
  kernels::attention_operands ops;
  ops.batch = b, ops.heads = h, ops.kv_heads = kv, ops.query_len = lq, ops.key_len = lk;
  ops.key_dim = d, ops.value_dim = dv;
  ops.q = q.data(), ops.q_batch = q_strides.batch, ops.q_head = q_strides.head,
  ops.q_row = q_strides.row;
  ops.q_scale = scores_of::scale(e.left.inner);
  ops.softmax_maths = softmax_maths;
  ops.key_capacity = kernels::attention_operands::key_capacity_for(lk);
  ops.v_stride = kernels::attention_operands::v_stride_for(dv);
  const activation_function* v_activation = VI::activation_of(e.right);
  const kernels::head_strides v_strides = strides_of(v);
  // Values whose rows are contiguous, need no padding and start on cache lines are read where
  // they are, unless the output overwrites them as the kernel goes; others are copied into
  // padded rows. At (8, 12, 1024, 64) on AVX-512 reading them in place took the plain causal
  // kernel 3–4% faster and 16 packed documents 12–15%; rows off cache lines (a std::vector's
  // 16-byte alignment) made the plain kernel 2% slower, and rows of heads in place
  // (split_heads, H·d floats apart) 10–25% slower at (1, 4096, 512, 8): a value tile's rows
  // then share few L1 sets.
  const auto span_of = [](const auto& t, kernels::head_strides s) {
    const float* first = t.data();
    const std::size_t last = std::size_t(t.extent(0) - 1) * s.batch +
                             std::size_t(t.extent(1) - 1) * s.head +
                             std::size_t(t.extent(2) - 1) * s.row + std::size_t(t.extent(3));
    return std::pair<const float*, const float*>{first, first + last};
  };
  const bool values_in_place =
      !v_activation && dv == ops.v_stride && v_strides.row == dv &&
      reinterpret_cast<std::uintptr_t>(v.data()) % 64 == 0 && [&] {
        if (B == 0 || KV == 0 || Lk == 0 || Lq == 0 || H == 0) return false;
        const auto [v_first, v_last] = span_of(v, v_strides);
        const auto [o_first, o_last] = span_of(out, strides_of(out));
        const std::less<> before;  // a total order, also between unrelated buffers
        return !before(o_first, v_last) || !before(v_first, o_last);
      }();
  const size_t pairs = b * kv;
  // With pairs enough to share out, each pair's copies are made just before its query blocks
  // run, by the thread that runs them, into buffers of that thread: the transposed keys and
  // padded values are then read from cache, and written to the same cache lines pair after
  // pair, rather than written to memory in a pass of their own and read back. Otherwise every
  // pair is copied first, and the query blocks are shared out on their own.
  const bool copy_with_blocks = pairs >= 4 * ws.threads();
  const size_t copied_pairs = copy_with_blocks ? ws.threads() : pairs;
  // The workspace: transposed keys, padded values, per-thread scratch, then rotated copies of
  // queries and keys with their angle tables when the expression rotates them.
  const size_t kt_floats = copied_pairs * d * ops.key_capacity,
               v_floats = values_in_place ? 0 : copied_pairs * lk * ops.v_stride;
  size_t row_term_floats = 0;
  if constexpr (has_functions) row_term_floats = functions_type::row_term_floats(operands);
  const size_t scratch_per_thread = kernels::attention_scratch_floats(d, dv, row_term_floats);
  const size_t scratch_floats = ws.threads() * scratch_per_thread;
  // An activated input is copied like a rotated one (an input is one or the other).
  const activation_function* q_activation = QI::function(q_node);
  const activation_function* k_activation = KI::function(k_node);
  const size_t q_rotated_floats = q_rotation     ? b * h * lq * d + lq * q_rotated_dims
                                  : q_activation ? b * h * lq * d
                                                 : 0;
  const size_t k_rotated_floats = k_rotation     ? b * kv * lk * d + lk * k_rotated_dims
                                  : k_activation ? b * kv * lk * d
                                                 : 0;
  size_t block_map_floats = 0;
  if constexpr (has_functions) block_map_floats = functions_type::block_map_floats(operands);
  float* kt = ws.reserve(kt_floats + v_floats + scratch_floats + q_rotated_floats +
                         k_rotated_floats + block_map_floats);
  float* vt = kt + kt_floats;
  float* scratch = vt + v_floats;
  using A = simd::resolve_arch<Arch>;
  // Rotates x (pairs heads·batch, each length × d) into `to`, contiguous, and returns `to`.
  const auto rotate = [&](const auto* x, kernels::head_strides from, size_t heads, size_t len,
                          const rotary_embedding& r, size_t dims, float* to) {
    float* cos_table = to + b * heads * len * d;
    float* sin_table = cos_table + len * dims / 2;
    kernels::rotary_angles<A>(cos_table, sin_table, r.first_position, len, dims, r.base);
    ws.pool().parallel_for(b * heads, 1, [&](size_t first, size_t last, size_t) {
      kernels::rotate_heads<A>(x, from, heads, len, d, dims, r.pairs, cos_table, sin_table, to,
                               first, last);
    });
    return to;
  };
  const float* k_data = k.data();
  kernels::head_strides k_layout = k_strides;
  if (q_rotation) {
    ops.q =
        rotate(q.data(), q_strides, h, lq, *q_rotation, q_rotated_dims, scratch + scratch_floats);
    ops.q_batch = h * lq * d, ops.q_head = lq * d, ops.q_row = d;
  }
  if (k_rotation) {
    k_data = rotate(k.data(), k_strides, kv, lk, *k_rotation, k_rotated_dims,
                    scratch + scratch_floats + q_rotated_floats);
    k_layout = {kv * lk * d, lk * d, d};
  }
  // Activated inputs: a contiguous copy with the activation applied.
  const auto activate = [&](const float* x, kernels::head_strides from, size_t heads, size_t len,
                            size_t width, activation_function a, float* to) {
    ws.pool().parallel_for(b * heads, 1, [&](size_t first, size_t last, size_t) {
      kernels::activate_heads<A>(x, from.batch, from.head, from.row, heads, len, width, a.kind, to,
                                 first, last);
    });
    return to;
  };
  if (q_activation) {
    ops.q = activate(q.data(), q_strides, h, lq, d, *q_activation, scratch + scratch_floats);
    ops.q_batch = h * lq * d, ops.q_head = lq * d, ops.q_row = d;
  }
  if (k_activation) {
    k_data = activate(k.data(), k_strides, kv, lk, d, *k_activation,
                      scratch + scratch_floats + q_rotated_floats);
    k_layout = {kv * lk * d, lk * d, d};
  }
  // The copies for the kernel: one (batch, key head) pair's transposed keys and padded values,
  // into slot `slot` of the buffers (the pair's own, or the running thread's).
  const auto copy_pair = [&](size_t pair, size_t slot) {
    const size_t bb = pair / kv, hh = pair % kv;
    kernels::scatter_keys_transposed<A>(k_data + bb * k_layout.batch + hh * k_layout.head, k_layout,
                                        1, 1, lk, d, kt + slot * d * ops.key_capacity,
                                        ops.key_capacity);
    if (values_in_place) return;
    kernels::scatter_values<A>(v.data() + bb * v_strides.batch + hh * v_strides.head, v_strides, 1,
                               1, lk, dv, vt + slot * lk * ops.v_stride, ops.v_stride);
    if (v_activation)  // on the padded copy's value columns, in place
      kernels::activate_rows_in_place<A>(vt + slot * lk * ops.v_stride, lk, ops.v_stride, dv,
                                         v_activation->kind);
  };
  ops.kt = kt, ops.v = vt;
  if (values_in_place) {
    ops.v = v.data();
    ops.v_batch = v_strides.batch, ops.v_head = v_strides.head, ops.v_row = v_strides.row;
  }
  ops.out = out.data(), ops.out_batch = out_strides.batch, ops.out_head = out_strides.head,
  ops.out_row = out_strides.row;
  const size_t tasks = kernels::attention_task_count(ops);
  if (!copy_with_blocks)
    ws.pool().parallel_for(pairs, 1, [&](size_t first, size_t last, size_t) {
      for (size_t pair = first; pair < last; ++pair) copy_pair(pair, pair);
    });
  const auto run = [&](const auto& functions) {
    if (copy_with_blocks) {
      const size_t tasks_per_pair = tasks / std::max<size_t>(pairs, 1);
      ws.pool().parallel_for(pairs, 1, [&](size_t first, size_t last, size_t who) {
        kernels::attention_operands mine = ops;
        mine.one_pair_copied = true;
        mine.kt = kt + who * d * ops.key_capacity;
        if (!values_in_place) mine.v = vt + who * lk * ops.v_stride;
        for (size_t pair = first; pair < last; ++pair) {
          copy_pair(pair, who);
          // The pair this thread most likely copies next, the threads taking pairs in turn.
          const size_t next = pair + ws.threads();
          mine.next_pair_keys =
              next < pairs ? k_data + next / kv * k_layout.batch + next % kv * k_layout.head
                           : nullptr;
          mine.next_pair_key_row = k_layout.row;
          kernels::flash_attention<A>(mine, spec, scratch + who * scratch_per_thread,
                                      pair * tasks_per_pair, (pair + 1) * tasks_per_pair,
                                      functions);
        }
      });
      return;
    }
    ws.pool().parallel_for(tasks, std::max<size_t>(1, tasks / (8 * ws.threads())),
                           [&](size_t first, size_t last, size_t who) {
                             kernels::flash_attention<A>(ops, spec,
                                                         scratch + who * scratch_per_thread, first,
                                                         last, functions);
                           });
  };
  if constexpr (has_functions)
    run(functions_type(operands, scratch + scratch_floats + q_rotated_floats + k_rotated_floats));
  else
    run(kernels::no_attention_functions{});
}

/// An input of the function forms below: an expression operand, or a view or container
/// (xtensor's) of the rank they take. A container must outlive the expression, so not an rvalue.
template <class T>
concept attention_input = tensor_operand<T> ||(viewable<T>&& std::is_lvalue_reference_v<T>);

/// softmax(q·kᵀ / √d + mask)·v, the expression PyTorch's scaled_dot_product_attention computes
/// (for fully masked rows PyTorch gives NaN: pass fully_masked_rows::nan to `evaluate`), of
/// (batch, heads, length, width) views or containers.
template <attention_input Q, attention_input K, attention_input V, class Mask = masks::none>
auto scaled_dot_product_attention(Q&& q, K&& k, V&& v, Mask mask = {}) {
  auto qn = node(std::forward<Q>(q));
  const float scale =
      1.0f / std::sqrt(static_cast<float>(detail::input_of<decltype(qn)>::view(qn).extent(3)));
  return softmax(scale * (std::move(qn) * transpose(node(std::forward<K>(k)))) + mask) *
         node(std::forward<V>(v));
}

/// The same of (batch, length, heads·width) inputs, as PyTorch's and Keras's layers hold them and
/// projections write them: `scaled_dot_product_attention<heads<8>>(q, k, v)`, or with grouped
/// keys and values `scaled_dot_product_attention<heads<8>, kv_heads<2>>(q, k, v)`. The output
/// may be (batch, length, heads·width) too: `evaluate(out, e, ws)`.
template <class Heads, class KVHeads = dims::kv_heads<Heads::extent>, attention_input Q,
          attention_input K, attention_input V, class Mask = masks::none>
requires(std::is_same_v<Heads, dims::heads<Heads::extent>>&& std::is_same_v<
         KVHeads, dims::kv_heads<KVHeads::extent>>) auto scaled_dot_product_attention(Q&& q, K&& k,
                                                                                      V&& v,
                                                                                      Mask mask =
                                                                                          {}) {
  return scaled_dot_product_attention(split_heads<Heads::extent>(std::forward<Q>(q)),
                                      split_heads<KVHeads::extent>(std::forward<K>(k)),
                                      split_heads<KVHeads::extent>(std::forward<V>(v)), mask);
}

}  // namespace typeformer::expr
