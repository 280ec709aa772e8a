#pragma once
// dot_attention<"name", Options...>: keras.layers.Attention, Luong-style attention without
// projections. For query q (batch, Tq, dim), value v (batch, Tv, dv) and key k (batch, Tv, dim),
// k = v when not given:
//   score_mode "dot" (default):  s(i, j) = scale · (q_i · k_j)            — no 1/√dim
//   score_mode "concat":         s(i, j) = w · Σ_d tanh(scale · (q_id + k_jd))
//   y_i = Σ_j softmax_j(s(i, j) over visible keys) · v_j, and y_i = 0 where query_mask drops i.
// scale is a learned scalar with option `use_scale` (Keras use_scale=True), else 1; w is the
// learned scalar `concat_score_weight`, present in concat mode. Option `concat_scores` selects
// concat mode. Masks: the typed masks of expr/masks.hpp (Keras's value_mask is
// masks::keep_keys, use_causal_mask is masks::causal), and masks::keep_queries for query_mask.
//
// Weights (both scalars, shape []): `name/scale`, `name/concat_score_weight` (Keras names; the
// PyTorch naming spells them `name.scale`, `name.concat_score_weight`). A layer with neither
// option has no weights.
//
// Keras hides a masked key by subtracting 1e9 from its score, so a row with every key masked
// averages all values; ours gives zeros there unless `on_fully_masked_rows<minus_1e9_added>`
// is declared.

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/expr/masks.hpp>
#include <typeformer/kernels/row_attention.hpp>
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

namespace option_kinds {
struct use_scale {};
struct concat_scores {};
}  // namespace option_kinds

/// A learned scalar multiplies the scores (Keras Attention/AdditiveAttention use_scale=True).
struct use_scale {
  using kind = option_kinds::use_scale;
  static constexpr bool value = true;
};
/// Keras Attention's score_mode="concat".
struct concat_scores {
  using kind = option_kinds::concat_scores;
  static constexpr bool value = true;
};

template <fixed_string Name, class... Options>
struct dot_attention {
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "dot_attention";
  static constexpr std::string_view name = Name.view();
  static constexpr bool scaled = option_value<option_kinds::use_scale, Options...>(false);
  static constexpr bool concat = option_value<option_kinds::concat_scores, Options...>(false);
  static constexpr fully_masked_rows masked_rows_policy =
      option_value<option_kinds::on_fully_masked_rows, Options...>(fully_masked_rows::zeros);
  static constexpr extent_t parameter_count = (scaled ? 1 : 0) + (concat ? 1 : 0);

  struct parameters {
    float scale = 1.0f;
    float concat_score_weight = 1.0f;
  };

