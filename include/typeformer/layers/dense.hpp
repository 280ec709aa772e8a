#pragma once
// dense<"name", units, activation, d_model<in>?, use_bias<b>?, weights_stored_as<f>?>:
// y = act(x·W + b) over the last axis, Keras Dense(units, activation) and PyTorch
// nn.Linear(in, units) followed by the activation. The input width is declared (d_model<in>) or
// taken from the layer before it.
//
// Weights: Keras `name/kernel` (in, units) and `name/bias` (units); PyTorch `name.weight`
// (units, in) and `name.bias`. Both are packed once at load time, without a transposed copy.
// Bias and element-wise activations are fused into the GEMM's store; softmax runs over each
// row after it.

#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/core/weight_source.hpp>
#include <typeformer/kernels/gemm.hpp>
#include <typeformer/kernels/softmax.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/activations.hpp>
#include <typeformer/layers/input_width.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

// dense's name and units take what a Keras user writes by habit, so that a declaration missing
// its name (`dense<64, relu>`, Dense(64, activation="relu")) or its units (`dense<"out", relu>`)
// still forms a type and the layer's own rule names the mistake: a type that fails to form makes
// every later use of the model's alias an error as well (g++: 11 errors, 81 lines). Only dense
// does this: other layers' names stay plain fixed_strings, which take no number.

/// dense's name: a string literal, or a number (the name forgotten), which gives an empty name.
template <std::size_t N>
struct dense_name : fixed_string<N> {
  // Not an inherited constructor: g++ 12 then reports it "used before its definition" when a
  // name is written inside a function template.
  constexpr dense_name(const char (&text)[N + 1]) noexcept : fixed_string<N>(text) {}
  template <std::integral Number>
  requires(N == 0) constexpr dense_name(Number) noexcept : fixed_string<N>("") {}
  /// As the fixed_string other templates take (a converted constant expression does not
  /// convert to a base class).
  constexpr fixed_string<N> text() const noexcept { return *this; }
};
template <std::size_t N>
dense_name(const char (&)[N]) -> dense_name<N - 1>;
template <std::integral Number>
dense_name(Number) -> dense_name<0>;

/// dense's units: a count, or an activation (the units forgotten).
struct dense_units {
  extent_t count = 0;
  bool activation_given = false;
  constexpr dense_units(extent_t units) noexcept : count{units} {}
  constexpr dense_units(activation_function) noexcept : activation_given{true} {}
};

namespace detail {
template <dense_name Name, dense_units Units>
using dense_problem = first_problem<
    diagnostics::require<(Name.size() > 0), diagnostics::a_layer_name_comes_first<
                                                layer_name<'d', 'e', 'n', 's', 'e'>, 0, 0>>,
    diagnostics::require<!Units.activation_given, diagnostics::units_come_before_the_activation<
                                                      layer_name_of<Name.text()>, 0, 0>>,
    diagnostics::require<
        (Units.count > 0 || Units.activation_given),
        diagnostics::units_must_be_positive<layer_name_of<Name.text()>, Units.count, 0>>>;
}  // namespace detail

template <dense_name Name, dense_units Units, activation_function Act = activations::linear,
          class... Options>
struct dense {
  using name_type = layer_name_of<Name.text()>;
  static constexpr std::string_view kind = "dense";
  static constexpr std::string_view name = Name.view();
  static constexpr extent_t d_model = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr extent_t units = Units.count;
  static constexpr activation_function act = Act;
  static constexpr bool has_bias = option_value<option_kinds::use_bias, Options...>(true);
  /// Declared, or bound by a model: checked where the layer is used (see layer_norm).
  static constexpr bool has_d_model = d_model > 0;
  static constexpr void require_d_model() noexcept {
    detail::require_declared_width<name_type, d_model>();
  }
  // Checked here when the layer is used on its own; a model checks it from the arguments
  // (declaration_problem below) without instantiating the layer.
  static_assert(detail::dense_problem<Name, Units>::rule_holds);
  /// After that error, a call checks nothing against the broken declaration (no second error).
  static constexpr bool declaration_holds =
      std::is_same_v<detail::dense_problem<Name, Units>, diagnostics::passed>;
  static constexpr extent_t input_width = d_model;
  static constexpr extent_t output_width = units;
  static constexpr extent_t parameter_count = d_model * units + (has_bias ? units : 0);
  using weight_matrix = weight_matrix_for<Options...>;

