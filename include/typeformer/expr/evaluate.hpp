#pragma once
// evaluate(out, expression, workspace): matches an expression tree onto a fused kernel.
//
//   softmax(s * q * transpose(k) [+ mask]) * v   ->  kernels::flash_attention
//   (with or without the scale, with or without a mask)
//
// q (batch, heads, Lq, d), k (batch, heads, Lk, d), v (batch, heads, Lk, dv) and out
// (batch, heads, Lq, dv). The score matrix is never formed; the workspace holds a transposed
// copy of k and a padded copy of v (O(batch·heads·Lk·d)). A tree no kernel matches is a
// compile error naming `diagnostics::no_fused_kernel_for_expression<tree>`.

#include <cmath>
#include <string_view>
#include <type_traits>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/expr/function_attention.hpp>
#include <typeformer/expr/masks.hpp>
#include <typeformer/expr/nodes.hpp>
#include <typeformer/kernels/flash_attention.hpp>
#include <typeformer/kernels/workspace.hpp>

namespace typeformer::diagnostics {
template <class Expression>
struct no_fused_kernel_for_expression;
}  // namespace typeformer::diagnostics

namespace typeformer::expr {
namespace detail {

// The score subtree: q·kᵀ, optionally scaled, optionally masked.
template <class S>
struct scores : std::false_type {};
template <class Q, class K>
struct scores<product<leaf<Q>, transposed<leaf<K>>>> : std::true_type {
  using query = Q;
  using key = K;
  using mask = masks::none;
  static constexpr no_function score_function{};
  static bindings<> score_operands(const auto&) { return {}; }
  static const Q& q(const product<leaf<Q>, transposed<leaf<K>>>& s) { return s.left.view; }
  static const K& k(const product<leaf<Q>, transposed<leaf<K>>>& s) { return s.right.inner.view; }
  static float scale(const product<leaf<Q>, transposed<leaf<K>>>&) { return 1.0f; }
  static masks::none get_mask(const product<leaf<Q>, transposed<leaf<K>>>&) { return {}; }
};
template <class Q, class K>
struct scores<product<scaled<leaf<Q>>, transposed<leaf<K>>>>
    : scores<product<leaf<Q>, transposed<leaf<K>>>> {
  using self = product<scaled<leaf<Q>>, transposed<leaf<K>>>;
  static const Q& q(const self& s) { return s.left.inner.view; }
  static const K& k(const self& s) { return s.right.inner.view; }
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

template <class E>
struct attention_pattern : std::false_type {};
template <class S, class V>
requires scores<S>::value struct attention_pattern<product<softmax_of<S>, leaf<V>>>
    : std::true_type {
};

}  // namespace detail

/// out = the expression's value. Allocates nothing once the workspace has grown to the size.
namespace detail {
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
  static_assert(sizeof(diagnostics::require<detail::attention_pattern<E>::value,
                                            diagnostics::no_fused_kernel_for_expression<E>>));
  if constexpr (detail::attention_pattern<E>::value)
    detail::evaluate_attention<Arch>(std::forward<Out>(out), e, ws, policy, softmax_maths);
}

/// softmax(s·q·kᵀ + mask)·v by the fused attention kernel. Allocates nothing once the
/// workspace has grown to the size.
template <class Arch, class Out, class E>
void detail::evaluate_attention(Out&& out_in, const E& e, workspace& ws, fully_masked_rows policy,
                                maths softmax_maths) {
  using S = std::remove_cvref_t<decltype(e.left.inner)>;
  using scores_of = detail::scores<S>;
  using namespace diagnostics;
  using name_type = layer_name_of<"expression">;
  constexpr std::string_view kind = "scaled_dot_product_attention", name = "expression";
  const auto& q = scores_of::q(e.left.inner);
  const auto& k = scores_of::k(e.left.inner);
  const auto& v = e.right.view;
  const auto out = as_view<4>(out_in);
  const auto& mask = scores_of::get_mask(e.left.inner);
  using Q = std::remove_cvref_t<decltype(q)>;
  using K = std::remove_cvref_t<decltype(k)>;
  using V = std::remove_cvref_t<decltype(v)>;
  using O = std::remove_cvref_t<decltype(out)>;
  using M = std::remove_cvref_t<decltype(mask)>;
  constexpr auto qx = Q::static_extents, kx = K::static_extents, vx = V::static_extents;
  constexpr auto ox = O::static_extents;
  constexpr auto mx = M::extents;
  static_assert(sizeof(require<extents_may_agree(qx[3], kx[3]),
                               query_and_key_widths_differ<name_type, qx[3], kx[3]>>));
  static_assert(sizeof(require<extents_may_agree(kx[2], vx[2]),
                               key_and_value_lengths_differ<name_type, kx[2], vx[2]>>));
  static_assert(sizeof(
      require<extents_may_agree(kx[0], qx[0]), batch_sizes_differ<name_type, kx[0], qx[0]>>));
  static_assert(sizeof(
      require<extents_may_agree(vx[0], qx[0]), batch_sizes_differ<name_type, vx[0], qx[0]>>));
  static_assert(sizeof(
      require<extents_may_agree(ox[0], qx[0]), batch_sizes_differ<name_type, ox[0], qx[0]>>));
  static_assert(
      sizeof(require<extents_may_agree(kx[1], qx[1]), heads_differ<name_type, kx[1], qx[1]>>));
  static_assert(
      sizeof(require<extents_may_agree(vx[1], qx[1]), heads_differ<name_type, vx[1], qx[1]>>));
  static_assert(
      sizeof(require<extents_may_agree(ox[1], qx[1]), heads_differ<name_type, ox[1], qx[1]>>));
  static_assert(sizeof(require<extents_may_agree(ox[2], qx[2]),
                               output_shape_does_not_match<name_type, ox[2], qx[2]>>));
  static_assert(sizeof(require<extents_may_agree(ox[3], vx[3]),
                               output_shape_does_not_match<name_type, ox[3], vx[3]>>));
  static_assert(sizeof(require<extents_may_agree(mx.batch, qx[0]),
                               mask_batch_does_not_match<name_type, mx.batch, qx[0]>>));
  static_assert(sizeof(require<extents_may_agree(mx.heads, qx[1]),
                               mask_heads_do_not_match<name_type, mx.heads, qx[1]>>));
  static_assert(sizeof(require<extents_may_agree(mx.query_len, qx[2]),
                               mask_query_length_does_not_match<name_type, mx.query_len, qx[2]>>));
  static_assert(sizeof(require<extents_may_agree(mx.key_len, kx[2]),
                               mask_key_length_does_not_match<name_type, mx.key_len, kx[2]>>));

  const extent_t B = q.extent(0), H = q.extent(1), Lq = q.extent(2), D = q.extent(3);
  const extent_t Lk = k.extent(2), DV = v.extent(3);
  check<query_and_key_widths_differ>(k.extent(3) == D, kind, name, D, k.extent(3));
  check<key_and_value_lengths_differ>(v.extent(2) == Lk, kind, name, Lk, v.extent(2));
  for (const auto* t : {&k.extents(), &v.extents(), &out.extents()}) {
    check<batch_sizes_differ>((*t)[0] == B, kind, name, (*t)[0], B);
    check<heads_differ>((*t)[1] == H, kind, name, (*t)[1], H);
  }
  check<output_shape_does_not_match>(out.extent(2) == Lq, kind, name, out.extent(2), Lq);
  check<output_shape_does_not_match>(out.extent(3) == DV, kind, name, out.extent(3), DV);

  kernels::mask_spec spec;
  spec.policy = policy;
  mask.lower(spec, masks::call_extents{B, H, Lq, Lk, kind, name});

  using std::size_t;
  const auto b = size_t(B), h = size_t(H), lq = size_t(Lq), lk = size_t(Lk), d = size_t(D),
             dv = size_t(DV);
  kernels::attention_operands ops;
  ops.batch = b, ops.heads = h, ops.query_len = lq, ops.key_len = lk;
  ops.key_dim = d, ops.value_dim = dv;
  ops.q = q.data(), ops.q_batch = h * lq * d, ops.q_head = lq * d, ops.q_row = d;
  ops.q_scale = scores_of::scale(e.left.inner);
  ops.softmax_maths = softmax_maths;
  ops.key_capacity = kernels::attention_operands::key_capacity_for(lk);
  ops.v_stride = kernels::attention_operands::v_stride_for(dv);
  const size_t kt_floats = b * h * d * ops.key_capacity, v_floats = b * h * lk * ops.v_stride;
  const size_t scratch_per_thread = kernels::attention_scratch_floats(d, dv);
  float* kt = ws.reserve(kt_floats + v_floats + ws.threads() * scratch_per_thread);
  float* vt = kt + kt_floats;
  kernels::scatter_keys_transposed<simd::resolve_arch<Arch>>(k.data(), {h * lk * d, lk * d, d}, b,
                                                             h, lk, d, kt, ops.key_capacity);
  kernels::scatter_values<simd::resolve_arch<Arch>>(v.data(), {h * lk * dv, lk * dv, dv}, b, h, lk,
                                                    dv, vt, ops.v_stride);
  ops.kt = kt, ops.v = vt;
  ops.out = out.data(), ops.out_batch = h * lq * dv, ops.out_head = lq * dv, ops.out_row = dv;
  float* scratch = vt + v_floats;
  const size_t tasks = kernels::attention_task_count(ops);
  const auto run = [&](const auto& functions) {
    ws.pool().parallel_for(tasks, std::max<size_t>(1, tasks / (8 * ws.threads())),
                           [&](size_t first, size_t last, size_t who) {
                             kernels::flash_attention<simd::resolve_arch<Arch>>(
                                 ops, spec, scratch + who * scratch_per_thread, first, last,
                                 functions);
                           });
  };
  constexpr auto score_function = scores_of::score_function;
  constexpr bool has_mask_function = is_function_mask<M>::value;
  if constexpr (has_mask_function ||
                !std::is_same_v<std::remove_cvref_t<decltype(score_function)>, no_function>) {
    const auto operands = [&] {
      if constexpr (has_mask_function)
        return joined(scores_of::score_operands(e.left.inner), mask.operands);
      else
        return scores_of::score_operands(e.left.inner);
    }();
    constexpr auto mask_function = [] {
      if constexpr (has_mask_function)
        return M::function;
      else
        return no_function{};
    }();
    const function_call_extents call{B, H, Lq, Lk, kind};
    check_function_call(score_function, operands, call);
    check_function_call(mask_function, operands, call);
    run(kernels::attention_functions<score_function, mask_function, decltype(operands)>(operands));
  } else {
    run(kernels::no_attention_functions{});
  }
}

/// softmax(q·kᵀ / √d + mask)·v, the expression PyTorch's scaled_dot_product_attention computes
/// (for fully masked rows PyTorch gives NaN: pass fully_masked_rows::nan to `evaluate`).
template <tensor_operand Q, tensor_operand K, tensor_operand V, class Mask = masks::none>
auto scaled_dot_product_attention(Q&& q, K&& k, V&& v, Mask mask = {}) {
  auto qn = node(std::forward<Q>(q));
  const float scale = 1.0f / std::sqrt(static_cast<float>(qn.view.extent(3)));
  return softmax(scale * (std::move(qn) * transpose(std::forward<K>(k))) + mask) *
         node(std::forward<V>(v));
}

}  // namespace typeformer::expr
