#pragma once
// Relative-position attention (Shaw, Uszkoreit and Vaswani 2018, as tensor2tensor's
// dot_product_attention_relative and the Keras layers ported from it compute it):
//
//   e_ij = (q_i · k_j + q_i · rel_k[r(i, j)]) / √depth      r(i, j) = clip(j − i, −K, K) + K
//   z_i  = Σ_j softmax_j(e_ij) · (v_j + rel_v[r(i, j)])
//
// rel_k (2K+1, depth) and rel_v (2K+1, value depth) are learned per layer and shared by its
// heads; K = max_relative_position<K> (the Keras examples use 10); rel_v is dropped with
// relative_values<false>. The multi-head layer runs the tiled flash-attention kernel with the
// relative terms in its tile loop (kernels/flash_attention.hpp); the single-head core, whose
// inputs are read as given, the row kernel of kernels/relative_attention.hpp. Neither forms a
// (query, key, depth) tensor.
//
//   relative_dot_attention<"name", max_relative_position<K>, d_model<dk>, value_features<dv>?>
//       the single-head core on given q (batch, Tq, dk), v (batch, Tv, dv), k (batch, Tv, dk)
//       (Keras's [query, value, key] order; key = value when not given).
//       Weights: name/rel_k (2K+1, dk), name/rel_v (2K+1, dv).
//   relative_position_attention<"name", heads<h>, d_model<d>, max_relative_position<K>>
//       the multi-head layer of the Keras tutorials' form: Dense projections wq, wk, wv
//       (d → d, kernels (in, out)), depth d/h, the core per head, Dense `dense` (d → d).
//       Weights: name/wq/kernel, name/wq/bias, ..., name/dense/bias, name/rel_k (2K+1, d/h),
//       name/rel_v (2K+1, d/h); PyTorch naming name.wq.weight (out, in), ..., name.rel_k.
//
// Masks as for the other attention layers (masks::causal, masks::keep_keys, ...; the core
// also takes masks::keep_queries). A fully masked row gives zeros.

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
#include <typeformer/kernels/flash_attention.hpp>
#include <typeformer/kernels/gemm.hpp>
#include <typeformer/kernels/project_keys_values.hpp>
#include <typeformer/kernels/relative_attention.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/input_width.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/layers/unprojected_attention.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

namespace option_kinds {
struct max_relative_position {};
struct relative_values {};
}  // namespace option_kinds

/// K: relative distances beyond ±K share the table's end rows.
template <extent_t K>
struct max_relative_position {
  using kind = option_kinds::max_relative_position;
  static constexpr extent_t value = K;
};
/// Whether the values get their relative term (rel_v). Default true.
template <bool Enabled>
struct relative_values {
  using kind = option_kinds::relative_values;
  static constexpr bool value = Enabled;
};

namespace detail {
/// The relative tables' names, shapes and loading, shared by both forms.
template <extent_t K, extent_t KeyDepth, extent_t ValueDepth, bool WithValues>
struct relative_tables {
  static constexpr extent_t buckets = 2 * K + 1;
  static constexpr extent_t parameter_count = buckets * (KeyDepth + (WithValues ? ValueDepth : 0));
  struct values {
    std::vector<float> rel_k, rel_v;
  };
  static void expected(const std::string& prefix, std::vector<weight_spec>& out) {
    out.push_back({prefix + "rel_k", {buckets, KeyDepth}});
    if (WithValues) out.push_back({prefix + "rel_v", {buckets, ValueDepth}});
  }
  template <class Get>
  static values load(Get& get, const std::string& prefix) {
    values t;
    t.rel_k = get(prefix + "rel_k");
    if constexpr (WithValues) t.rel_v = get(prefix + "rel_v");
    return t;
  }
  static void check_fits(const values& t, std::string_view kind, std::string_view name) {
    const auto want = static_cast<std::size_t>(buckets);
    if (t.rel_k.size() != want * static_cast<std::size_t>(KeyDepth) ||
        (WithValues && t.rel_v.size() != want * static_cast<std::size_t>(ValueDepth)))
      detail::throw_parameters_do_not_fit(kind, name);
  }
};
}  // namespace detail

