#pragma once
// Additive (Bahdanau-style) attention, in the two forms Keras users meet.
//
// additive_attention<"name", d_model<dim>, Options...>: keras.layers.AdditiveAttention, no
// projections. For query q (batch, Tq, dim), value v (batch, Tv, dv), key k (batch, Tv, dim),
// k = v when not given:
//   s(i, j) = Σ_d scale_d · tanh(q_id + k_jd)
// with the learned (dim,) vector `scale` (Keras's default use_scale=True; `use_scale<false>`
// drops it, scale_d = 1). Then y_i = Σ_j softmax_j(s)·v_j; masks as dot_attention.
//
// bahdanau_attention<"name", units, d_model<dq>, key_features<dk>?, Options...>: the layer of
// TensorFlow's "NMT with attention" tutorial (Bahdanau et al. 2015), with projections:
//   s(i, j) = V · tanh(q_i·W1 + b1 + k_j·W2 + b2) + b_V
// Weights (Keras names; Dense layers W1 (dq, units), W2 (dk, units), V (units, 1)):
// `W1/kernel`, `W1/bias`, `W2/kernel`, `W2/bias`, `V/kernel`, `V/bias`; PyTorch names
// `W1.weight` (units, dq), … for nn.Linear layers of those names. The projections are computed
// once per call (two GEMMs); the scores, one query row at a time.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/errors.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/core/weight_source.hpp>
#include <typeformer/expr/masks.hpp>
#include <typeformer/kernels/gemm.hpp>
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/layers/unprojected_attention.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

namespace detail {
/// Σ_d w_d · tanh(a_d + b_d) (w null: all ones), vectorised over d.
template <class Arch>
float weighted_tanh_sum(const float* a, const float* b, const float* w, std::size_t n) noexcept {
  using O = simd::ops<Arch>;
  constexpr std::size_t W = O::width;
  auto acc = O::splat(0.0f);
  std::size_t d = 0;
  for (; d + W <= n; d += W) {
    const auto t = O::tanh(O::load(a + d) + O::load(b + d));
    acc = w ? O::fma(O::load(w + d), t, acc) : acc + t;
  }
  float s = O::sum(acc);
  for (; d < n; ++d) s += (w ? w[d] : 1.0f) * std::tanh(a[d] + b[d]);
  return s;
}
}  // namespace detail

template <fixed_string Name, class... Options>
struct additive_attention
    : detail::unprojected_attention_calls<additive_attention<Name, Options...>> {
  using detail::unprojected_attention_calls<additive_attention>::forward;
  using detail::unprojected_attention_calls<additive_attention>::attend_one;
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "additive_attention";
  static constexpr std::string_view name = Name.view();
  static constexpr extent_t dim = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr bool scaled = option_value<option_kinds::use_scale, Options...>(true);
  static constexpr fully_masked_rows masked_rows_policy =
      option_value<option_kinds::on_fully_masked_rows, Options...>(fully_masked_rows::zeros);
  static_assert(diagnostics::require<
                (dim > 0), diagnostics::d_model_must_be_positive<name_type, dim, 0>>::rule_holds);
  static constexpr extent_t parameter_count = scaled ? dim : 0;
  /// The widths the call rules check (layers/attention_shape_rules.hpp).
  static constexpr detail::declared_widths widths{
      .query = dim, .key = dim, .query_is_key_width = true};

  struct parameters {
    std::vector<float> scale;  // (dim,), empty without use_scale
  };

  template <class Naming>
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
    if (!scaled) return {};
    return {{prefix + "scale", {dim}}};
  }
  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
    const auto read = checked_weights<additive_attention>(Naming{}, get, prefix);
    parameters p;
    if constexpr (scaled) p.scale = read(prefix + "scale");
    return p;
  }

  template <class Arch = simd::best_available, class Q, class V, class K, class Y,
            class Mask = masks::none, class QueryMask = masks::all_queries>
  static void forward(const parameters& p, const Q& query, const V& value, const K& key, Y&& y,
                      workspace& ws, const Mask& mask = {}, const QueryMask& query_mask = {}) {
    if (scaled && p.scale.size() != static_cast<std::size_t>(dim))
      throw weight_error(detail::concat(kind, " \"", name,
                                        "\": the parameters do not fit this layer's dimensions"));
    using isa = simd::resolve_arch<Arch>;
    // The call rules, asserted here so that a broken one is one note deep; after it, nothing
    // runs.
    using problem =
        detail::unprojected_call_problem<additive_attention, Q, K, V, Y, Mask, QueryMask>;
    static_assert(problem::rule_holds);
    if constexpr (std::is_same_v<problem, diagnostics::passed>)
      detail::run_unprojected_attention<additive_attention, Arch>(
          query, value, key, std::forward<Y>(y), ws, mask, query_mask,
          [](const detail::unprojected_call&) { return std::size_t(0); },
          [&p](const detail::unprojected_call& c, float*) {
            const float* w = scaled ? p.scale.data() : nullptr;
            return [w, c](std::size_t b, std::size_t i, float* scores) {
              const float* qi = c.q + (b * c.query_len + i) * c.query_width;
              const float* kb = c.k + b * c.key_len * c.key_width;
              for (std::size_t j = 0; j < c.key_len; ++j)
                scores[j] =
                    detail::weighted_tanh_sum<isa>(qi, kb + j * c.key_width, w, c.key_width);
            };
          });
  }
};

