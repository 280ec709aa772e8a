#pragma once
// Relative-position attention (Shaw, Uszkoreit and Vaswani 2018, as tensor2tensor's
// dot_product_attention_relative and the Keras layers ported from it compute it):
//
//   e_ij = (q_i · k_j + q_i · rel_k[r(i, j)]) / √depth      r(i, j) = clip(j − i, −K, K) + K
//   z_i  = Σ_j softmax_j(e_ij) · (v_j + rel_v[r(i, j)])
//
// rel_k (2K+1, depth) and rel_v (2K+1, value depth) are learned per layer and shared by its
// heads; K = max_relative_position<K> (the Keras examples use 10); rel_v is dropped with
// relative_values<false>. Both forms are a score function and a value function of the tiled
// kernel (kernels/flash_attention.hpp), as a user would write them (docs/expressions.md):
//
//   bucket = clamp(kv_idx − q_idx, −K, K) + K
//   score function  score + query_dot(rel_k[bucket])      value function  rel_v[bucket]
//
// so the 2K+1 products q·rel_k are computed once per query block and no (query, key, depth)
// tensor is formed.
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
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/core/weight_source.hpp>
#include <typeformer/expr/function_attention.hpp>
#include <typeformer/expr/masks.hpp>
#include <typeformer/kernels/attention_functions.hpp>
#include <typeformer/kernels/attention_layout.hpp>
#include <typeformer/kernels/flash_attention.hpp>
#include <typeformer/kernels/gemm.hpp>
#include <typeformer/kernels/project_keys_values.hpp>
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

  // The tables as the tiled kernel's score and value functions.
  static constexpr expr::operand<"rel_k", float, buckets, KeyDepth> rel_k{};
  static constexpr expr::operand<"rel_v", float, buckets, ValueDepth> rel_v{};
  static constexpr auto bucket =
      expr::clamp(expr::kv_idx - expr::q_idx, -std::int32_t{K}, std::int32_t{K}) + std::int32_t{K};
  static constexpr auto score = expr::score + expr::query_dot(rel_k[bucket]);
  static constexpr auto value_rows = [] {
    if constexpr (WithValues)
      return rel_v[bucket];
    else
      return expr::no_function{};
  }();
  static auto bind(const values& t) noexcept {
    const auto keys = expr::bind<"rel_k">(t.rel_k.data(), {buckets, KeyDepth});
    if constexpr (WithValues)
      return expr::bind_all(keys, expr::bind<"rel_v">(t.rel_v.data(), {buckets, ValueDepth}));
    else
      return expr::bind_all(keys);
  }
  using functions =
      kernels::attention_functions<score, expr::no_function{},
                                   decltype(bind(std::declval<const values&>())), value_rows>;
  /// Floats per query row the kernel keeps for them: 2K+1 products, and 2K+1 masses.
  static constexpr std::size_t row_term_floats =
      static_cast<std::size_t>(buckets) * (WithValues ? 2 : 1);
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
  /// The widths the call rules check (layers/attention_shape_rules.hpp).
  static constexpr detail::declared_widths widths{
      .query = depth, .key = depth, .value = value_depth, .query_is_key_width = true};
  static_assert(
      diagnostics::require<(depth > 0),
                           diagnostics::d_model_must_be_positive<name_type, depth, 0>>::rule_holds);
  static_assert(
      diagnostics::require<(max_distance > 0), diagnostics::max_relative_position_must_be_positive<
                                                   name_type, max_distance, 0>>::rule_holds);
  using tables = detail::relative_tables<max_distance, depth, value_depth, with_values>;
  static constexpr extent_t parameter_count = tables::parameter_count;
  using parameters = typename tables::values;

  template <class Naming>
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
    std::vector<weight_spec> out;
    tables::expected(prefix, out);
    return out;
  }
  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
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
    // The call rules, asserted here so that a broken one is one note deep; after it, nothing
    // runs.
    using problem =
        detail::unprojected_call_problem<relative_dot_attention, Q, K, V, Y, Mask, QueryMask>;
    static_assert(problem::rule_holds);
    if constexpr (std::is_same_v<problem, diagnostics::passed>)
      detail::run_unprojected_attention<relative_dot_attention, Arch>(
          query_in, value_in, key_in, std::forward<Y>(y_in), ws, mask, query_mask,
          [](const detail::unprojected_call&) { return std::size_t(0); },
          [](const detail::unprojected_call&, float*) {
            return [](std::size_t, std::size_t, float*) {};
          },
          [&p](const detail::unprojected_call& c, const float* v, float* y, kernels::mask_spec& m,
               const std::uint8_t* query_keep, workspace& call_ws) {
            using isa = simd::resolve_arch<Arch>;
            using O = kernels::attention_operands;
            const auto operands = tables::bind(p);
            const typename tables::functions f(operands);
            const std::size_t B = c.batch, Tq = c.query_len, Tk = c.key_len, dk = c.query_width,
                              dv = c.value_width;
            O ops;
            ops.batch = B, ops.heads = 1, ops.query_len = Tq, ops.key_len = Tk;
            ops.key_dim = dk, ops.value_dim = dv;
            ops.key_capacity = O::key_capacity_for(Tk);
            ops.v_stride = O::v_stride_for(dv);
            ops.q = c.q, ops.q_batch = Tq * dk, ops.q_head = 0, ops.q_row = dk;
            ops.q_scale = 1.0f / std::sqrt(static_cast<float>(depth));
            ops.out = y, ops.out_batch = Tq * dv, ops.out_head = 0, ops.out_row = dv;
            // The keys transposed and the values padded as the kernel reads them: O(L·d) copies
            // against the O(L²·d) of the call.
            const std::size_t kt_floats = B * dk * ops.key_capacity,
                              v_floats = B * Tk * ops.v_stride,
                              per_thread =
                                  kernels::attention_scratch_floats(dk, dv, f.row_term_floats()),
                              both_floats =
                                  query_keep && m.attending_queries ? (B * Tq + 3) / 4 : 0;
            float* kt = call_ws.reserve(kt_floats + v_floats + call_ws.threads() * per_thread +
                                        both_floats);
            float* vt = kt + kt_floats;
            float* scratch = vt + v_floats;
            detail::join_query_mask(
                m, query_keep, B, Tq,
                reinterpret_cast<std::uint8_t*>(scratch + call_ws.threads() * per_thread));
            kernels::scatter_keys_transposed<isa>(c.k, {Tk * dk, 0, dk}, B, 1, Tk, dk, kt,
                                                  ops.key_capacity);
            kernels::scatter_values<isa>(v, {Tk * dv, 0, dv}, B, 1, Tk, dv, vt, ops.v_stride);
            ops.kt = kt, ops.v = vt;
            kernels::flash_attention<isa>(call_ws.pool(), ops, m, scratch, f);
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
  static_assert(
      diagnostics::require<(max_distance > 0), diagnostics::max_relative_position_must_be_positive<
                                                   name_type, max_distance, 0>>::rule_holds);
  static constexpr void require_d_model() noexcept {
    detail::require_declared_width<name_type, d_model>();
    static_assert(diagnostics::require<
                  d_model % heads == 0,
                  diagnostics::heads_do_not_divide_d_model<name_type, d_model, heads>>::rule_holds);
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
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
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
  static parameters from_weights(Naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
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
      static_cast<std::size_t>(depth), static_cast<std::size_t>(depth), tables::row_term_floats);

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
    static_assert(problem::rule_holds);
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
    m.same_for_every_head();  // lowered for one head
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
    const auto operands = tables::bind(p.relative);
    const typename tables::functions f(operands);
    kernels::flash_attention<isa>(ws.pool(), ops, m, scratch, f);
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
namespace detail {
// A model checks the rules from the options, without instantiating the layer (whose body and
// require_d_model assert the same rules when it is used on its own).
template <fixed_string Name, class... Options>
struct declaration_problem<relative_position_attention<Name, Options...>> {
  static constexpr extent_t width = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr extent_t heads = extent_of_v<dims::heads, 1, Options...>;
  static constexpr extent_t max_distance =
      option_value<option_kinds::max_relative_position, Options...>(extent_t{0});
  using type = first_problem<
      diagnostics::require<(max_distance > 0), diagnostics::max_relative_position_must_be_positive<
                                                   layer_name_of<Name>, max_distance, 0>>,
      diagnostics::require<
          (heads > 0 && width % heads == 0),
          diagnostics::heads_do_not_divide_d_model<layer_name_of<Name>, width, heads>>>;
};
}  // namespace detail

}  // namespace typeformer
