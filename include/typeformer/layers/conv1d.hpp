#pragma once
// conv1d<"name", filters, kernel_size, Options...>: Keras Conv1D(filters, kernel_size) on
// channels-last sequences (batch, length, channels) and PyTorch nn.Conv1d's weights.
//
//   y[b, t, f] = act(bias[f] + Σ_k Σ_c x[b, t·s − left + k·d, c] · W[k, c, f])
// with stride s (strides<s>), dilation d (dilation_rate<d>) and zeros outside the input.
// Padding (padding<...>), with K the kernel size and L the input length:
//   valid   no padding; output length ⌊(L − d(K−1) − 1)/s⌋ + 1 (0 when the input is shorter)
//   same    Keras's: ⌈L/s⌉ outputs; pads max((⌈L/s⌉−1)·s + d(K−1) + 1 − L, 0) zeros in total,
//           the odd one on the right. With s = 1 this is PyTorch's padding="same", which
//           rejects s > 1; with s > 1 it is not d(K−1).
//   causal  d(K−1) zeros on the left only; ⌈L/s⌉ outputs.
//
// Weights: Keras `name/kernel` (K, channels, filters), `name/bias` (filters); PyTorch
// `name.weight` (filters, channels, K), `name.bias`. Packed at load as one (K·channels,
// filters) matrix: with d = 1 the K input rows an output reads are contiguous in a
// channels-last sequence, so each batch row is one GEMM over the (zero-padded) input with row
// stride s·channels and no im2col copy; d > 1 gathers the rows first.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
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
#include <typeformer/tensor/view.hpp>

namespace typeformer {

enum class conv_padding { valid, same, causal };

namespace option_kinds {
struct strides {};
struct dilation_rate {};
struct padding {};
}  // namespace option_kinds

/// The step between the positions a convolution reads (Keras strides, PyTorch stride).
template <extent_t S>
struct strides {
  using kind = option_kinds::strides;
  static constexpr extent_t value = S;
};
/// The step between the kernel's taps (Keras dilation_rate, PyTorch dilation).
template <extent_t D>
struct dilation_rate {
  using kind = option_kinds::dilation_rate;
  static constexpr extent_t value = D;
};
/// How a convolution pads its input; see conv1d.
template <conv_padding P>
struct padding {
  using kind = option_kinds::padding;
  static constexpr conv_padding value = P;
};

namespace detail {
/// The declaration rules of conv1d, from its arguments alone: a model checks them without
/// instantiating the layer (model/block.hpp's block_of).
template <class NameType, extent_t Filters, extent_t KernelSize, class... Options>
struct conv1d_declaration {
  static constexpr extent_t stride = option_value<option_kinds::strides, Options...>(extent_t{1});
  static constexpr extent_t dilation =
      option_value<option_kinds::dilation_rate, Options...>(extent_t{1});
  static constexpr activation_function act =
      option_value<option_kinds::activation, Options...>(activations::linear);
  using problem = first_problem<
      diagnostics::require<(Filters > 0),
                           diagnostics::units_must_be_positive<NameType, Filters, 0>>,
      diagnostics::require<(KernelSize > 0 && stride > 0 && dilation > 0),
                           diagnostics::convolution_steps_must_be_positive<
                               NameType, KernelSize, (stride < dilation ? stride : dilation)>>,
      diagnostics::require<is_element_wise(act),
                           diagnostics::activation_must_be_element_wise<NameType, 0, 0>>>;
};
}  // namespace detail

template <fixed_string Name, extent_t Filters, extent_t KernelSize, class... Options>
struct conv1d {
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "conv1d";
  static constexpr std::string_view name = Name.view();
  static constexpr extent_t d_model = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr extent_t filters = Filters;
  static constexpr extent_t kernel_size = KernelSize;
  static constexpr extent_t stride = option_value<option_kinds::strides, Options...>(extent_t{1});
  static constexpr extent_t dilation =
      option_value<option_kinds::dilation_rate, Options...>(extent_t{1});
  static constexpr conv_padding pad =
      option_value<option_kinds::padding, Options...>(conv_padding::valid);
  static constexpr activation_function act =
      option_value<option_kinds::activation, Options...>(activations::linear);
  static constexpr bool has_bias = option_value<option_kinds::use_bias, Options...>(true);
  static constexpr bool has_d_model = d_model > 0;
  static constexpr void require_d_model() noexcept {
    detail::require_declared_width<name_type, d_model>();
  }
  // The layer's own rules, checked when the type is used on its own (a model checks them from
  // the arguments: declaration_problem below).
  static_assert(
      detail::conv1d_declaration<name_type, Filters, KernelSize, Options...>::problem::rule_holds);
  /// After that error, a call checks nothing against the broken declaration (no second error).
  static constexpr bool declaration_holds = std::is_same_v<
      typename detail::conv1d_declaration<name_type, Filters, KernelSize, Options...>::problem,
      diagnostics::passed>;
  static constexpr extent_t input_width = d_model;
  static constexpr extent_t output_width = filters;
  static constexpr extent_t parameter_count =
      kernel_size * d_model * filters + (has_bias ? filters : 0);
  /// How far apart the first and last input an output reads are, plus one.
  static constexpr extent_t span = dilation * (kernel_size - 1) + 1;
  // Inside a model (model/block.hpp).
  static constexpr bool mixes_positions = true;
  /// Keras's Conv1D does not support masking: a propagated mask stops here (Keras 2 raises).
  static constexpr bool propagates_mask = false;
  static constexpr bool keeps_sequence_shape =
      stride == 1 && (pad != conv_padding::valid || span == 1);

