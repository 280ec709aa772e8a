#pragma once
// multi_head_attention<"name", heads<h>, d_model<d>, ...>: PyTorch's nn.MultiheadAttention and
// Keras's MultiHeadAttention as one type.
//
//   y = concat_h( softmax(q_h·k_hᵀ / √key_dim_per_head + mask) · v_h ) · W_o + b_o
//   q_h = query·W_q,h + b_q,h   k_h = key·W_k,h + b_k,h   v_h = value·W_v,h + b_v,h
//
// Dimensions not declared take PyTorch's defaults: key_dim_per_head = value_dim_per_head =
// d_model / heads, key_features = value_features = output_features = d_model. Keras layers
// declare key_dim_per_head (Keras `key_dim`) freely, and value_dim_per_head / output_features.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/core/weight_source.hpp>
#include <typeformer/expr/masks.hpp>
#include <typeformer/kernels/attention_probabilities.hpp>
#include <typeformer/kernels/flash_attention.hpp>
#include <typeformer/kernels/gemm.hpp>
#include <typeformer/kernels/project_keys_values.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/activations.hpp>
#include <typeformer/layers/attention_shape_rules.hpp>
#include <typeformer/layers/attention_variant.hpp>
#include <typeformer/layers/input_width.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/tensor/aligned_buffer.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

namespace option_kinds {
struct score_scale {};
struct projection_activation {};
struct weight_layout {};
}  // namespace option_kinds

/// What the scores q·k are multiplied by before the softmax, as each framework or tutorial
/// does it:
///   per_head_key_dim  1/√key_dim_per_head: PyTorch, Keras MultiHeadAttention, keras-multi-head,
///                     the Keras custom-layer tutorials (depth = d_model / heads). The default.
///   total_key_width   1/√(heads·key_dim_per_head): the MachineLearningMastery tutorial, which
///                     divides by √d_k of the whole projection.
///   none              1: no scaling.
enum class score_scaling { per_head_key_dim, total_key_width, none };

template <score_scaling Policy>
struct score_scale {
  using kind = option_kinds::score_scale;
  static constexpr score_scaling value = Policy;
};

/// An activation applied to each of the query, key and value projections and to the output
/// projection: keras-multi-head's MultiHeadAttention(activation=...), whose default is relu.
template <activation_function Act>
struct projection_activation {
  using kind = option_kinds::projection_activation;
  static constexpr activation_function value = Act;
};

/// How the weights are laid out and named besides the framework's own MultiHeadAttention.
enum class attention_weight_layout {
  framework,         ///< nn.MultiheadAttention or keras.layers.MultiHeadAttention
  keras_multi_head,  ///< keras-multi-head (CyberZHG): `name_Wq` (q_dim, f), `name_bq` (f), …,
                     ///< `name_Wo` (f, f), with f the value features
  dense_layers       ///< four Dense / nn.Linear layers with names of their own (tutorials)
};

/// Option: keras-multi-head's weights (Keras names only).
struct keras_multi_head_weights {
  using kind = option_kinds::weight_layout;
  static constexpr attention_weight_layout value = attention_weight_layout::keras_multi_head;
};

/// Option: the projections are four Dense layers (Keras: `wq/kernel` (in, heads·key_dim),
/// `wq/bias`) or nn.Linear modules (PyTorch: `W_q.weight` (heads·key_dim, in), `W_q.bias`)
/// named as a tutorial names them: `dense_projection_names<"wq", "wk", "wv", "dense">` (Keras's
/// custom-layer tutorials), `<"W_q", "W_k", "W_v", "W_o">` (MachineLearningMastery, and many
/// PyTorch tutorials). The heads split each projection's columns in order.
template <fixed_string Query, fixed_string Key, fixed_string Value, fixed_string Output>
struct dense_projection_names {
  using kind = option_kinds::weight_layout;
  static constexpr attention_weight_layout value = attention_weight_layout::dense_layers;
  static constexpr std::string_view names[4] = {Query.view(), Key.view(), Value.view(),
                                                Output.view()};
};

/// No attention weights wanted (the fused path).
struct no_attention_weights {
  static constexpr bool averaged = false;
};

/// Where to write attention weights: (batch, heads, Lq, Lk).
template <class Target>
struct attention_weights_per_head {
  Target& target;
  static constexpr bool averaged = false;
};
/// Where to write attention weights averaged over heads: (batch, Lq, Lk), PyTorch's default.
template <class Target>
struct attention_weights_averaged {
  Target& target;
  static constexpr bool averaged = true;
};
template <class T>
attention_weights_per_head(T&) -> attention_weights_per_head<T>;
template <class T>
attention_weights_averaged(T&) -> attention_weights_averaged<T>;