template <fixed_string Name, extent_t Units, class... Options>
struct bahdanau_attention
    : detail::unprojected_attention_calls<bahdanau_attention<Name, Units, Options...>> {
  using detail::unprojected_attention_calls<bahdanau_attention>::forward;
  using detail::unprojected_attention_calls<bahdanau_attention>::attend_one;
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "bahdanau_attention";
  static constexpr std::string_view name = Name.view();
  static constexpr extent_t units = Units;
  static constexpr extent_t query_width = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr extent_t key_width = extent_of_v<dims::key_features, query_width, Options...>;
  /// The widths the call rules check (layers/attention_shape_rules.hpp).
  static constexpr detail::declared_widths widths{.query = query_width, .key = key_width};
  static constexpr fully_masked_rows masked_rows_policy =
      option_value<option_kinds::on_fully_masked_rows, Options...>(fully_masked_rows::zeros);
  static_assert(diagnostics::require<
                (query_width > 0),
                diagnostics::d_model_must_be_positive<name_type, query_width, 0>>::rule_holds);
  static_assert(diagnostics::require<
                (Units > 0), diagnostics::units_must_be_positive<name_type, Units, 0>>::rule_holds);
  static constexpr extent_t parameter_count =
      query_width * units + units + key_width * units + units + units + 1;

  struct parameters {
    kernels::packed_matrix w1, w2;
    std::vector<float> b1, b2, v;
    float v_bias = 0.0f;
  };

  template <class Naming>
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
    using S = std::vector<std::int64_t>;
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    const std::string sep = Naming::separator;
    const char* w = torch ? "weight" : "kernel";
    return {{prefix + "W1" + sep + w, torch ? S{units, query_width} : S{query_width, units}},
            {prefix + "W1" + sep + "bias", S{units}},
            {prefix + "W2" + sep + w, torch ? S{units, key_width} : S{key_width, units}},
            {prefix + "W2" + sep + "bias", S{units}},
            {prefix + "V" + sep + w, torch ? S{1, units} : S{units, 1}},
            {prefix + "V" + sep + "bias", S{1}}};
  }

  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
    const auto read = checked_weights<bahdanau_attention>(Naming{}, get, prefix);
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    const std::string sep = Naming::separator;
    const std::string w = torch ? "weight" : "kernel";
    const auto u = static_cast<std::size_t>(units);
    auto pack = [&](const std::string& scope, std::size_t in) {
      const std::vector<float> m = read(prefix + scope + sep + w);
      return kernels::packed_matrix::pack(
          [&](std::size_t k, std::size_t n) { return torch ? m[n * in + k] : m[k * u + n]; }, in,
          u);
    };
    parameters p;
    p.w1 = pack("W1", static_cast<std::size_t>(query_width));
    p.b1 = read(prefix + "W1" + sep + "bias");
    p.w2 = pack("W2", static_cast<std::size_t>(key_width));
    p.b2 = read(prefix + "W2" + sep + "bias");
    p.v = read(prefix + "V" + sep + w);  // (units, 1) and (1, units) hold the same values
    p.v_bias = read(prefix + "V" + sep + "bias").at(0);
    return p;
  }

  template <class Arch = simd::best_available, class Q, class V, class K, class Y,
            class Mask = masks::none, class QueryMask = masks::all_queries>
  static void forward(const parameters& p, const Q& query, const V& value, const K& key, Y&& y,
                      workspace& ws, const Mask& mask = {}, const QueryMask& query_mask = {}) {
    using isa = simd::resolve_arch<Arch>;
    constexpr auto u = static_cast<std::size_t>(units);
    // The call rules, asserted here so that a broken one is one note deep; after it, nothing
    // runs.
    using problem =
        detail::unprojected_call_problem<bahdanau_attention, Q, K, V, Y, Mask, QueryMask>;
    static_assert(problem::rule_holds);
    if constexpr (std::is_same_v<problem, diagnostics::passed>)
      detail::run_unprojected_attention<bahdanau_attention, Arch>(
          query, value, key, std::forward<Y>(y), ws, mask, query_mask,
          [](const detail::unprojected_call& c) {
            return (c.batch * c.query_len + c.batch * c.key_len) * u;
          },
          [&p, &ws](const detail::unprojected_call& c, float* projected) {
            float* qp = projected;
            float* kp = projected + c.batch * c.query_len * u;
            kernels::gemm<isa>(ws.pool(), {c.q, c.query_width, c.batch * c.query_len, &p.w1,
                                           p.b1.data(), 1.0f, qp, u});
            kernels::gemm<isa>(ws.pool(), {c.k, c.key_width, c.batch * c.key_len, &p.w2,
                                           p.b2.data(), 1.0f, kp, u});
            return [&p, c, qp, kp](std::size_t b, std::size_t i, float* scores) {
              const float* qi = qp + (b * c.query_len + i) * u;
              const float* kb = kp + b * c.key_len * u;
              for (std::size_t j = 0; j < c.key_len; ++j)
                scores[j] =
                    detail::weighted_tanh_sum<isa>(qi, kb + j * u, p.v.data(), u) + p.v_bias;
            };
          });
  }
};

}  // namespace typeformer
