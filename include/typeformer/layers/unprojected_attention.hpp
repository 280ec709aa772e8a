#pragma once
// What the Keras attention layers that read their inputs as given (dot_attention,
// additive_attention, bahdanau_attention) share: the options, the shape rules of
// [query, value, key], the masks, and the row-at-a-time kernel run on the workspace's threads.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/expr/masks.hpp>
#include <typeformer/kernels/row_attention.hpp>
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/attention_shape_rules.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

namespace option_kinds {
struct use_scale {};
struct concat_scores {};
}  // namespace option_kinds

/// Whether learned scales multiply the scores: Keras `use_scale` (a scalar in Attention,
/// default false; one per feature in AdditiveAttention, default true).
template <bool Enabled>
struct use_scale {
  using kind = option_kinds::use_scale;
  static constexpr bool value = Enabled;
};
/// Keras Attention's score_mode="concat".
struct concat_scores {
  using kind = option_kinds::concat_scores;
  static constexpr bool value = true;
};

namespace detail {

/// One call's inputs as the score functions read them: q(b, i, :) at q + (b·Tq + i)·dim and
/// k(b, j, :) at k + (b·Tv + j)·key_width.
struct unprojected_call {
  std::size_t batch, query_len, key_len, query_width, key_width, value_width;
  const float* q;
  const float* k;
};

/// Floats of the row scratch each thread needs.
constexpr std::size_t score_row_floats(std::size_t key_len) noexcept {
  return simd::round_up(std::max<std::size_t>(key_len, 1), 16);
}

/// The row kernel of kernels/row_attention.hpp (a layer that passes no fused kernel).
struct plain_rows {};

/// The first call rule of Layer that the static extents of query Q, key K, value V and output
/// Y break, or `passed`.
template <class Layer, class Q, class K, class V, class Y, class Mask, class QueryMask>
using unprojected_call_problem = attention_shape_problem<
    typename Layer::name_type, Layer::widths, decltype(as_view<3>(std::declval<const Q&>())),
    decltype(as_view<3>(std::declval<const K&>())), decltype(as_view<3>(std::declval<const V&>())),
    decltype(as_view<3>(std::declval<Y&>())), Mask, QueryMask>;

/// Checks the shapes (static extents at compile time, against the widths the layer declares),
/// lowers the masks and runs the row kernel. `prepare(call, extra)` gets `extra_floats(call)`
/// floats of scratch (for projections computed once per call) and returns
/// score_row(b, i, scores).
/// `fused(call, v, y, mask_spec, query_keep, ws)`, if given, runs the call instead (the tiled
/// kernel: the relative layer); query_keep (batch, Tq) is the query mask or null.
template <class Layer, class Arch, class Q, class V, class K, class Y, class Mask, class QueryMask,
          class ExtraFloats, class Prepare, class Fused = plain_rows>
void run_unprojected_attention(const Q& query_in, const V& value_in, const K& key_in, Y&& y_in,
                               workspace& ws, const Mask& mask, const QueryMask& query_mask,
                               ExtraFloats&& extra_floats, Prepare&& prepare, Fused&& fused = {}) {
  using namespace diagnostics;
  constexpr std::string_view kind = Layer::kind, name = Layer::name;
  const auto q = as_view<3>(query_in);
  const auto v = as_view<3>(value_in);
  const auto k = as_view<3>(key_in);
  const auto y = as_view<3>(y_in);
  // The static call rules (unprojected_call_problem) are asserted by each caller, in the
  // function the user calls, which calls this only when they hold.
  constexpr declared_widths W = Layer::widths;
  if constexpr (W.query != dynamic)
    check<query_features_do_not_match_d_model>(q.extent(2) == W.query, kind, name, q.extent(2),
                                               W.query);
  if constexpr (W.key != dynamic)
    check<key_features_do_not_match_declaration>(k.extent(2) == W.key, kind, name, k.extent(2),
                                                 W.key);
  if constexpr (W.value != dynamic)
    check<value_features_do_not_match_declaration>(v.extent(2) == W.value, kind, name, v.extent(2),
                                                   W.value);
  check<batch_sizes_differ>(v.extent(0) == q.extent(0), kind, name, v.extent(0), q.extent(0));
  check<batch_sizes_differ>(k.extent(0) == q.extent(0), kind, name, k.extent(0), q.extent(0));
  check<key_and_value_lengths_differ>(k.extent(1) == v.extent(1), kind, name, k.extent(1),
                                      v.extent(1));
  if constexpr (W.query_is_key_width)
    check<query_and_key_widths_differ>(k.extent(2) == q.extent(2), kind, name, q.extent(2),
                                       k.extent(2));
  check<output_shape_does_not_match>(y.extent(0) == q.extent(0), kind, name, y.extent(0),
                                     q.extent(0));
  check<output_shape_does_not_match>(y.extent(1) == q.extent(1), kind, name, y.extent(1),
                                     q.extent(1));
  check<output_shape_does_not_match>(y.extent(2) == v.extent(2), kind, name, y.extent(2),
                                     v.extent(2));
  const unprojected_call call{static_cast<std::size_t>(q.extent(0)),
                              static_cast<std::size_t>(q.extent(1)),
                              static_cast<std::size_t>(v.extent(1)),
                              static_cast<std::size_t>(q.extent(2)),
                              static_cast<std::size_t>(k.extent(2)),
                              static_cast<std::size_t>(v.extent(2)),
                              q.data(),
                              k.data()};
  kernels::mask_spec m;
  mask.lower(m, {q.extent(0), 1, q.extent(1), v.extent(1), kind, name});
  m.policy = Layer::masked_rows_policy;
  const std::size_t B = call.batch, Tq = call.query_len, Tv = call.key_len, dv = call.value_width;
  kernels::row_attention_args a{B, Tq, Tv, dv, v.data(), Tv * dv, dv, y.data(), Tq * dv, dv};
  if constexpr (!std::is_same_v<QueryMask, masks::all_queries>) {
    check<mask_batch_does_not_match>(query_mask.mask.extent(0) == q.extent(0), kind, name,
                                     query_mask.mask.extent(0), q.extent(0));
    check<mask_query_length_does_not_match>(query_mask.mask.extent(1) == q.extent(1), kind, name,
                                            query_mask.mask.extent(1), q.extent(1));
    a.query_keep = query_mask.mask.data();
  }
  if (B * Tq == 0) return;
  if constexpr (!std::is_same_v<std::remove_cvref_t<Fused>, plain_rows>) {
    // A query row the query mask drops sees no key: the kernel writes it as a fully masked row,
    // zeros under this layer's policy (as the row kernel writes it).
    static_assert(Layer::masked_rows_policy == fully_masked_rows::zeros);
    fused(call, v.data(), y.data(), m, a.query_keep, ws);
    return;
  }
  const std::size_t row_floats = score_row_floats(Tv), extra = extra_floats(call);
  float* scratch = ws.reserve(extra + ws.threads() * row_floats);
  auto score_row = prepare(call, scratch);
  ws.pool().parallel_for(B * Tq, std::max<std::size_t>(1, B * Tq / (4 * ws.threads())),
                         [&](std::size_t first, std::size_t last, std::size_t thread) {
                           kernels::row_attention<simd::resolve_arch<Arch>>(
                               a, m, score_row, scratch + extra + thread * row_floats, first, last);
                         });
}

/// Joins a query mask (batch, Tq; 0 drops the row) into a lowered mask's attending queries,
/// so that the tiled kernel sees it. `both` holds batch·Tq bytes for when the mask has its own.
inline void join_query_mask(kernels::mask_spec& m, const std::uint8_t* query_keep,
                            std::size_t batch, std::size_t query_len, std::uint8_t* both) noexcept {
  if (!query_keep) return;
  if (m.attending_queries) {
    for (std::size_t b = 0; b < batch; ++b)
      for (std::size_t i = 0; i < query_len; ++i)
        both[b * query_len + i] =
            query_keep[b * query_len + i] != 0 &&
            m.attending_queries[static_cast<std::ptrdiff_t>(b) * m.attending_queries_batch +
                                static_cast<std::ptrdiff_t>(i)] != 0;
    m.attending_queries = both;
  } else {
    m.attending_queries = query_keep;
  }
  m.attending_queries_batch = static_cast<std::ptrdiff_t>(query_len);
}

/// The single-query form: query (batch, dim) and context (batch, dv) as one-row sequences.
template <class F, class Q, class Y>
void as_one_row(const Q& query_in, Y&& context_in, F&& run) {
  const auto q = as_view<2>(query_in);
  const auto c = as_view<2>(context_in);
  // The static extents carry over, so that the compile-time shape rules still see them.
  constexpr auto qs = decltype(q)::static_extents;
  constexpr auto cs = decltype(c)::static_extents;
  const tensor_view<const float, qs[0], 1, qs[1]> q3(q.data(), {q.extent(0), 1, q.extent(1)});
  const tensor_view<float, cs[0], 1, cs[1]> c3(c.data(), {c.extent(0), 1, c.extent(1)});
  diagnostics::check<diagnostics::batch_sizes_differ>(c.extent(0) == q.extent(0), "attention",
                                                      "context", c.extent(0), q.extent(0));
  run(q3, c3);
}

/// The call forms each of these layers offers besides its own forward(p, query, value, key, y,
/// ws, mask, query_mask): key = value, and one query per sequence (a decoder step). A layer
/// derives from this and says `using calls::forward; using calls::attend_one;`. Each asserts
/// the call rules itself, so that a broken one is reported one note deep, and then calls
/// nothing.
template <class Layer>
struct unprojected_attention_calls {
  /// y = attention(query, value, key = value).
  template <class Arch = simd::best_available, class Parameters, class Q, class V, class Y,
            class Mask = masks::none, class QueryMask = masks::all_queries>
  static void forward(const Parameters& p, const Q& query, const V& value, Y&& y, workspace& ws,
                      const Mask& mask = {}, const QueryMask& query_mask = {}) {
    using problem = unprojected_call_problem<Layer, Q, V, V, Y, Mask, QueryMask>;
    static_assert(problem::rule_holds);
    if constexpr (std::is_same_v<problem, diagnostics::passed>)
      Layer::template forward<Arch>(p, query, value, value, std::forward<Y>(y), ws, mask,
                                    query_mask);
  }

  /// One query per sequence: query (batch, query width) → context (batch, value width).
  template <class Arch = simd::best_available, class Parameters, class Q, class V, class K, class Y,
            class Mask = masks::none>
  static void attend_one(const Parameters& p, const Q& query, const V& value, const K& key,
                         Y&& context, workspace& ws, const Mask& mask = {}) {
    // The rows as as_one_row passes them: one-row sequences with the same static extents.
    constexpr auto qs = decltype(as_view<2>(std::declval<const Q&>()))::static_extents;
    constexpr auto cs = decltype(as_view<2>(std::declval<Y>()))::static_extents;
    using problem =
        unprojected_call_problem<Layer, tensor_view<const float, qs[0], 1, qs[1]>, K, V,
                                 tensor_view<float, cs[0], 1, cs[1]>, Mask, masks::all_queries>;
    static_assert(problem::rule_holds);
    if constexpr (std::is_same_v<problem, diagnostics::passed>)
      as_one_row(query, std::forward<Y>(context), [&](const auto& q, const auto& c) {
        Layer::template forward<Arch>(p, q, value, key, c, ws, mask, masks::all_queries{});
      });
  }
};

}  // namespace detail
}  // namespace typeformer