namespace detail {
/// The declaration rules of multi_head_attention<Name, Options...>, computed from its options
/// alone: a model checks them without instantiating the layer.
template <class NameType, class... Options>
struct multi_head_declaration {
  static constexpr extent_t heads = extent_of_v<dims::heads, 0, Options...>;
  static constexpr extent_t d_model = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr bool head_dims_declared = has_dim_v<dims::key_dim_per_head, Options...>;
  static constexpr bool keras_multi_head_layout =
      option_value<option_kinds::weight_layout, Options...>(attention_weight_layout::framework) ==
      attention_weight_layout::keras_multi_head;
  static constexpr extent_t key_features = extent_of_v<dims::key_features, d_model, Options...>;
  static constexpr extent_t value_features =
      extent_of_v<dims::value_features, key_features, Options...>;
  static constexpr extent_t split_width = keras_multi_head_layout ? value_features : d_model;
  static constexpr bool heads_split_width =
      head_dims_declared || heads <= 0 || split_width % heads == 0;
  static constexpr extent_t key_dim_per_head =
      extent_of_v<dims::key_dim_per_head, (heads > 0 ? split_width / heads : 0), Options...>;
  static constexpr extent_t kv_heads = extent_of_v<dims::kv_heads, heads, Options...>;
  static constexpr bool kv_heads_divide = kv_heads > 0 && heads % kv_heads == 0;
  static constexpr bool named_projections =
      option_value<option_kinds::weight_layout, Options...>(attention_weight_layout::framework) ==
      attention_weight_layout::dense_layers;
  using rotary_option =
      typename option_type<option_kinds::rotary_embedding, void, Options...>::type;
  static constexpr extent_t rotary_dims = [] {
    if constexpr (std::is_void_v<rotary_option>)
      return extent_t{0};
    else
      return rotary_option::dims ? rotary_option::dims : key_dim_per_head;
  }();
  static constexpr bool element_wise_projections = is_element_wise(
      option_value<option_kinds::projection_activation, Options...>(activations::linear));
  using problem = first_problem<
      diagnostics::require<(heads > 0), diagnostics::heads_must_be_positive<NameType, heads, 0>>,
      diagnostics::require<heads_split_width,
                           diagnostics::heads_do_not_divide_d_model<NameType, split_width, heads>>,
      diagnostics::require<kv_heads_divide, diagnostics::key_heads_do_not_divide_query_heads<
                                                NameType, kv_heads, heads>>,
      diagnostics::require<
          kv_heads == heads || named_projections,
          diagnostics::grouped_heads_need_named_projections<NameType, kv_heads, heads>>,
      diagnostics::require<rotary_dims % 2 == 0 && rotary_dims <= key_dim_per_head,
                           diagnostics::rotary_dims_must_be_even_and_fit_a_head<
                               NameType, rotary_dims, key_dim_per_head>>,
      diagnostics::require<element_wise_projections,
                           diagnostics::activation_must_be_element_wise<NameType, 0, 0>>,
      typename declared_attention_variant<Options...>::template problem<NameType>>;
};
}  // namespace detail

template <fixed_string Name, class... Options>
struct multi_head_attention {
  using name_type = layer_name_of<Name>;
  using declaration = detail::multi_head_declaration<name_type, Options...>;
  static constexpr std::string_view kind = "multi_head_attention";
  static constexpr std::string_view name = Name.view();

  static constexpr extent_t heads = declaration::heads;
  static constexpr extent_t d_model = declaration::d_model;
  static constexpr bool head_dims_declared = declaration::head_dims_declared;

  // The layer's own rules, checked when the type is used on its own (a model checks them from
  // the options, without instantiating the layer: model/block.hpp's block_of).
  static_assert(declaration::problem::rule_holds);
  /// After that error, a call checks nothing against the broken declaration (a second error
  /// for one mistake: d_model<500>'s heads, then a 512-wide query "not matching" it).
  static constexpr bool declaration_holds =
      std::is_same_v<typename declaration::problem, diagnostics::passed>;
  /// Declared, or bound by a model (model/binding.hpp). Checked where the layer is used, not
  /// here: a model's declaration names its layers before it gives them their width.
  static constexpr bool has_d_model = d_model > 0;
  static constexpr void require_d_model() noexcept {
    detail::require_declared_width<name_type, d_model>();
  }
  static constexpr attention_weight_layout layout =
      option_value<option_kinds::weight_layout, Options...>(attention_weight_layout::framework);
  static constexpr bool keras_multi_head_layout = declaration::keras_multi_head_layout;
  /// Four separate projection matrices (keras-multi-head, or named Dense / Linear layers).
  static constexpr bool separate_projections = layout != attention_weight_layout::framework;
  static constexpr extent_t key_features = declaration::key_features;
  static constexpr extent_t value_features = declaration::value_features;
  /// The width the heads split: d_model, or keras-multi-head's f, the value features.
  static constexpr extent_t split_width = declaration::split_width;
  /// The heads split the width, or the head widths are declared: the rules that follow (the
  /// framework names' rule) assume it, so they hold vacuously when it fails (one error).
  static constexpr bool heads_split_width = declaration::heads_split_width;

  static constexpr extent_t key_dim_per_head = declaration::key_dim_per_head;
  static constexpr extent_t value_dim_per_head =
      extent_of_v<dims::value_dim_per_head, key_dim_per_head, Options...>;
  static constexpr extent_t output_features =
      extent_of_v<dims::output_features, split_width, Options...>;
  static constexpr score_scaling score_scaling_policy =
      option_value<option_kinds::score_scale, Options...>(score_scaling::per_head_key_dim);
  static constexpr activation_function projection_act =
      option_value<option_kinds::projection_activation, Options...>(activations::linear);
  static constexpr bool has_bias = option_value<option_kinds::use_bias, Options...>(true);
  static constexpr fully_masked_rows masked_rows_policy =
      option_value<option_kinds::on_fully_masked_rows, Options...>(fully_masked_rows::zeros);
  static constexpr maths softmax_maths =
      option_value<option_kinds::maths_policy, Options...>(maths::fast);
  using weight_matrix = weight_matrix_for<Options...>;
  /// Score and mask functions declared with the layer (with_score_function, with_mask_function)
  /// and the operands the layer binds to them (attention_variant.hpp).
  using variant = detail::declared_attention_variant<Options...>;

  /// Widths as a link in a model: self-attention reads d_model-wide inputs.
  static constexpr extent_t input_width = d_model;
  static constexpr extent_t output_width = output_features;

  static constexpr extent_t query_width = heads * key_dim_per_head;
  static constexpr extent_t value_width = heads * value_dim_per_head;

  /// Key/value heads (grouped-query attention, kv_heads<n>): query head h reads key/value head
  /// h·kv_heads/heads. The key and value projections are kv_heads heads wide.
  static constexpr extent_t kv_heads = declaration::kv_heads;
  static constexpr bool grouped_heads = kv_heads != heads;
  static constexpr extent_t key_width = kv_heads * key_dim_per_head;
  static constexpr extent_t kv_value_width = kv_heads * value_dim_per_head;

