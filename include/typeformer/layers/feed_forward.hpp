#pragma once
// feed_forward<"name", width, activation, d_model<d>>: y = act(x·W1 + b1)·W2 + b2, the
// position-wise feed-forward block of a transformer layer (PyTorch's linear1 → activation →
// linear2, dim_feedforward = width). Bias and activation are fused into the first GEMM's store.
//
// PyTorch names come from the transformer layer, not from this block's name:
// `linear1.weight` (width, d), `linear1.bias`, `linear2.weight` (d, width), `linear2.bias`.
// Keras has no standard layer for this block; Keras names follow a Sequential of two Dense
// layers: `dense/kernel` (d, width), `dense/bias`, `dense_1/kernel` (width, d), `dense_1/bias`.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/core/weight_source.hpp>
#include <typeformer/kernels/activation.hpp>
#include <typeformer/kernels/gemm.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/activations.hpp>
#include <typeformer/layers/input_width.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/layers/width_preserving.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

namespace detail {
/// The declaration rules of feed_forward, from its arguments alone.
template <class NameType, extent_t Width, activation_function Act>
using feed_forward_problem = first_problem<
    diagnostics::require<(Width > 0), diagnostics::d_model_must_be_positive<NameType, Width, 0>>,
    diagnostics::require<is_element_wise(Act),
                         diagnostics::activation_must_be_element_wise<NameType, 0, 0>>>;
}  // namespace detail

template <fixed_string Name, extent_t Width, activation_function Act, class... Options>
struct feed_forward {
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "feed_forward";
  static constexpr std::string_view name = Name.view();
  static constexpr extent_t d_model = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr extent_t width = Width;
  static constexpr activation_function act = Act;
  /// Declared, or bound by a model (model/binding.hpp). Checked where the layer is used, not
  /// here: a model's declaration names its layers before it gives them their width.
  static constexpr bool has_d_model = d_model > 0;
  static constexpr void require_d_model() noexcept {
    detail::require_declared_width<name_type, d_model>();
  }
  // The layer's own rules, checked when the type is used on its own (a model checks them from
  // the arguments: declaration_problem below).
  static_assert(detail::feed_forward_problem<name_type, Width, Act>::rule_holds);
  static constexpr extent_t input_width = d_model;
  static constexpr extent_t output_width = d_model;
  static constexpr extent_t parameter_count = 2 * d_model * width + width + d_model;
  using weight_matrix = weight_matrix_for<Options...>;

  /// Where this block's tensors live below the enclosing scope: PyTorch's transformer layers
  /// hold `linear1`/`linear2` directly, so the block adds no scope of its own there.
  template <class Naming>
  static std::string path_segment(Naming) {
    if constexpr (std::is_same_v<Naming, naming::pytorch_t>)
      return {};
    else
      return std::string(name) + Naming::separator;
  }

  struct parameters {
    weight_matrix first, second;
    std::vector<float> first_bias, second_bias;
  };

  template <class Naming>
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
    require_d_model();
    using S = std::vector<std::int64_t>;
    if constexpr (std::is_same_v<Naming, naming::pytorch_t>)
      return {{prefix + "linear1.weight", S{width, d_model}},
              {prefix + "linear1.bias", S{width}},
              {prefix + "linear2.weight", S{d_model, width}},
              {prefix + "linear2.bias", S{d_model}}};
    else
      return {{prefix + "dense/kernel", S{d_model, width}},
              {prefix + "dense/bias", S{width}},
              {prefix + "dense_1/kernel", S{width, d_model}},
              {prefix + "dense_1/bias", S{d_model}}};
  }

  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
    const auto read = checked_weights<feed_forward>(Naming{}, get, prefix);
    require_d_model();
    const auto d = static_cast<std::size_t>(d_model), w = static_cast<std::size_t>(width);
    parameters p;
    auto pack = [](const std::vector<float>& m, std::size_t in, std::size_t out, bool out_in) {
      return weight_matrix::pack(
          [&](std::size_t k, std::size_t n) { return out_in ? m[n * in + k] : m[k * out + n]; }, in,
          out);
    };
    if constexpr (std::is_same_v<Naming, naming::pytorch_t>) {
      p.first = pack(read(prefix + "linear1.weight"), d, w, true);
      p.first_bias = read(prefix + "linear1.bias");
      p.second = pack(read(prefix + "linear2.weight"), w, d, true);
      p.second_bias = read(prefix + "linear2.bias");
    } else {
      p.first = pack(read(prefix + "dense/kernel"), d, w, false);
      p.first_bias = read(prefix + "dense/bias");
      p.second = pack(read(prefix + "dense_1/kernel"), w, d, false);
      p.second_bias = read(prefix + "dense_1/bias");
    }
    return p;
  }

  /// Row stride of the hidden activations, which the second GEMM reads as its x.
  static constexpr std::size_t hidden_stride =
      kernels::gemm_input_stride(static_cast<std::size_t>(width));

  static constexpr std::size_t workspace_floats(std::size_t rows) noexcept {
    return rows * hidden_stride;
  }

  /// y = feed_forward(x) for (batch, length, d_model) inputs. y must not alias x.
  template <class Arch = simd::best_available, class In, class Out>
  static void forward(const parameters& p, const In& in, Out&& out_in, workspace& ws) {
    require_d_model();
    const auto x = as_view<3>(in);
    const auto y = as_view<3>(out_in);
    detail::check_width_preserving<feed_forward>(x, y);
    using isa = simd::resolve_arch<Arch>;
    const auto rows = static_cast<std::size_t>(x.extent(0) * x.extent(1));
    const auto d = static_cast<std::size_t>(d_model);
    float* hidden = ws.reserve(workspace_floats(rows));
    kernels::basic_gemm_args<weight_matrix> first{
        x.data(), d, rows, &p.first, p.first_bias.data(), 1.0f, hidden, hidden_stride};
    first.act = act.kind;
    kernels::gemm<isa>(ws.pool(), first);
    kernels::gemm<isa, weight_matrix>(ws.pool(), {hidden, hidden_stride, rows, &p.second,
                                                  p.second_bias.data(), 1.0f, y.data(), d});
  }
};

template <fixed_string Name, extent_t Width, activation_function Act, class... Options,
          extent_t InputWidth>
struct bind_input_width<feed_forward<Name, Width, Act, Options...>, InputWidth> {
  using type =
      detail::bound_layer<has_dim_v<dims::d_model, Options...>,
                          feed_forward<Name, Width, Act, Options...>,
                          feed_forward<Name, Width, Act, Options..., dims::d_model<InputWidth>>>;
};
namespace detail {
template <fixed_string Name, extent_t Width, activation_function Act, class... Options>
struct declaration_problem<feed_forward<Name, Width, Act, Options...>> {
  using type = feed_forward_problem<layer_name_of<Name>, Width, Act>;
  static constexpr extent_t width = extent_of_v<dims::d_model, 0, Options...>;
};
}  // namespace detail

}  // namespace typeformer