  /// Outputs for `length` inputs (dynamic for a dynamic length).
  static constexpr extent_t output_length(extent_t length) noexcept {
    if (length == dynamic) return dynamic;
    if constexpr (stride < 1)
      return 0;  // a broken declaration (its error is the layer's)
    else if constexpr (pad == conv_padding::valid)
      return length < span ? 0 : (length - span) / stride + 1;
    else
      return (length + stride - 1) / stride;
  }
  /// Zeros before the first input.
  static constexpr extent_t left_padding(extent_t length) noexcept {
    if constexpr (pad == conv_padding::valid)
      return 0;
    else if constexpr (pad == conv_padding::causal)
      return span - 1;
    else
      return total_same_padding(length) / 2;
  }
  /// Keras "same": the padding that makes ⌈L/s⌉ windows fit.
  static constexpr extent_t total_same_padding(extent_t length) noexcept {
    const extent_t needed = (output_length(length) - 1) * stride + span - length;
    return needed > 0 ? needed : 0;
  }

  struct parameters {
    kernels::packed_matrix kernel;  // (K·channels, filters), tap-major
    std::vector<float> bias;        // empty without use_bias
  };

  template <class Naming>
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
    require_d_model();
    using S = std::vector<std::int64_t>;
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    std::vector<weight_spec> out{
        {prefix + (torch ? "weight" : "kernel"),
         torch ? S{filters, d_model, kernel_size} : S{kernel_size, d_model, filters}}};
    if (has_bias) out.push_back({prefix + "bias", S{filters}});
    return out;
  }

  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
    const auto read = checked_weights<conv1d>(Naming{}, get, prefix);
    require_d_model();
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    const auto c = static_cast<std::size_t>(d_model), f = static_cast<std::size_t>(filters),
               k = static_cast<std::size_t>(kernel_size);
    const std::vector<float> w = read(prefix + (torch ? "weight" : "kernel"));
    parameters p;
    // Row r = tap·channels + channel of the packed matrix.
    p.kernel = kernels::packed_matrix::pack(
        [&](std::size_t r, std::size_t n) {
          const std::size_t tap = r / c, ch = r % c;
          return torch ? w[(n * c + ch) * k + tap] : w[r * f + n];
        },
        k * c, f);
    if (has_bias) p.bias = read(prefix + "bias");
    return p;
  }

  /// Scratch floats of one batch row of `length` inputs.
  static constexpr std::size_t row_floats(std::size_t length) noexcept {
    const auto c = static_cast<std::size_t>(d_model);
    const auto n = static_cast<extent_t>(length);
    if constexpr (dilation == 1) {
      if (pad == conv_padding::valid) return 0;  // reads the input in place
      // The padded copy, with room for the last window's stride step.
      return static_cast<std::size_t>(n + span + stride) * c;
    } else {
      return static_cast<std::size_t>(output_length(n)) * static_cast<std::size_t>(kernel_size) * c;
    }
  }
  static constexpr std::size_t workspace_floats(std::size_t batch, std::size_t length) noexcept {
    return batch * row_floats(length);
  }

  /// x (batch, length, d_model) → y (batch, output_length(length), filters); y must not
  /// alias x.
  template <class Arch = simd::best_available, class In, class Out>
  static void forward(const parameters& p, const In& in, Out&& out_in, workspace& ws) {
    require_d_model();
    using namespace diagnostics;
    const auto x = as_view<3>(in);
    const auto y = as_view<3>(out_in);
    constexpr auto xs = decltype(x)::static_extents;
    constexpr auto ys = decltype(y)::static_extents;
    if constexpr (declaration_holds) {
      static_assert(
          require<extents_may_agree(xs[2], d_model),
                  input_features_do_not_match_d_model<name_type, xs[2], d_model>>::rule_holds);
      static_assert(require<extents_may_agree(ys[2], filters),
                            output_shape_does_not_match<name_type, ys[2], filters>>::rule_holds);
      static_assert(
          require<extents_may_agree(ys[1], output_length(xs[1])),
                  output_shape_does_not_match<name_type, ys[1], output_length(xs[1])>>::rule_holds);
    }
    check<input_features_do_not_match_d_model>(x.extent(2) == d_model, kind, name, x.extent(2),
                                               d_model);
    const std::array<extent_t, 3> want = {x.extent(0), output_length(x.extent(1)), filters};
    for (std::size_t a = 0; a < 3; ++a)
      check<output_shape_does_not_match>(y.extent(a) == want[a], kind, name, y.extent(a), want[a]);
    const auto batch = static_cast<std::size_t>(x.extent(0)),
               length = static_cast<std::size_t>(x.extent(1));
    float* scratch = ws.reserve(workspace_floats(batch, length));
    run<Arch>(p, x.data(), y.data(), batch, length, scratch, &ws.pool());
  }

  /// Rows of `batch` sequences of `length` inputs whose extents the caller has checked;
  /// `scratch` holds workspace_floats(batch, length) floats, `pool` may be null (one thread).
  template <class Arch = simd::best_available>
  static void run(const parameters& p, const float* x, float* y, std::size_t batch,
                  std::size_t length, float* scratch, thread_pool* pool) noexcept {
    using isa = simd::resolve_arch<Arch>;
    const auto c = static_cast<std::size_t>(d_model), f = static_cast<std::size_t>(filters);
    const auto outputs = static_cast<std::size_t>(output_length(static_cast<extent_t>(length)));
    if (outputs == 0) return;
    const auto left = static_cast<std::size_t>(left_padding(static_cast<extent_t>(length)));
    const auto s = static_cast<std::size_t>(stride), d = static_cast<std::size_t>(dilation),
               taps = static_cast<std::size_t>(kernel_size);
    for (std::size_t b = 0; b < batch; ++b) {
      const float* xb = x + b * length * c;
      float* rows = scratch + b * row_floats(length);
      const float* gemm_input = rows;
      std::size_t ldx = s * c;
      if constexpr (dilation == 1) {
        if constexpr (pad == conv_padding::valid) {
          gemm_input = xb;
        } else {
          const std::size_t padded = row_floats(length) / c;
          std::fill(rows, rows + left * c, 0.0f);
          std::memcpy(rows + left * c, xb, length * c * sizeof(float));
          std::fill(rows + (left + length) * c, rows + padded * c, 0.0f);
        }
      } else {
        // Gather each output's taps into one row: (outputs, K·channels).
        ldx = taps * c;
        for (std::size_t t = 0; t < outputs; ++t)
          for (std::size_t k = 0; k < taps; ++k) {
            const auto at =
                static_cast<std::ptrdiff_t>(t * s + k * d) - static_cast<std::ptrdiff_t>(left);
            float* to = rows + (t * taps + k) * c;
            if (at < 0 || at >= static_cast<std::ptrdiff_t>(length))
              std::fill(to, to + c, 0.0f);
            else
              std::memcpy(to, xb + static_cast<std::size_t>(at) * c, c * sizeof(float));
          }
      }
      kernels::gemm_args args{
          gemm_input,          ldx, outputs, &p.kernel, has_bias ? p.bias.data() : nullptr, 1.0f,
          y + b * outputs * f, f};
      args.act = act.kind;
      if (pool)
        kernels::gemm<isa>(*pool, args);
      else
        kernels::gemm<isa>(args);
    }
  }
};

template <fixed_string Name, extent_t Filters, extent_t KernelSize, class... Options,
          extent_t InputWidth>
struct bind_input_width<conv1d<Name, Filters, KernelSize, Options...>, InputWidth> {
  using type =
      detail::bound_layer<has_dim_v<dims::d_model, Options...>,
                          conv1d<Name, Filters, KernelSize, Options...>,
                          conv1d<Name, Filters, KernelSize, Options..., dims::d_model<InputWidth>>>;
};
namespace detail {
template <fixed_string Name, extent_t Filters, extent_t KernelSize, class... Options>
struct declaration_problem<conv1d<Name, Filters, KernelSize, Options...>> {
  using type =
      typename conv1d_declaration<layer_name_of<Name>, Filters, KernelSize, Options...>::problem;
  static constexpr extent_t width = extent_of_v<dims::d_model, 0, Options...>;
};
}  // namespace detail

}  // namespace typeformer