  /// Rotary position embedding of the projected queries and keys (rotary_position_embedding).
  using rotary_option = typename declaration::rotary_option;
  static constexpr bool rotary = !std::is_void_v<rotary_option>;
  static constexpr std::size_t rotary_dims = static_cast<std::size_t>(declaration::rotary_dims);
  /// Row strides of the projected queries and of the attention output in the workspace: one
  /// cache line more than the width where rows would lie a multiple of 4 KiB apart
  /// (kernels::gemm_input_stride), as at d_model 1024, for the GEMMs that write and read them.
  static constexpr std::size_t query_row_stride =
      kernels::gemm_input_stride(static_cast<std::size_t>(query_width));
  static constexpr std::size_t context_row_stride =
      kernels::gemm_input_stride(static_cast<std::size_t>(value_width));
  static constexpr extent_t parameter_count =
      d_model * query_width + key_features * key_width + value_features * kv_value_width +
      value_width * output_features +
      (has_bias ? query_width + key_width + kv_value_width + output_features : 0) +
      variant::operands::loaded_size();

  /// The layer's weights, packed at load time into the layout the GEMM kernel streams.
  struct parameters {
    weight_matrix query, key, value, output;
    std::vector<float> query_bias, key_bias, value_bias, output_bias;  // empty without bias
    /// The tables the variant's functions read (alibi_slopes, weight_operand), in option order.
    typename variant::operands::values function_operands{};
  };

  // ---- Weights by framework name ------------------------------------------------------

  /// PyTorch's nn.MultiheadAttention cannot express head widths other than d_model / heads or
  /// an output width other than d_model: such a declaration cannot use PyTorch names.
  static constexpr bool pytorch_expressible = key_dim_per_head * heads == d_model &&
                                              value_dim_per_head == key_dim_per_head &&
                                              output_features == d_model;
  static constexpr bool pytorch_packs_in_proj =
      key_features == d_model && value_features == d_model;

  /// Whether the weights can be named by `Naming`: PyTorch's nn.MultiheadAttention has no
  /// Keras-style head widths. load_weights asserts it before anything reads a name.
  template <class Naming>
  using naming_problem =
      diagnostics::require<!std::is_same_v<Naming, naming::pytorch_t> || separate_projections ||
                               pytorch_expressible || !heads_split_width,
                           diagnostics::pytorch_names_need_head_width_d_model_over_heads<
                               name_type, key_dim_per_head, d_model / heads>>;

  // Asserted in a function of its own: clang sets aside a function whose body breaks an
  // assertion, and the next read of the names would be a second error ("no matching function").
  template <class Naming>
  static constexpr void require_naming() noexcept {
    static_assert(naming_problem<Naming>::rule_holds);
  }