  struct parameters {
    weight_matrix kernel;
    std::vector<float> bias;  // empty without use_bias
  };

  template <class Naming>
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
    require_d_model();
    using S = std::vector<std::int64_t>;
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    std::vector<weight_spec> out{
        {prefix + (torch ? "weight" : "kernel"), torch ? S{units, d_model} : S{d_model, units}}};
    if (has_bias) out.push_back({prefix + "bias", S{units}});
    return out;
  }

  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
    const auto read = checked_weights<dense>(Naming{}, get, prefix);
    require_d_model();
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    const auto in = static_cast<std::size_t>(d_model), out = static_cast<std::size_t>(units);
    const std::vector<float> w = read(prefix + (torch ? "weight" : "kernel"));
    parameters p;
    p.kernel = weight_matrix::pack(
        [&](std::size_t k, std::size_t n) { return torch ? w[n * in + k] : w[k * out + n]; }, in,
        out);
    if (has_bias) p.bias = read(prefix + "bias");
    return p;
  }

  /// y = act(x·W + b) for (batch, length, d_model) x and (batch, length, units) y, which must
  /// not alias.
  template <class Arch = simd::best_available, class In, class Out>
  static void forward(const parameters& p, const In& in, Out&& out_in, workspace& ws) {
    require_d_model();
    using namespace diagnostics;
    const auto x = as_view<3>(in);
    const auto y = as_view<3>(out_in);
    constexpr auto xs = decltype(x)::static_extents;
    constexpr auto ys = decltype(y)::static_extents;
    static_assert(require < !declaration_holds || extents_may_agree(xs[2], d_model),
                  input_features_do_not_match_d_model < name_type, xs[2], d_model >> ::rule_holds);
    static_assert(require < !declaration_holds || extents_may_agree(ys[2], units),
                  output_shape_does_not_match < name_type, ys[2], units >> ::rule_holds);
    check<input_features_do_not_match_d_model>(x.extent(2) == d_model, kind, name, x.extent(2),
                                               d_model);
    for (std::size_t axis = 0; axis < 2; ++axis)
      check<output_shape_does_not_match>(y.extent(axis) == x.extent(axis), kind, name,
                                         y.extent(axis), x.extent(axis));
    check<output_shape_does_not_match>(y.extent(2) == units, kind, name, y.extent(2), units);
    forward_rows<Arch>(p, x.data(), y.data(), static_cast<std::size_t>(x.extent(0) * x.extent(1)),
                       ws);
  }

  /// The same over `rows` contiguous rows whose extents the caller has checked.
  template <class Arch = simd::best_available>
  static void forward_rows(const parameters& p, const float* x, float* y, std::size_t rows,
                           workspace& ws) {
    using isa = simd::resolve_arch<Arch>;
    const auto in = static_cast<std::size_t>(d_model), out = static_cast<std::size_t>(units);
    kernels::basic_gemm_args<weight_matrix> args{
        x, in, rows, &p.kernel, has_bias ? p.bias.data() : nullptr, 1.0f, y, out};
    args.act = is_element_wise(act) ? act.kind : kernels::activation::identity;
    kernels::gemm<isa>(ws.pool(), args);
    if constexpr (act == activations::softmax) kernels::softmax_rows<isa>(y, rows, out, out);
  }
};

template <dense_name Name, dense_units Units, activation_function Act, class... Options,
          extent_t InputWidth>
struct bind_input_width<dense<Name, Units, Act, Options...>, InputWidth> {
  using type =
      detail::bound_layer<has_dim_v<dims::d_model, Options...>, dense<Name, Units, Act, Options...>,
                          dense<Name, Units, Act, Options..., dims::d_model<InputWidth>>>;
};
namespace detail {
template <dense_name Name, dense_units Units, activation_function Act, class... Options>
struct declaration_problem<dense<Name, Units, Act, Options...>> {
  using type = dense_problem<Name, Units>;
  static constexpr extent_t width = extent_of_v<dims::d_model, 0, Options...>;
};
}  // namespace detail

}  // namespace typeformer
