#pragma once
// layer_norm<"name", d_model<d>, epsilon<m, e>?>: PyTorch nn.LayerNorm(d) and Keras
// LayerNormalization over the last axis, with learned scale and shift.
//
// The epsilon differs between frameworks (PyTorch 1e-5, Keras 1e-3); undeclared, it is the
// default of the framework whose names the weights are loaded by.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/core/weight_source.hpp>
#include <typeformer/kernels/layer_norm.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/input_width.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/layers/width_preserving.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

template <fixed_string Name, class... Options>
struct layer_norm {
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "layer_norm";
  static constexpr std::string_view name = Name.view();
  static constexpr extent_t d_model = extent_of_v<dims::d_model, 0, Options...>;
  /// Declared, or bound by a model (model/binding.hpp). Checked where the layer is used, not
  /// here: a model's declaration names its layers before it gives them their width.
  static constexpr bool has_d_model = d_model > 0;
  static constexpr void require_d_model() noexcept {
    detail::require_declared_width<name_type, d_model>();
  }
  /// The declared epsilon, or a negative value: "the framework's default".
  static constexpr double declared_epsilon = option_value<option_kinds::epsilon, Options...>(-1.0);
  static constexpr extent_t input_width = d_model;
  static constexpr extent_t output_width = d_model;
  static constexpr extent_t parameter_count = 2 * d_model;

  struct parameters {
    std::vector<float> gamma, beta;
    float epsilon = 0.0f;
  };

  template <class Naming>
  static constexpr double default_epsilon(Naming) {
    return std::is_same_v<Naming, naming::pytorch_t> ? 1e-5 : 1e-3;
  }

  template <class Naming>
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
    require_d_model();
    const std::vector<std::int64_t> shape{d_model};
    if constexpr (std::is_same_v<Naming, naming::pytorch_t>)
      return {{prefix + "weight", shape}, {prefix + "bias", shape}};
    else
      return {{prefix + "gamma", shape}, {prefix + "beta", shape}};
  }

  template <class Naming, class Get>
  static parameters from_weights(Naming naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
    const auto read = checked_weights<layer_norm>(naming, get, prefix);
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    parameters p;
    p.gamma = read(prefix + (torch ? "weight" : "gamma"));
    p.beta = read(prefix + (torch ? "bias" : "beta"));
    p.epsilon =
        static_cast<float>(declared_epsilon >= 0 ? declared_epsilon : default_epsilon(naming));
    return p;
  }

  /// y = layer_norm(x) over the last axis of (batch, length, d_model) inputs; y may be x.
  template <class Arch = simd::best_available, class In, class Out>
  static void forward(const parameters& p, const In& in, Out&& out_in, workspace& ws) {
    require_d_model();
    const auto x = as_view<3>(in);
    const auto y = as_view<3>(out_in);
    detail::check_width_preserving<layer_norm>(x, y);
    forward_rows<Arch>(p, x.data(), nullptr, y.data(),
                       static_cast<std::size_t>(x.extent(0) * x.extent(1)), ws);
  }

  /// y = layer_norm(x + residual) over `rows` contiguous rows of d_model floats (residual may
  /// be null); the model's residual blocks call this with extents they have already checked.
  template <class Arch = simd::best_available>
  static void forward_rows(const parameters& p, const float* x, const float* residual, float* y,
                           std::size_t rows, workspace& ws) {
    const auto d = static_cast<std::size_t>(d_model);
    kernels::layer_norm_args args{x, d, d, p.gamma.data(), p.beta.data(), p.epsilon, y, d};
    args.residual = residual;
    args.ld_residual = d;
    ws.pool().parallel_for(rows, std::max<std::size_t>(1, rows / (4 * ws.threads())),
                           [&](std::size_t first, std::size_t last, std::size_t) {
                             kernels::layer_norm<simd::resolve_arch<Arch>>(args, first, last);
                           });
  }
};

template <fixed_string Name, class... Options, extent_t Width>
struct bind_input_width<layer_norm<Name, Options...>, Width> {
  using type =
      detail::bound_layer<has_dim_v<dims::d_model, Options...>, layer_norm<Name, Options...>,
                          layer_norm<Name, Options..., dims::d_model<Width>>>;
};

}  // namespace typeformer