  template <class Naming>
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
    require_d_model();
    using S = std::vector<std::int64_t>;
    const auto E = d_model, H = heads, kd = key_dim_per_head, vd = value_dim_per_head;
    std::vector<weight_spec> w;
    if constexpr (separate_projections) {
      const auto names = separate_names(Naming{}, prefix);
      constexpr bool out_in = std::is_same_v<Naming, naming::pytorch_t>;
      for (std::size_t m = 0; m < 4; ++m) {
        const extent_t in = separate_inputs[m], out = separate_outputs[m];
        w.push_back({names.weight[m], out_in ? S{out, in} : S{in, out}});
        if (has_bias) w.push_back({names.bias[m], S{out}});
      }
    } else if constexpr (std::is_same_v<Naming, naming::pytorch_t>) {
      require_naming<Naming>();
      if (pytorch_packs_in_proj) {
        w.push_back({prefix + "in_proj_weight", S{3 * E, E}});
      } else {
        w.push_back({prefix + "q_proj_weight", S{E, E}});
        w.push_back({prefix + "k_proj_weight", S{E, key_features}});
        w.push_back({prefix + "v_proj_weight", S{E, value_features}});
      }
      if (has_bias) w.push_back({prefix + "in_proj_bias", S{3 * E}});
      w.push_back({prefix + "out_proj.weight", S{E, E}});
      if (has_bias) w.push_back({prefix + "out_proj.bias", S{E}});
    } else {
      static_assert(std::is_same_v<Naming, naming::keras_t>, "unknown naming");
      w.push_back({prefix + "query/kernel", S{E, H, kd}});
      if (has_bias) w.push_back({prefix + "query/bias", S{H, kd}});
      w.push_back({prefix + "key/kernel", S{key_features, H, kd}});
      if (has_bias) w.push_back({prefix + "key/bias", S{H, kd}});
      w.push_back({prefix + "value/kernel", S{value_features, H, vd}});
      if (has_bias) w.push_back({prefix + "value/bias", S{H, vd}});
      w.push_back({prefix + "attention_output/kernel", S{H, vd, output_features}});
      if (has_bias) w.push_back({prefix + "attention_output/bias", S{output_features}});
    }
    variant::operands::add_expected(w, prefix);
    return w;
  }

  /// Builds the parameters from tensors already checked against `expected_weights`:
  /// `get(name)` returns the tensor's values as floats, row-major.
  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
    const auto read = checked_weights<multi_head_attention>(Naming{}, get, prefix);
    require_d_model();
    using std::size_t;
    const auto E = static_cast<size_t>(d_model);
    const auto Q = static_cast<size_t>(query_width), V = static_cast<size_t>(value_width);
    const auto KF = static_cast<size_t>(key_features), VF = static_cast<size_t>(value_features);
    const auto OUT = static_cast<size_t>(output_features);
    parameters p;
    if constexpr (separate_projections) {
      const auto names = separate_names(Naming{}, prefix);
      constexpr bool out_in = std::is_same_v<Naming, naming::pytorch_t>;
      weight_matrix* matrices[4] = {&p.query, &p.key, &p.value, &p.output};
      std::vector<float>* biases[4] = {&p.query_bias, &p.key_bias, &p.value_bias, &p.output_bias};
      for (std::size_t m = 0; m < 4; ++m) {
        const auto in = static_cast<size_t>(separate_inputs[m]),
                   out = static_cast<size_t>(separate_outputs[m]);
        const std::vector<float> w = read(names.weight[m]);
        *matrices[m] = weight_matrix::pack(
            [&](size_t k, size_t n) { return out_in ? w[n * in + k] : w[k * out + n]; }, in, out);
        if constexpr (has_bias) *biases[m] = read(names.bias[m]);
      }
    } else if constexpr (std::is_same_v<Naming, naming::pytorch_t>) {
      // PyTorch stores (out, in): element (k, n) of the (in, out) matrix is w[n * in + k].
      auto pack_rows = [](const std::vector<float>& w, size_t first_row, size_t in, size_t out) {
        return weight_matrix::pack([&](size_t k, size_t n) { return w[(first_row + n) * in + k]; },
                                   in, out);
      };
      if (pytorch_packs_in_proj) {
        const auto w = read(prefix + "in_proj_weight");
        p.query = pack_rows(w, 0, E, E);
        p.key = pack_rows(w, E, E, E);
        p.value = pack_rows(w, 2 * E, E, E);
      } else {
        p.query = pack_rows(read(prefix + "q_proj_weight"), 0, E, E);
        p.key = pack_rows(read(prefix + "k_proj_weight"), 0, KF, E);
        p.value = pack_rows(read(prefix + "v_proj_weight"), 0, VF, E);
      }
      p.output = pack_rows(read(prefix + "out_proj.weight"), 0, E, E);
      if constexpr (has_bias) {
        const auto b = read(prefix + "in_proj_bias");
        p.query_bias.assign(b.begin(), b.begin() + E);
        p.key_bias.assign(b.begin() + E, b.begin() + 2 * E);
        p.value_bias.assign(b.begin() + 2 * E, b.end());
        p.output_bias = read(prefix + "out_proj.bias");
      }
    } else {
      // Keras kernels are (in, heads, width) and (heads, width, out): row-major (in, out).
      auto pack = [](const std::vector<float>& w, size_t in, size_t out) {
        return weight_matrix::pack([&](size_t k, size_t n) { return w[k * out + n]; }, in, out);
      };
      p.query = pack(read(prefix + "query/kernel"), E, Q);
      p.key = pack(read(prefix + "key/kernel"), KF, Q);
      p.value = pack(read(prefix + "value/kernel"), VF, V);
      p.output = pack(read(prefix + "attention_output/kernel"), V, OUT);
      if constexpr (has_bias) {
        p.query_bias = read(prefix + "query/bias");
        p.key_bias = read(prefix + "key/bias");
        p.value_bias = read(prefix + "value/bias");
        p.output_bias = read(prefix + "attention_output/bias");
      }
    }
    p.function_operands = variant::operands::load(read, prefix, heads);
    return p;
  }

  // ---- Running --------------------------------------------------------------------------

  /// Floats of workspace one call with these extents needs.
  static constexpr std::size_t workspace_floats(std::size_t batch, std::size_t query_len,
                                                std::size_t key_len,
                                                std::size_t threads = 1) noexcept {
    using O = kernels::attention_operands;
    const auto KV = static_cast<std::size_t>(kv_heads);
    const auto K = static_cast<std::size_t>(key_width),
               V = static_cast<std::size_t>(kv_value_width);
    const std::size_t projected_q = batch * query_len * query_row_stride;
    const std::size_t staging = kernels::key_value_staging_floats(threads, K, V);
    const std::size_t kt =
        batch * KV * static_cast<std::size_t>(key_dim_per_head) * O::key_capacity_for(key_len);
    const std::size_t v =
        batch * KV * key_len * O::v_stride_for(static_cast<std::size_t>(value_dim_per_head));
    const std::size_t context = context_in_queries ? 0 : batch * query_len * context_row_stride;
    return projected_q + staging + kt + v + context + attention_floats(batch, query_len, threads) +
           rotary_floats(std::max(query_len, key_len));
  }

  /// The cosine and sine tables of rotary embedding for `positions` positions.
  static constexpr std::size_t rotary_floats(std::size_t positions) noexcept {
    return positions * rotary_dims;
  }

  /// The attention core's part: each thread's scratch, then the partial results of a call
  /// whose keys are split (decoding a few (batch, head) pairs against a long cache).
  static constexpr std::size_t attention_floats(std::size_t batch, std::size_t query_len,
                                                std::size_t threads) noexcept {
    const auto kd = static_cast<std::size_t>(key_dim_per_head),
               vd = static_cast<std::size_t>(value_dim_per_head);
    return threads * kernels::attention_scratch_floats(kd, vd) +
           kernels::attention_split_floats_at_most(batch, static_cast<std::size_t>(heads),
                                                   query_len, vd);
  }

  /// out = attention(query, key, value), optionally writing the attention weights too.
  ///
  /// `query` (batch, Lq, d_model), `key` (batch, Lk, key_features), `value` (batch, Lk,
  /// value_features) and `out` (batch, Lq, output_features) are anything `as_view` knows
  /// (tensor_view, xtensor containers). Static extents are checked at compile time, dynamic
  /// ones here, with the same sentences. `weights`, if given, is (batch, heads, Lq, Lk) per
  /// head or (batch, Lq, Lk) averaged over heads (PyTorch `need_weights`, Keras
  /// `return_attention_scores`): only that opt-in path materialises S×S values. Allocates
  /// nothing once the workspace has grown to the call's size. `Arch` picks the instruction
  /// set (simd::best_available: the best the compiler flags allow; simd::scalar: plain C++).
  template <class Arch = simd::best_available, class Query, class Key, class Value, class Out,
            class Mask = masks::none, class Weights = no_attention_weights>
  static void forward(const parameters& p, const Query& query_in, const Key& key_in,
                      const Value& value_in, Out&& out_in, workspace& ws, const Mask& mask = {},
                      Weights&& weights_in = {}) {
    require_d_model();
    using namespace diagnostics;
    const auto query = as_view<3>(query_in);
    const auto key = as_view<3>(key_in);
    const auto value = as_view<3>(value_in);
    const auto out = as_view<3>(out_in);
    using Q = decltype(query);
    using K = decltype(key);
    using V = decltype(value);
    using O = decltype(out);
    static_assert(std::is_same_v<typename O::value_type, float>,
                  "the output must be writable floats");
    using problem =
        detail::attention_shape_problem<name_type,
                                        detail::declared_widths{.query = d_model,
                                                                .key = key_features,
                                                                .value = value_features,
                                                                .output = output_features},
                                        Q, K, V, O, Mask>;
    static_assert(std::conditional_t<declaration_holds, problem, passed>::rule_holds);
    static_assert(require < !declaration_holds || extents_may_agree(Mask::extents.heads, heads),
                  mask_heads_do_not_match < name_type, Mask::extents.heads, heads >> ::rule_holds);
    using call = detail::attention_call<variant, Mask>;
    // Named: clang prints the text of a static_assert's condition, here the whole variant.
    constexpr bool all_bound = call::all_bound;
    constexpr bool call_names_are_new = call::call_names_are_new;
    static_assert(
        all_bound,
        "an operand the layer's score or mask function names is bound neither by the layer "
        "(alibi_slopes<operand>, weight_operand<operand, \"weight\">) nor at the call "
        "(expr::call_operands(bind<\"name\">(value)) in the mask's place), or is bound "
        "to data of another element type or rank");
    static_assert(!all_bound || call_names_are_new,
                  "an operand bound at the call has the name of one the layer computes or loads "
                  "(alibi_slopes, weight_operand): the layer's would be used; rename one");

    if (!fits(p)) detail::throw_parameters_do_not_fit(kind, name);
    const extent_t B = query.extent(0), Lq = query.extent(1), Lk = key.extent(1);
    check<query_features_do_not_match_d_model>(query.extent(2) == d_model, kind, name,
                                               query.extent(2), d_model);
    check<key_features_do_not_match_declaration>(key.extent(2) == key_features, kind, name,
                                                 key.extent(2), key_features);
    check<value_features_do_not_match_declaration>(value.extent(2) == value_features, kind, name,
                                                   value.extent(2), value_features);
    check<key_and_value_lengths_differ>(Lk == value.extent(1), kind, name, Lk, value.extent(1));
    check<batch_sizes_differ>(key.extent(0) == B, kind, name, key.extent(0), B);
    check<batch_sizes_differ>(value.extent(0) == B, kind, name, value.extent(0), B);
    check<batch_sizes_differ>(out.extent(0) == B, kind, name, out.extent(0), B);
    check<output_shape_does_not_match>(out.extent(1) == Lq, kind, name, out.extent(1), Lq);
    check<output_shape_does_not_match>(out.extent(2) == output_features, kind, name, out.extent(2),
                                       output_features);

    using W = std::remove_cvref_t<Weights>;
    constexpr bool want_weights = !std::is_same_v<W, no_attention_weights>;
    std::size_t weights_scratch = 0;
    if constexpr (want_weights) {
      const auto w = as_view < W::averaged ? 3 : 4 > (weights_in.target);
      static_assert(std::is_same_v<typename decltype(w)::value_type, float>,
                    "attention weights are written as floats");
      const std::array<extent_t, 4> expected{B, heads, Lq, Lk};
      for (std::size_t axis = 0; axis < decltype(w)::rank; ++axis) {
        const extent_t want = expected[W::averaged && axis > 0 ? axis + 1 : axis];
        check<weights_shape_does_not_match>(w.extent(axis) == want, kind, name, w.extent(axis),
                                            want);
      }
      if constexpr (W::averaged) weights_scratch = std::size_t(heads * Lq * Lk);
    }

    kernels::mask_spec spec;
    spec.policy = masked_rows_policy;
    mask.lower(spec, masks::call_extents{B, heads, Lq, Lk, kind, name});
    const auto function_operands = call::bind(p.function_operands, heads, mask);
    call::check(function_operands, {B, heads, Lq, Lk, name});

    using std::size_t;
    using isa = simd::resolve_arch<Arch>;
    const auto b = static_cast<size_t>(B), lq = static_cast<size_t>(Lq),
               lk = static_cast<size_t>(Lk);
    const auto H = static_cast<size_t>(heads), KV = static_cast<size_t>(kv_heads);
    const auto kd = static_cast<size_t>(key_dim_per_head),
               vd = static_cast<size_t>(value_dim_per_head);
    const size_t KW = KV * kd, KVW = KV * vd;

    kernels::attention_operands ops;
    ops.batch = b, ops.heads = H, ops.kv_heads = KV, ops.query_len = lq, ops.key_len = lk;
    ops.key_dim = kd, ops.value_dim = vd;
    ops.key_capacity = kernels::attention_operands::key_capacity_for(lk);
    ops.v_stride = kernels::attention_operands::v_stride_for(vd);

    // The attention output overwrites the projected queries (each task copies its queries to
    // its scratch before writing the same rows and columns back), unless the weights, written
    // afterwards, still need the queries or a head's output is wider than its query.
    constexpr bool in_place = context_in_queries && !want_weights;
    const size_t context_floats = in_place ? 0 : b * lq * context_row_stride;
    const size_t floats = workspace_floats(b, lq, lk, ws.threads()) +
                          (context_in_queries ? context_floats : 0) + weights_scratch;
    float* projected_q = ws.reserve(floats + call::block_map_floats(function_operands));
    const auto functions = call::make(function_operands, projected_q + floats, 0);
    float* staging = projected_q + b * lq * query_row_stride;
    float* kt = staging + kernels::key_value_staging_floats(ws.threads(), KW, KVW);
    float* vt = kt + b * KV * kd * ops.key_capacity;
    float* const vt_end = vt + b * KV * lk * ops.v_stride;
    float* context = in_place ? projected_q : vt_end;
    float* scratch = vt_end + context_floats;
    // Rotary tables for positions [0, max(Lq, Lk)): queries and keys share them. Used before the
    // attention, so the weights' buffer may cover them afterwards.
    float* rotary_cos = scratch + attention_floats(b, lq, ws.threads());
    float* rotary_sin = rotary_cos + std::max(lq, lk) * (rotary_dims / 2);
    if constexpr (rotary)
      kernels::rotary_angles<isa>(rotary_cos, rotary_sin, 0, std::max(lq, lk), rotary_dims,
                                  rotary_option::base);

    const float scale = score_scale_factor();
    kernels::gemm<isa, weight_matrix>(
        ws.pool(),
        {query.data(), static_cast<size_t>(d_model), b * lq, &p.query, bias_of(p.query_bias),
         scale_in_projection(scale), projected_q, query_row_stride, projection_act.kind});
    if constexpr (rotary)
      rotate_queries<isa>(ws.pool(), projected_q, b, lq, rotary_cos, rotary_sin);
    kernels::basic_key_value_projection<weight_matrix> projection{
        key.data(),         static_cast<size_t>(key_features),   &p.key,   bias_of(p.key_bias),
        value.data(),       static_cast<size_t>(value_features), &p.value, bias_of(p.value_bias),
        projection_act.kind};
    if constexpr (rotary) {
      projection.key_cos = rotary_cos, projection.key_sin = rotary_sin;
      projection.rotary_dims = rotary_dims, projection.rotary = rotary_option::pairs;
    }
    kernels::project_keys_and_values<isa, weight_matrix>(ws.pool(), projection, b, ops, kt, vt,
                                                         staging);

    ops.q = projected_q, ops.q_batch = lq * query_row_stride, ops.q_head = kd,
    ops.q_row = query_row_stride;
    ops.q_scale = scale_in_kernel(scale);
    ops.softmax_maths = softmax_maths;
    ops.kt = kt, ops.v = vt;
    ops.out = context, ops.out_batch = lq * context_row_stride, ops.out_head = vd,
    ops.out_row = context_row_stride;
    const std::size_t scratch_per_thread = kernels::attention_scratch_floats(kd, vd);
    kernels::flash_attention<isa>(ws.pool(), ops, spec, scratch, functions);
    kernels::gemm<isa, weight_matrix>(
        ws.pool(), {context, context_row_stride, b * lq, &p.output, bias_of(p.output_bias), 1.0f,
                    out.data(), static_cast<size_t>(output_features), projection_act.kind});

    if constexpr (want_weights)
      write_weights<isa>(ops, spec, weights_in, scratch + ws.threads() * scratch_per_thread,
                         functions);
  }

  // ---- Incremental decoding: a key/value cache ----------------------------------------------
  // The cache holds a sequence's projected keys and values in the attention kernel's layout,
  // `capacity` keys per (batch, head): transposed keys (key_capacity_for(capacity) keys of key_dim,
  // in blocks) and value rows. append_to_cache adds new positions; attend_to_cache runs the new
  // queries against the keys cached so far. The model's decoding calls use these
  // (model/runner.hpp).

  /// Floats of one layer's cache for `batch` sequences of up to `capacity` keys.
  static constexpr std::size_t cache_floats(std::size_t batch, std::size_t capacity) noexcept {
    using O = kernels::attention_operands;
    const auto H = static_cast<std::size_t>(kv_heads);
    return batch * H * static_cast<std::size_t>(key_dim_per_head) * O::key_capacity_for(capacity) +
           batch * H * capacity * O::v_stride_for(static_cast<std::size_t>(value_dim_per_head));
  }

  /// Workspace floats of one append_to_cache or attend_to_cache call for `rows` new positions.
  static constexpr std::size_t cached_workspace_floats(std::size_t batch, std::size_t rows,
                                                       std::size_t threads) noexcept {
    const auto Q = static_cast<std::size_t>(query_width), V = static_cast<std::size_t>(value_width);
    // At least attend_to_cache's padded queries and context (a padded stride adds 16 floats
    // to a width of at least 1024).
    static_assert(query_row_stride + context_row_stride <= 2 * (query_width + value_width));
    return batch * rows * (2 * Q + 2 * V) + attention_floats(batch, rows, threads) +
           rotary_floats(rows);
  }

  /// Projects `count` new key and value rows ((batch, count, key_features) and (batch, count,
  /// value_features), contiguous) and stores them at positions [first, first + count).
  template <class Arch = simd::best_available>
  static void append_to_cache(const parameters& p, const float* key, const float* value,
                              std::size_t batch, std::size_t count, float* cache,
                              std::size_t capacity, std::size_t first, workspace& ws) {
    using isa = simd::resolve_arch<Arch>;
    using O = kernels::attention_operands;
    const auto H = static_cast<std::size_t>(kv_heads);
    const auto kd = static_cast<std::size_t>(key_dim_per_head),
               vd = static_cast<std::size_t>(value_dim_per_head);
    const std::size_t QW = H * kd, VW = H * vd, key_capacity = O::key_capacity_for(capacity);
    if (first + count > capacity)
      throw shape_error(detail::concat(kind, " \"", name, "\": the key/value cache holds ",
                                       std::to_string(capacity), " positions, ",
                                       std::to_string(first + count), " were asked for"));
    float* staging = ws.reserve(cached_workspace_floats(batch, count, ws.threads()));
    float* kt = cache;
    float* v = cache + batch * H * kd * key_capacity;
    kernels::gemm<isa, weight_matrix>(
        ws.pool(), {key, static_cast<std::size_t>(key_features), batch * count, &p.key,
                    bias_of(p.key_bias), 1.0f, staging, QW, projection_act.kind});
    if constexpr (rotary) {
      // The new keys turn by the angles of their positions [first, first + count).
      float* rotary_cos = staging + batch * count * std::max(QW, VW);
      float* rotary_sin = rotary_cos + count * (rotary_dims / 2);
      kernels::rotary_angles<isa>(rotary_cos, rotary_sin, first, count, rotary_dims,
                                  rotary_option::base);
      for (std::size_t b = 0; b < batch; ++b)
        kernels::rotate_rows_in_place<isa>(staging + b * count * QW, count, QW, H, kd, rotary_dims,
                                           rotary_option::pairs, rotary_cos, rotary_sin);
    }
    kernels::append_keys_transposed<isa>(staging, {count * QW, kd, QW}, batch, H, first, count, kd,
                                         kt, key_capacity);
    kernels::gemm<isa, weight_matrix>(
        ws.pool(), {value, static_cast<std::size_t>(value_features), batch * count, &p.value,
                    bias_of(p.value_bias), 1.0f, staging, VW, projection_act.kind});
    kernels::append_values<isa>(staging, {count * VW, vd, VW}, batch, H, first, count, vd, v,
                                O::v_stride_for(vd), capacity * O::v_stride_for(vd));
  }

  /// A query position that says: the new rows are the last `rows` of the `key_len` cached
  /// positions (self-attention, after append_to_cache).
  static constexpr std::size_t appended_rows = static_cast<std::size_t>(-1);

  /// out = attention of `rows` new queries ((batch, rows, d_model), contiguous) over the first
  /// `key_len` cached positions, with `mask` (lowered for Lq = rows, Lk = key_len). The
  /// layer's score and mask functions and its rotary embedding see the new rows at positions
  /// `first_query_position` onwards: by default key_len − rows, as self-attention appended them;
  /// cross-attention passes the decoded positions before them.
  template <class Arch = simd::best_available, class Mask = masks::none>
  static void attend_to_cache(const parameters& p, const float* query, std::size_t batch,
                              std::size_t rows, const float* cache, std::size_t capacity,
                              std::size_t key_len, float* out, workspace& ws, const Mask& mask = {},
                              std::size_t first_query_position = appended_rows) {
    using call = detail::attention_call<variant, Mask>;
    // Named: clang prints the text of a static_assert's condition, here the whole variant.
    constexpr bool all_bound = call::all_bound;
    constexpr bool call_names_are_new = call::call_names_are_new;
    static_assert(
        all_bound,
        "an operand the layer's score or mask function names is bound neither by the layer "
        "(alibi_slopes<operand>, weight_operand<operand, \"weight\">) nor at the call "
        "(expr::call_operands(bind<\"name\">(value)) in the mask's place), or is bound "
        "to data of another element type or rank");
    static_assert(!all_bound || call_names_are_new,
                  "an operand bound at the call has the name of one the layer computes or loads "
                  "(alibi_slopes, weight_operand): the layer's would be used; rename one");
    using isa = simd::resolve_arch<Arch>;
    using O = kernels::attention_operands;
    const auto H = static_cast<std::size_t>(heads);
    const auto kd = static_cast<std::size_t>(key_dim_per_head),
               vd = static_cast<std::size_t>(value_dim_per_head);
    kernels::mask_spec spec;
    spec.policy = masked_rows_policy;
    mask.lower(spec,
               masks::call_extents{static_cast<extent_t>(batch), heads, static_cast<extent_t>(rows),
                                   static_cast<extent_t>(key_len), kind, name});
    kernels::attention_operands ops;
    const auto KV = static_cast<std::size_t>(kv_heads);
    ops.batch = batch, ops.heads = H, ops.kv_heads = KV, ops.query_len = rows,
    ops.key_len = key_len;
    ops.key_dim = kd, ops.value_dim = vd;
    ops.key_capacity = O::key_capacity_for(capacity);
    ops.v_stride = O::v_stride_for(vd);
    ops.v_block = capacity * ops.v_stride;
    if (key_len > capacity)
      throw shape_error(detail::concat(kind, " \"", name, "\": the key/value cache holds ",
                                       std::to_string(capacity), " positions, ",
                                       std::to_string(key_len), " were asked for"));
    if (first_query_position == appended_rows && rows > key_len)
      throw shape_error(detail::concat(kind, " \"", name, "\": ", std::to_string(rows),
                                       " new rows cannot be the last of ", std::to_string(key_len),
                                       " cached positions"));
    const std::size_t first_row =
        first_query_position == appended_rows ? key_len - rows : first_query_position;
    const auto function_operands = call::bind(p.function_operands, heads, mask);
    // The rows' positions run to first_row + rows.
    call::check(function_operands,
                {static_cast<extent_t>(batch), heads, static_cast<extent_t>(first_row + rows),
                 static_cast<extent_t>(key_len), name});
    const std::size_t floats = cached_workspace_floats(batch, rows, ws.threads());
    float* projected_q = ws.reserve(floats + call::block_map_floats(function_operands));
    const auto functions = call::make(function_operands, projected_q + floats, first_row);
    float* context = projected_q + batch * rows * query_row_stride;
    float* scratch = context + batch * rows * context_row_stride;
    const float scale = score_scale_factor();
    kernels::gemm<isa, weight_matrix>(
        ws.pool(),
        {query, static_cast<std::size_t>(d_model), batch * rows, &p.query, bias_of(p.query_bias),
         scale_in_projection(scale), projected_q, query_row_stride, projection_act.kind});
    if constexpr (rotary) {
      float* rotary_cos = scratch + attention_floats(batch, rows, ws.threads());
      float* rotary_sin = rotary_cos + rows * (rotary_dims / 2);
      kernels::rotary_angles<isa>(rotary_cos, rotary_sin, first_row, rows, rotary_dims,
                                  rotary_option::base);
      rotate_queries<isa>(ws.pool(), projected_q, batch, rows, rotary_cos, rotary_sin);
    }
    ops.q = projected_q, ops.q_batch = rows * query_row_stride, ops.q_head = kd,
    ops.q_row = query_row_stride;
    ops.q_scale = scale_in_kernel(scale);
    ops.softmax_maths = softmax_maths;
    ops.kt = cache, ops.v = cache + batch * KV * kd * ops.key_capacity;
    ops.out = context, ops.out_batch = rows * context_row_stride, ops.out_head = vd,
    ops.out_row = context_row_stride;
    kernels::flash_attention<isa>(ws.pool(), ops, spec, scratch, functions);
    kernels::gemm<isa, weight_matrix>(
        ws.pool(), {context, context_row_stride, batch * rows, &p.output, bias_of(p.output_bias),
                    1.0f, out, static_cast<std::size_t>(output_features), projection_act.kind});
  }

 private:
  // ---- Separate projection matrices: query, key, value, output ------------------------------
  static constexpr extent_t separate_inputs[4] = {d_model, key_features, value_features,
                                                  value_width};
  static constexpr extent_t separate_outputs[4] = {query_width, key_width, kv_value_width,
                                                   output_features};
  struct separate_projection_names {
    std::string weight[4], bias[4];
  };
  template <class Naming>
  static separate_projection_names separate_names(Naming, const std::string& prefix) {
    separate_projection_names n;
    if constexpr (keras_multi_head_layout) {
      static_assert(std::is_same_v<Naming, naming::keras_t>,
                    "keras-multi-head weights have Keras names only: load with naming::keras");
      const std::string base = prefix + std::string(name) + "_";
      const char* letters[4] = {"q", "k", "v", "o"};
      for (std::size_t m = 0; m < 4; ++m) {
        n.weight[m] = base + "W" + letters[m];
        n.bias[m] = base + "b" + letters[m];
      }
    } else {
      using names = typename option_type<option_kinds::weight_layout, void, Options...>::type;
      constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
      for (std::size_t m = 0; m < 4; ++m) {
        const std::string scope = prefix + std::string(names::names[m]) + Naming::separator;
        n.weight[m] = scope + (torch ? "weight" : "kernel");
        n.bias[m] = scope + "bias";
      }
    }
    return n;
  }

  /// Rotates the projected queries (`batch` × `len` rows of query_row_stride; row i at the
  /// position of table row i) on every thread of `pool`.
  template <class Arch>
  static void rotate_queries(thread_pool& pool, float* q, std::size_t batch, std::size_t len,
                             const float* cos_table, const float* sin_table) noexcept {
    const std::size_t rows = batch * len, half = rotary_dims / 2;
    pool.parallel_for(rows, std::max<std::size_t>(16, rows / (4 * pool.size())),
                      [&](std::size_t first, std::size_t last, std::size_t) {
                        for (std::size_t r = first; r < last;) {
                          const std::size_t i = r % len, n = std::min(last - r, len - i);
                          kernels::rotate_rows_in_place<Arch>(
                              q + r * query_row_stride, n, query_row_stride,
                              static_cast<std::size_t>(heads),
                              static_cast<std::size_t>(key_dim_per_head), rotary_dims,
                              rotary_option::pairs, cos_table + i * half, sin_table + i * half);
                          r += n;
                        }
                      });
  }

  /// The declared score_scale policy's factor.
  static float score_scale_factor() noexcept {
    switch (score_scaling_policy) {
      case score_scaling::per_head_key_dim:
        return 1.0f / std::sqrt(static_cast<float>(key_dim_per_head));
      case score_scaling::total_key_width:
        return 1.0f / std::sqrt(static_cast<float>(heads * key_dim_per_head));
      case score_scaling::none:
        return 1.0f;
    }
    return 1.0f;
  }
  // Without a projection activation the scale is folded into the query projection's store, as
  // PyTorch and Keras scale the projected query; after an activation it must follow it, so the
  // attention kernel applies it to the scores.
  static constexpr float scale_in_projection(float scale) noexcept {
    return projection_act == activations::linear ? scale : 1.0f;
  }
  static constexpr float scale_in_kernel(float scale) noexcept {
    return projection_act == activations::linear ? 1.0f : scale;
  }

  static const float* bias_of(const std::vector<float>& values) noexcept {
    return values.empty() ? nullptr : values.data();
  }

  /// Whether the attention output can take the place of the projected queries: a head's output
  /// row then covers exactly its query row.
  static constexpr bool context_in_queries = key_dim_per_head == value_dim_per_head;

  // Extents were checked by forward. Averaged weights go through `head_buffer`
  // (heads·Lq·Lk floats of the workspace), one batch entry at a time.
  template <class Arch, class Weights, class Functions>
  static void write_weights(const kernels::attention_operands& ops, const kernels::mask_spec& spec,
                            Weights& weights_in, float* head_buffer, const Functions& f) noexcept {
    using W = std::remove_cvref_t<Weights>;
    if constexpr (W::averaged) {
      const auto w = as_view<3>(weights_in.target);
      const std::size_t n = ops.query_len * ops.key_len;
      for (std::size_t b = 0; b < ops.batch; ++b) {
        kernels::attention_probabilities<Arch>(ops, spec, head_buffer, f, b, b + 1);
        float* dst = w.data() + b * n;
        for (std::size_t e = 0; e < n; ++e) {
          float sum = 0.0f;
          for (std::size_t h = 0; h < ops.heads; ++h) sum += head_buffer[h * n + e];
          dst[e] = sum / static_cast<float>(ops.heads);
        }
      }
    } else {
      kernels::attention_probabilities<Arch>(ops, spec, as_view<4>(weights_in.target).data(), f);
    }
  }

  static bool fits(const parameters& p) noexcept {
    const auto n = [](extent_t e) { return static_cast<std::size_t>(e); };
    const bool matrices =
        p.query.inputs() == n(d_model) && p.query.outputs() == n(query_width) &&
        p.key.inputs() == n(key_features) && p.key.outputs() == n(key_width) &&
        p.value.inputs() == n(value_features) && p.value.outputs() == n(kv_value_width) &&
        p.output.inputs() == n(value_width) && p.output.outputs() == n(output_features);
    const std::size_t on = has_bias ? 1 : 0;
    return matrices && variant::operands::fit(p.function_operands, heads) &&
           p.query_bias.size() == on * n(query_width) && p.key_bias.size() == on * n(key_width) &&
           p.value_bias.size() == on * n(kv_value_width) &&
           p.output_bias.size() == on * n(output_features);
  }
};

template <fixed_string Name, class... Options, extent_t Width>
struct bind_input_width<multi_head_attention<Name, Options...>, Width> {
  using type = detail::bound_layer<has_dim_v<dims::d_model, Options...>,
                                   multi_head_attention<Name, Options...>,
                                   multi_head_attention<Name, Options..., dims::d_model<Width>>>;
};
namespace detail {
template <fixed_string Name, class... Options>
struct declaration_problem<multi_head_attention<Name, Options...>> {
  using type = typename multi_head_declaration<layer_name_of<Name>, Options...>::problem;
  static constexpr extent_t width =
      multi_head_declaration<layer_name_of<Name>, Options...>::d_model;
};
}  // namespace detail

}  // namespace typeformer
