#pragma once
// dot_attention<"name", Options...>: keras.layers.Attention, Luong-style attention without
// projections. For query q (batch, Tq, dim), value v (batch, Tv, dv) and key k (batch, Tv, dim),
// k = v when not given:
//   score_mode "dot" (default):  s(i, j) = scale · (q_i · k_j)            — no 1/√dim
//   score_mode "concat":         s(i, j) = w · Σ_d tanh(scale · (q_id + k_jd))
//   y_i = Σ_j softmax_j(s(i, j) over visible keys) · v_j, and y_i = 0 where query_mask drops i.
// scale is a learned scalar with option `use_scale<true>` (Keras use_scale=True), else 1; w is the
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
#include <typeformer/core/weight_source.hpp>
#include <typeformer/expr/masks.hpp>
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/layers/unprojected_attention.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

template <fixed_string Name, class... Options>
struct dot_attention : detail::unprojected_attention_calls<dot_attention<Name, Options...>> {
  using detail::unprojected_attention_calls<dot_attention>::forward;
  using detail::unprojected_attention_calls<dot_attention>::attend_one;
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "dot_attention";
  static constexpr std::string_view name = Name.view();
  static constexpr bool scaled = option_value<option_kinds::use_scale, Options...>(false);
  static constexpr bool concat = option_value<option_kinds::concat_scores, Options...>(false);
  static constexpr fully_masked_rows masked_rows_policy =
      option_value<option_kinds::on_fully_masked_rows, Options...>(fully_masked_rows::zeros);
  static constexpr extent_t parameter_count = (scaled ? 1 : 0) + (concat ? 1 : 0);
  /// The widths the call rules check (layers/attention_shape_rules.hpp).
  static constexpr detail::declared_widths widths{.query_is_key_width = true};

  struct parameters {
    float scale = 1.0f;
    float concat_score_weight = 1.0f;
  };

  template <class Naming>
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
    std::vector<weight_spec> out;
    if (scaled) out.push_back({prefix + "scale", {}});
    if (concat) out.push_back({prefix + "concat_score_weight", {}});
    return out;
  }

  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
    const auto read = checked_weights<dot_attention>(Naming{}, get, prefix);
    parameters p;
    if constexpr (scaled) p.scale = read(prefix + "scale").at(0);
    if constexpr (concat) p.concat_score_weight = read(prefix + "concat_score_weight").at(0);
    return p;
  }

  /// The same with a key distinct from the value: key (batch, Tv, dim).
  template <class Arch = simd::best_available, class Q, class V, class K, class Y,
            class Mask = masks::none, class QueryMask = masks::all_queries>
  static void forward(const parameters& p, const Q& query_in, const V& value_in, const K& key_in,
                      Y&& y_in, workspace& ws, const Mask& mask = {},
                      const QueryMask& query_mask = {}) {
    using isa = simd::resolve_arch<Arch>;
    // The call rules, asserted here so that a broken one is one note deep; after it, nothing
    // runs.
    using problem = detail::unprojected_call_problem<dot_attention, Q, K, V, Y, Mask, QueryMask>;
    static_assert(problem::rule_holds);
    if constexpr (std::is_same_v<problem, diagnostics::passed>)
      detail::run_unprojected_attention<dot_attention, Arch>(
          query_in, value_in, key_in, std::forward<Y>(y_in), ws, mask, query_mask,
          [](const detail::unprojected_call&) { return std::size_t(0); },
          [&p](const detail::unprojected_call& c, float*) {
            return [&p, c](std::size_t b, std::size_t i, float* scores) {
              const float* qi = c.q + (b * c.query_len + i) * c.query_width;
              const float* kb = c.k + b * c.key_len * c.key_width;
              for (std::size_t j = 0; j < c.key_len; ++j)
                scores[j] =
                    concat ? concat_score<isa>(qi, kb + j * c.key_width, c.key_width, p)
                           : kernels::dot<isa>(qi, kb + j * c.key_width, c.key_width) * p.scale;
            };
          });
  }

 private:
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