template <fixed_string Name, class... Options>
struct relative_dot_attention
    : detail::unprojected_attention_calls<relative_dot_attention<Name, Options...>> {
  using detail::unprojected_attention_calls<relative_dot_attention>::forward;
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "relative_dot_attention";
  static constexpr std::string_view name = Name.view();
  static constexpr extent_t max_distance =
      option_value<option_kinds::max_relative_position, Options...>(extent_t{0});
  static constexpr extent_t depth = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr extent_t value_depth = extent_of_v<dims::value_features, depth, Options...>;
  static constexpr bool with_values = option_value<option_kinds::relative_values, Options...>(true);
  static constexpr fully_masked_rows masked_rows_policy = fully_masked_rows::zeros;
  static_assert(sizeof(diagnostics::require<
                       (depth > 0), diagnostics::d_model_must_be_positive<name_type, depth, 0>>));
  static_assert(sizeof(
      diagnostics::require<(max_distance > 0), diagnostics::max_relative_position_must_be_positive<
                                                   name_type, max_distance, 0>>));
  using tables = detail::relative_tables<max_distance, depth, value_depth, with_values>;
  static constexpr extent_t parameter_count = tables::parameter_count;
  using parameters = typename tables::values;

  template <class Naming>
  static std::vector<weight_spec> expected_weights(Naming, const std::string& prefix = "") {
    std::vector<weight_spec> out;
    tables::expected(prefix, out);
    return out;
  }
  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get, const std::string& prefix = "") {
    const auto read = checked_weights<relative_dot_attention>(Naming{}, get, prefix);
    return tables::load(read, prefix);
  }

  /// y = relative attention of query (batch, Tq, dk) over key (batch, Tv, dk) and value
  /// (batch, Tv, dv).
  template <class Arch = simd::best_available, class Q, class V, class K, class Y,
            class Mask = masks::none, class QueryMask = masks::all_queries>
  static void forward(const parameters& p, const Q& query_in, const V& value_in, const K& key_in,
                      Y&& y_in, workspace& ws, const Mask& mask = {},
                      const QueryMask& query_mask = {}) {
    tables::check_fits(p, kind, name);
    detail::run_unprojected_attention<
        relative_dot_attention, Arch,
        detail::declared_widths{
            .query = depth, .key = depth, .value = value_depth, .query_is_key_width = true}>(
        query_in, value_in, key_in, std::forward<Y>(y_in), ws, mask, query_mask,
        [](const detail::unprojected_call&) { return std::size_t(0); },
        [](const detail::unprojected_call&, float*) {
          return [](std::size_t, std::size_t, float*) {};
        },
        [&p](const detail::unprojected_call& c) {
          kernels::relative_attention_args a;
          a.batch = c.batch;
          a.query_len = c.query_len;
          a.key_len = c.key_len;
          a.key_depth = c.query_width;
          a.value_depth = c.value_width;
          a.q = c.q;
          a.q_batch = c.query_len * c.query_width;
          a.q_row = c.query_width;
          a.k = c.k;
          a.k_batch = c.key_len * c.key_width;
          a.k_row = c.key_width;
          a.rel_k = p.rel_k.data();
          a.rel_v = with_values ? p.rel_v.data() : nullptr;
          a.max_distance = static_cast<std::size_t>(max_distance);
          a.scale = 1.0f / std::sqrt(static_cast<float>(depth));
          return a;
        });
  }
};

template <fixed_string Name, class... Options>
struct relative_position_attention {
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "relative_position_attention";
  static constexpr std::string_view name = Name.view();
  static constexpr extent_t d_model = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr extent_t heads = extent_of_v<dims::heads, 1, Options...>;
  static constexpr extent_t max_distance =
      option_value<option_kinds::max_relative_position, Options...>(extent_t{0});
  static constexpr bool with_values = option_value<option_kinds::relative_values, Options...>(true);
  static constexpr bool has_bias = option_value<option_kinds::use_bias, Options...>(true);
  static constexpr bool has_d_model = d_model > 0;
  static constexpr extent_t depth = has_d_model ? d_model / heads : 0;
  // What a model's chain reads of an attention layer.
  static constexpr extent_t key_features = d_model;
  static constexpr extent_t value_features = d_model;
  static constexpr extent_t output_features = d_model;
  static constexpr extent_t input_width = d_model;
  static constexpr extent_t output_width = d_model;
  static_assert(sizeof(
      diagnostics::require<(max_distance > 0), diagnostics::max_relative_position_must_be_positive<
                                                   name_type, max_distance, 0>>));
  static constexpr void require_d_model() noexcept {
    detail::require_declared_width<name_type, d_model>();
    static_assert(sizeof(
        diagnostics::require<d_model % heads == 0,
                             diagnostics::heads_do_not_divide_d_model<name_type, d_model, heads>>));
  }
  using tables = detail::relative_tables<max_distance, depth, depth, with_values>;
  static constexpr extent_t parameter_count =
      4 * d_model * d_model + (has_bias ? 4 * d_model : 0) + tables::parameter_count;