  template <class Naming>
  static std::vector<weight_spec> expected_weights(Naming, const std::string& prefix = "") {
    std::vector<weight_spec> out;
    if (scaled) out.push_back({prefix + "scale", {}});
    if (concat) out.push_back({prefix + "concat_score_weight", {}});
    return out;
  }

  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get, const std::string& prefix = "") {
    parameters p;
    if constexpr (scaled) p.scale = get(prefix + "scale").at(0);
    if constexpr (concat) p.concat_score_weight = get(prefix + "concat_score_weight").at(0);
    return p;
  }

  /// Scratch of one call: a row of scores per thread.
  static constexpr std::size_t workspace_floats(std::size_t key_len, std::size_t threads) noexcept {
    return threads * simd::round_up(key_len, 16);
  }

  /// y = attention(query, value, key = value): query (batch, Tq, dim), value (batch, Tv, dv),
  /// y (batch, Tq, dv).
  template <class Arch = simd::best_available, class Q, class V, class Y, class Mask = masks::none,
            class QueryMask = masks::all_queries>
  static void forward(const parameters& p, const Q& query, const V& value, Y&& y, workspace& ws,
                      const Mask& mask = {}, const QueryMask& query_mask = {}) {
    forward<Arch>(p, query, value, value, std::forward<Y>(y), ws, mask, query_mask);
  }

  /// The same with a key distinct from the value: key (batch, Tv, dim).
  template <class Arch = simd::best_available, class Q, class V, class K, class Y,
            class Mask = masks::none, class QueryMask = masks::all_queries>
  static void forward(const parameters& p, const Q& query_in, const V& value_in, const K& key_in,
                      Y&& y_in, workspace& ws, const Mask& mask = {},
                      const QueryMask& query_mask = {}) {
    using namespace diagnostics;
    const auto q = as_view<3>(query_in);
    const auto v = as_view<3>(value_in);
    const auto k = as_view<3>(key_in);
    const auto y = as_view<3>(y_in);
    check<batch_sizes_differ>(v.extent(0) == q.extent(0), kind, name, v.extent(0), q.extent(0));
    check<batch_sizes_differ>(k.extent(0) == q.extent(0), kind, name, k.extent(0), q.extent(0));
    check<key_and_value_lengths_differ>(k.extent(1) == v.extent(1), kind, name, k.extent(1),
                                        v.extent(1));
    check<query_and_key_widths_differ>(k.extent(2) == q.extent(2), kind, name, q.extent(2),
                                       k.extent(2));
    check<output_shape_does_not_match>(y.extent(0) == q.extent(0), kind, name, y.extent(0),
                                       q.extent(0));
    check<output_shape_does_not_match>(y.extent(1) == q.extent(1), kind, name, y.extent(1),
                                       q.extent(1));
    check<output_shape_does_not_match>(y.extent(2) == v.extent(2), kind, name, y.extent(2),
                                       v.extent(2));
    const auto B = static_cast<std::size_t>(q.extent(0)),
               Tq = static_cast<std::size_t>(q.extent(1)),
               Tv = static_cast<std::size_t>(v.extent(1)),
               d = static_cast<std::size_t>(q.extent(2)),
               dv = static_cast<std::size_t>(v.extent(2));
    kernels::mask_spec m;
    mask.lower(m, {q.extent(0), 1, q.extent(1), v.extent(1), kind, name});
    m.policy = masked_rows_policy;
    kernels::row_attention_args a{B, Tq, Tv, dv, v.data(), Tv * dv, dv, y.data(), Tq * dv, dv};
    if constexpr (!std::is_same_v<QueryMask, masks::all_queries>) {
      check<mask_batch_does_not_match>(query_mask.mask.extent(0) == q.extent(0), kind, name,
                                       query_mask.mask.extent(0), q.extent(0));
      check<mask_query_length_does_not_match>(query_mask.mask.extent(1) == q.extent(1), kind, name,
                                              query_mask.mask.extent(1), q.extent(1));
      a.query_keep = query_mask.mask.data();
    }
    if (B * Tq == 0) return;
    using isa = simd::resolve_arch<Arch>;
    const std::size_t row_floats = simd::round_up(Tv, 16);
    float* scratch = ws.reserve(workspace_floats(Tv, ws.threads()));
    const float* qd = q.data();
    const float* kd = k.data();
    auto score_row = [&](std::size_t b, std::size_t i, float* scores) {
      const float* qi = qd + (b * Tq + i) * d;
      const float* kb = kd + b * Tv * d;
      for (std::size_t j = 0; j < Tv; ++j)
        scores[j] = concat ? concat_score<isa>(qi, kb + j * d, d, p)
                           : dot<isa>(qi, kb + j * d, d) * p.scale;
    };
    ws.pool().parallel_for(B * Tq, std::max<std::size_t>(1, B * Tq / (4 * ws.threads())),
                           [&](std::size_t first, std::size_t last, std::size_t thread) {
                             kernels::row_attention<isa>(
                                 a, m, score_row, scratch + thread * row_floats, first, last);
                           });
  }

  /// The single-query form a decoder step uses: query (batch, dim) against value (batch, Tv,
  /// dv) and key (batch, Tv, dim) → context (batch, dv).
  template <class Arch = simd::best_available, class Q, class V, class K, class Y,
            class Mask = masks::none>
  static void attend_one(const parameters& p, const Q& query_in, const V& value, const K& key,
                         Y&& context_in, workspace& ws, const Mask& mask = {}) {
    const auto q = as_view<2>(query_in);
    const auto c = as_view<2>(context_in);
    const tensor_view<const float, dynamic, 1, dynamic> q3(q.data(), {q.extent(0), 1, q.extent(1)});
    const tensor_view<float, dynamic, 1, dynamic> c3(c.data(), {c.extent(0), 1, c.extent(1)});
    forward<Arch>(p, q3, value, key, c3, ws, mask);
  }

 private:
  template <class Arch>
  static float dot(const float* a, const float* b, std::size_t n) noexcept {
    using O = simd::ops<Arch>;
    constexpr std::size_t W = O::width;
    auto acc = O::splat(0.0f);
    std::size_t i = 0;
    for (; i + W <= n; i += W) acc = O::fma(O::load(a + i), O::load(b + i), acc);
    float s = O::sum(acc);
    for (; i < n; ++i) s = std::fma(a[i], b[i], s);
    return s;
  }

  template <class Arch>
  static float concat_score(const float* q, const float* k, std::size_t n,
                            const parameters& p) noexcept {
    using O = simd::ops<Arch>;
    constexpr std::size_t W = O::width;
    const auto scale = O::splat(p.scale);
    auto acc = O::splat(0.0f);
    std::size_t i = 0;
    for (; i + W <= n; i += W) acc = acc + O::tanh(scale * (O::load(q + i) + O::load(k + i)));
    float s = O::sum(acc);
    for (; i < n; ++i) s += std::tanh(p.scale * (q[i] + k[i]));
    return p.concat_score_weight * s;
  }
};

}  // namespace typeformer