  struct parameters {
    kernels::packed_matrix wq, wk, wv, dense;
    std::vector<float> bq, bk, bv, bo;  // empty without use_bias
    typename tables::values relative;
  };

  template <class Naming>
  static std::vector<weight_spec> expected_weights(Naming, const std::string& prefix = "") {
    require_d_model();
    const std::string sep = Naming::separator;
    const std::string w = std::is_same_v<Naming, naming::pytorch_t> ? "weight" : "kernel";
    std::vector<weight_spec> out;
    for (const char* proj : {"wq", "wk", "wv", "dense"}) {
      out.push_back({prefix + proj + sep + w, {d_model, d_model}});
      if (has_bias) out.push_back({prefix + proj + sep + "bias", {d_model}});
    }
    tables::expected(prefix, out);
    return out;
  }

  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get, const std::string& prefix = "") {
    const auto read = checked_weights<relative_position_attention>(Naming{}, get, prefix);
    require_d_model();
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    const std::string sep = Naming::separator;
    const auto d = static_cast<std::size_t>(d_model);
    const auto load = [&](const char* proj, kernels::packed_matrix& m, std::vector<float>& b) {
      const std::vector<float> values = read(prefix + proj + sep + (torch ? "weight" : "kernel"));
      m = kernels::packed_matrix::pack(
          [&](std::size_t k, std::size_t n) {
            return torch ? values[n * d + k] : values[k * d + n];
          },
          d, d);
      if (has_bias) b = read(prefix + proj + sep + "bias");
    };
    parameters p;
    load("wq", p.wq, p.bq);
    load("wk", p.wk, p.bk);
    load("wv", p.wv, p.bv);
    load("dense", p.dense, p.bo);
    p.relative = tables::load(read, prefix);
    return p;
  }

  /// Scratch floats of one call: the projected queries (which the heads' context replaces), the
  /// per-head keys and values in the kernel's layout, the projection staging and each thread's
  /// attention scratch.
  static constexpr std::size_t workspace_floats(std::size_t batch, std::size_t query_len,
                                                std::size_t key_len, std::size_t threads) noexcept {
    using O = kernels::attention_operands;
    const auto d = static_cast<std::size_t>(d_model), H = static_cast<std::size_t>(heads),
               dh = static_cast<std::size_t>(depth);
    return batch * query_len * d + kernels::key_value_staging_floats(threads, d, d) +
           batch * H * dh * O::key_capacity_for(key_len) +
           batch * H * key_len * O::v_stride_for(dh) + threads * attention_scratch_per_thread;
  }
  static constexpr std::size_t attention_scratch_per_thread = kernels::attention_scratch_floats(
      static_cast<std::size_t>(depth), static_cast<std::size_t>(depth),
      2 * static_cast<std::size_t>(max_distance) + 1);

  /// y (batch, Tq, d) = the layer on query (batch, Tq, d), key and value (batch, Tv, d).
  template <class Arch = simd::best_available, class Q, class K, class V, class Y,
            class Mask = masks::none>
  static void forward(const parameters& p, const Q& query_in, const K& key_in, const V& value_in,
                      Y&& y_in, workspace& ws, const Mask& mask = {}) {
    require_d_model();
    using namespace diagnostics;
    using isa = simd::resolve_arch<Arch>;
    tables::check_fits(p.relative, kind, name);
    if (p.wq.inputs() != static_cast<std::size_t>(d_model))
      detail::throw_parameters_do_not_fit(kind, name);
    const auto q = as_view<3>(query_in);
    const auto k = as_view<3>(key_in);
    const auto v = as_view<3>(value_in);
    const auto y = as_view<3>(y_in);
    using problem = detail::attention_shape_problem<
        name_type,
        detail::declared_widths{
            .query = d_model, .key = d_model, .value = d_model, .output = d_model},
        decltype(q), decltype(k), decltype(v), decltype(y), Mask>;
    static_assert(sizeof(problem));
    check<query_features_do_not_match_d_model>(q.extent(2) == d_model, kind, name, q.extent(2),
                                               d_model);
    check<key_features_do_not_match_declaration>(k.extent(2) == d_model, kind, name, k.extent(2),
                                                 d_model);
    check<value_features_do_not_match_declaration>(v.extent(2) == d_model, kind, name, v.extent(2),
                                                   d_model);
    check<batch_sizes_differ>(k.extent(0) == q.extent(0), kind, name, k.extent(0), q.extent(0));
    check<batch_sizes_differ>(v.extent(0) == q.extent(0), kind, name, v.extent(0), q.extent(0));
    check<key_and_value_lengths_differ>(k.extent(1) == v.extent(1), kind, name, k.extent(1),
                                        v.extent(1));
    const std::array<extent_t, 3> want = {q.extent(0), q.extent(1), d_model};
    for (std::size_t a = 0; a < 3; ++a)
      check<output_shape_does_not_match>(y.extent(a) == want[a], kind, name, y.extent(a), want[a]);
    const auto B = static_cast<std::size_t>(q.extent(0)),
               Tq = static_cast<std::size_t>(q.extent(1)),
               Tk = static_cast<std::size_t>(k.extent(1)), d = static_cast<std::size_t>(d_model);
    kernels::mask_spec m;
    mask.lower(m, {q.extent(0), 1, q.extent(1), k.extent(1), kind, name});
    m.bias_head = 0;  // lowered for one head: every head reads the same bias
    if (B * Tq == 0) return;
    using O = kernels::attention_operands;
    const auto H = static_cast<std::size_t>(heads), dh = static_cast<std::size_t>(depth);
    O ops;
    ops.batch = B, ops.heads = H, ops.query_len = Tq, ops.key_len = Tk;
    ops.key_dim = ops.value_dim = dh;
    ops.key_capacity = O::key_capacity_for(Tk);
    ops.v_stride = O::v_stride_for(dh);
    float* qp = ws.reserve(workspace_floats(B, Tq, Tk, ws.threads()));
    float* staging = qp + B * Tq * d;
    float* kt = staging + kernels::key_value_staging_floats(ws.threads(), d, d);
    float* vt = kt + B * H * dh * ops.key_capacity;
    float* scratch = vt + B * H * Tk * ops.v_stride;
    const auto bias = [](const std::vector<float>& b) { return b.empty() ? nullptr : b.data(); };
    // The score scale 1/√depth is folded into the projected queries; the relative key terms
    // are products with those scaled queries, so they come out scaled too.
    kernels::gemm<isa>(ws.pool(), {q.data(), d, B * Tq, &p.wq, bias(p.bq),
                                   1.0f / std::sqrt(static_cast<float>(depth)), qp, d});
    kernels::project_keys_and_values<isa>(
        ws.pool(), {k.data(), d, &p.wk, bias(p.bk), v.data(), d, &p.wv, bias(p.bv)}, B, ops, kt, vt,
        staging);
    // Each head's context overwrites its own queries: a task reads its queries before it writes.
    ops.q = qp, ops.q_batch = Tq * d, ops.q_head = dh, ops.q_row = d;
    ops.kt = kt, ops.v = vt;
    ops.out = qp, ops.out_batch = Tq * d, ops.out_head = dh, ops.out_row = d;
    ops.rel_k = p.relative.rel_k.data();
    ops.rel_v = with_values ? p.relative.rel_v.data() : nullptr;
    ops.max_distance = static_cast<std::size_t>(max_distance);
    kernels::flash_attention<isa>(ws.pool(), ops, m, scratch);
    kernels::gemm<isa>(ws.pool(), {qp, d, B * Tq, &p.dense, bias(p.bo), 1.0f, y.data(), d});
  }
};

template <fixed_string Name, class... Options, extent_t Width>
struct bind_input_width<relative_position_attention<Name, Options...>, Width> {
  using type =
      detail::bound_layer<has_dim_v<dims::d_model, Options...>,
                          relative_position_attention<Name, Options...>,
                          relative_position_attention<Name, Options..., dims::d_model<Width>>>;
};

}  // namespace typeformer
