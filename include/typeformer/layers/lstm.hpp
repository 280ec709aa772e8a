#pragma once
// lstm<"name", units, d_model<in>?, return_sequences<b>?, num_layers<n>?>: Keras LSTM(units)
// and PyTorch nn.LSTM(in, units, num_layers, batch_first=True), inference only.
//
// Per step t, with the gates in the order both frameworks share (input, forget, cell, output):
//   g = x_t·W + h_{t−1}·U + b        i, f, o = σ(g_i, g_f, g_o)   c̃ = tanh(g_c)
//   c_t = f·c_{t−1} + i·c̃           h_t = o·tanh(c_t)
// The output is every h_t, (batch, length, units), with return_sequences<true>; otherwise the
// last one, (batch, units) (Keras's default). Stacked layers (num_layers<n>, PyTorch's form;
// Keras stacks separate LSTM layers) feed each layer's h sequence to the next.
//
// Weights per layer k (PyTorch suffix _l<k>; Keras has one layer per name):
//   Keras    name/kernel (in, 4u)   name/recurrent_kernel (u, 4u)   name/bias (4u)
//   PyTorch  name.weight_ih_lk (4u, in)   name.weight_hh_lk (4u, u)   name.bias_ih_lk,
//            name.bias_hh_lk (4u each: summed at load)
// The input projection of every step is one GEMM before the recurrence; each step then adds
// h·U with the same packed GEMM kernel, and the batch rows run in parallel.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
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
#include <typeformer/kernels/gemm.hpp>
#include <typeformer/kernels/lstm_cell.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/input_width.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

namespace option_kinds {
struct return_sequences {};
struct num_layers {};
}  // namespace option_kinds

/// Whether a recurrent layer outputs its state at every step (true) or only the last (false,
/// Keras's default).
template <bool Enabled>
struct return_sequences {
  using kind = option_kinds::return_sequences;
  static constexpr bool value = Enabled;
};

/// Recurrent layers stacked in one layer, PyTorch's num_layers. Default 1.
template <extent_t N>
struct num_layers {
  using kind = option_kinds::num_layers;
  static constexpr extent_t value = N;
};

/// A zero initial state, without building zero tensors: `lstm::forward(p, x, y, ws,
/// tfm::zero_state, tfm::zero_state, h_n, c_n)` gives PyTorch's (h_n, c_n) of a call without
/// (h_0, c_0), Keras's return_state=True without initial_state.
struct zero_state_t {};
inline constexpr zero_state_t zero_state{};

namespace detail {
/// An absent initial state (zeros) or final state (not written).
using no_state = zero_state_t;

template <class T>
struct static_rank : std::integral_constant<std::size_t, 0> {};
template <class T>
requires requires { std::remove_cvref_t<T>::rank; }
struct static_rank<T> : std::integral_constant<std::size_t, std::remove_cvref_t<T>::rank> {};
}  // namespace detail

namespace detail {
template <class NameType, extent_t Units, extent_t Layers>
using lstm_problem = first_problem<
    diagnostics::require<(Units > 0), diagnostics::units_must_be_positive<NameType, Units, 0>>,
    diagnostics::require<(Layers > 0), diagnostics::units_must_be_positive<NameType, Layers, 0>>>;
}  // namespace detail

template <fixed_string Name, extent_t Units, class... Options>
struct lstm {
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "lstm";
  static constexpr std::string_view name = Name.view();
  static constexpr extent_t d_model = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr extent_t units = Units;
  static constexpr extent_t layers = option_value<option_kinds::num_layers, Options...>(1);
  static constexpr bool returns_sequences =
      option_value<option_kinds::return_sequences, Options...>(false);
  static constexpr bool has_d_model = d_model > 0;
  static constexpr void require_d_model() noexcept {
    detail::require_declared_width<name_type, d_model>();
  }
  // Checked here when the layer is used on its own; a model checks them from the arguments
  // (declaration_problem below) without instantiating the layer.
  static_assert(detail::lstm_problem<name_type, Units, layers>::rule_holds);
  static constexpr extent_t input_width = d_model;
  static constexpr extent_t output_width = units;
  // Inside a model (model/block.hpp): one vector per sample unless it returns sequences.
  static constexpr bool mixes_positions = true;
  static constexpr bool reads_sequence_mask = true;  // skips padded steps (run's steps_keep)
  static constexpr bool output_has_sequence_axis = returns_sequences;
  static constexpr bool keeps_sequence_shape = returns_sequences;
  static constexpr extent_t output_length(extent_t length) noexcept {
    return returns_sequences ? length : 1;
  }
  /// Keras's count (one bias per layer); PyTorch's second bias adds 4·units per layer.
  static constexpr extent_t parameter_count =
      4 * units * (d_model + units + 1) + (layers - 1) * 4 * units * (2 * units + 1);

  struct layer_weights {
    kernels::packed_matrix input_kernel;      // (in, 4u)
    kernels::packed_matrix recurrent_kernel;  // (u, 4u)
    std::vector<float> bias;                  // 4u: PyTorch's two summed
  };
  struct parameters {
    std::array<layer_weights, static_cast<std::size_t>(layers)> stack;
  };

  template <class Naming>
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
    require_d_model();
    using S = std::vector<std::int64_t>;
    std::vector<weight_spec> out;
    for (extent_t k = 0; k < layers; ++k) {
      const extent_t in = k == 0 ? d_model : units;
      if constexpr (std::is_same_v<Naming, naming::pytorch_t>) {
        const std::string l = "_l" + std::to_string(k);
        out.push_back({prefix + "weight_ih" + l, S{4 * units, in}});
        out.push_back({prefix + "weight_hh" + l, S{4 * units, units}});
        out.push_back({prefix + "bias_ih" + l, S{4 * units}});
        out.push_back({prefix + "bias_hh" + l, S{4 * units}});
      } else {
        const std::string l = k == 0 ? "" : "_l" + std::to_string(k);
        out.push_back({prefix + "kernel" + l, S{in, 4 * units}});
        out.push_back({prefix + "recurrent_kernel" + l, S{units, 4 * units}});
        out.push_back({prefix + "bias" + l, S{4 * units}});
      }
    }
    return out;
  }

  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
    const auto read = checked_weights<lstm>(Naming{}, get, prefix);
    require_d_model();
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    const auto gates = static_cast<std::size_t>(4 * units);
    parameters p;
    for (std::size_t k = 0; k < static_cast<std::size_t>(layers); ++k) {
      const auto in = static_cast<std::size_t>(k == 0 ? d_model : units);
      const auto u = static_cast<std::size_t>(units);
      auto& w = p.stack[k];
      // (rows, gates) Keras kernels, (gates, rows) PyTorch weights: packed as (rows, gates).
      const auto pack = [&](const std::vector<float>& m, std::size_t rows) {
        return kernels::packed_matrix::pack(
            [&](std::size_t r, std::size_t g) {
              return torch ? m[g * rows + r] : m[r * gates + g];
            },
            rows, gates);
      };
      if constexpr (torch) {
        const std::string l = "_l" + std::to_string(k);
        w.input_kernel = pack(read(prefix + "weight_ih" + l), in);
        w.recurrent_kernel = pack(read(prefix + "weight_hh" + l), u);
        w.bias = read(prefix + "bias_ih" + l);
        const std::vector<float> second = read(prefix + "bias_hh" + l);
        for (std::size_t g = 0; g < gates; ++g) w.bias[g] += second[g];
      } else {
        const std::string l = k == 0 ? "" : "_l" + std::to_string(k);
        w.input_kernel = pack(read(prefix + "kernel" + l), in);
        w.recurrent_kernel = pack(read(prefix + "recurrent_kernel" + l), u);
        w.bias = read(prefix + "bias" + l);
      }
    }
    return p;
  }

  /// Scratch floats for one batch row of `length` steps.
  static constexpr std::size_t row_floats(std::size_t length) noexcept {
    const auto u = static_cast<std::size_t>(units);
    const std::size_t links = std::min<std::size_t>(static_cast<std::size_t>(layers) - 1, 2);
    return length * (4 * u + links * u) + 6 * u;
  }
  static constexpr std::size_t workspace_floats(std::size_t batch, std::size_t length) noexcept {
    return batch * row_floats(length);
  }

  /// x (batch, length, d_model) → y (batch, length, units) with return_sequences, else
  /// (batch, units); zero initial state.
  template <class Arch = simd::best_available, class In, class Out>
  static void forward(const parameters& p, const In& in, Out&& out, workspace& ws) {
    const detail::no_state none;
    run_checked<Arch>(p, in, out, ws, &none, &none, &none, &none);
  }

  /// The same from initial states h0, c0: (num_layers, batch, units) as PyTorch, or (batch,
  /// units) for one layer as Keras's initial_state=[h, c].
  template <class Arch = simd::best_available, class In, class Out, class H0, class C0>
  static void forward(const parameters& p, const In& in, Out&& out, workspace& ws, const H0& h0,
                      const C0& c0) {
    const detail::no_state none;
    run_checked<Arch>(p, in, out, ws, &h0, &c0, &none, &none);
  }

  /// The same, also writing the final states h_n, c_n (shaped as h0 and c0): PyTorch's
  /// (h_n, c_n), Keras's return_state=True.
  template <class Arch = simd::best_available, class In, class Out, class H0, class C0, class HN,
            class CN>
  static void forward(const parameters& p, const In& in, Out&& out, workspace& ws, const H0& h0,
                      const C0& c0, HN&& hn, CN&& cn) {
    run_checked<Arch>(p, in, out, ws, &h0, &c0, &hn, &cn);
  }

  /// Rows of `batch` sequences of `length` steps whose extents the caller has checked. `scratch`
  /// holds workspace_floats(batch, length) floats; `pool` may be null (one thread). The states
  /// are (layers, batch, units) or null (zeros in; not written out).
  ///
  /// `steps_keep` (batch, length), if given, is Keras's propagated mask: at a step with 0 the
  /// states are carried unchanged and the output repeats the previous one (zeros before the
  /// first kept step, from a zero state), as TensorFlow.js and Keras's CPU path do.
  template <class Arch = simd::best_available>
  static void run(const parameters& p, const float* x, float* y, std::size_t batch,
                  std::size_t length, float* scratch, thread_pool* pool, const float* h0 = nullptr,
                  const float* c0 = nullptr, float* hn = nullptr, float* cn = nullptr,
                  const std::uint8_t* steps_keep = nullptr) noexcept {
    using isa = simd::resolve_arch<Arch>;
    if (batch == 0) return;
    const auto step_rows = [&](std::size_t begin, std::size_t end, std::size_t) {
      run_rows<isa>(p, x, y, batch, length, scratch + begin * row_floats(length), begin, end, h0,
                    c0, hn, cn, steps_keep);
    };
    const std::size_t threads = pool ? pool->size() : 1;
    if (threads == 1 || batch == 1)
      step_rows(0, batch, 0);
    else
      pool->parallel_for(batch, (batch + threads - 1) / threads, step_rows);
  }

 private:
  template <class T>
  static constexpr std::size_t state_rank() noexcept {
    constexpr std::size_t r = detail::static_rank<T>::value;
    return r == 0 ? 3 : r;
  }

  template <class Arch, class In, class Out, class H0, class C0, class HN, class CN>
  static void run_checked(const parameters& p, const In& in, Out& out, workspace& ws, const H0* h0,
                          const C0* c0, HN* hn, CN* cn) {
    require_d_model();
    using namespace diagnostics;
    const auto x = as_view<3>(in);
    constexpr auto xs = decltype(x)::static_extents;
    static_assert(
        require<extents_may_agree(xs[2], d_model),
                input_features_do_not_match_d_model<name_type, xs[2], d_model>>::rule_holds);
    check<input_features_do_not_match_d_model>(x.extent(2) == d_model, kind, name, x.extent(2),
                                               d_model);
    const extent_t batch = x.extent(0), length = x.extent(1);
    float* y = nullptr;
    if constexpr (returns_sequences) {
      const auto v = as_view<3>(out);
      constexpr auto ys = decltype(v)::static_extents;
      static_assert(require<extents_may_agree(ys[2], units),
                            output_shape_does_not_match<name_type, ys[2], units>>::rule_holds);
      const std::array<extent_t, 3> want = {batch, length, units};
      for (std::size_t a = 0; a < 3; ++a)
        check<output_shape_does_not_match>(v.extent(a) == want[a], kind, name, v.extent(a),
                                           want[a]);
      y = v.data();
    } else {
      const auto v = as_view<2>(out);
      constexpr auto ys = decltype(v)::static_extents;
      static_assert(require<extents_may_agree(ys[1], units),
                            output_shape_does_not_match<name_type, ys[1], units>>::rule_holds);
      check<output_shape_does_not_match>(v.extent(0) == batch, kind, name, v.extent(0), batch);
      check<output_shape_does_not_match>(v.extent(1) == units, kind, name, v.extent(1), units);
      y = v.data();
    }
    const float* h_in = state_data(h0, batch);
    const float* c_in = state_data(c0, batch);
    float* h_out = state_data(hn, batch);
    float* c_out = state_data(cn, batch);
    const auto b = static_cast<std::size_t>(batch), n = static_cast<std::size_t>(length);
    if (n == 0) {  // no steps: the output is the initial state (Keras errors; we define it)
      for (std::size_t k = 0; k < static_cast<std::size_t>(layers); ++k) {
        const std::size_t u = static_cast<std::size_t>(units), at = k * b * u;
        if (h_out) copy_or_zero(h_out + at, h_in ? h_in + at : nullptr, b * u);
        if (c_out) copy_or_zero(c_out + at, c_in ? c_in + at : nullptr, b * u);
      }
      if constexpr (!returns_sequences) {
        const std::size_t u = static_cast<std::size_t>(units);
        copy_or_zero(y, h_in ? h_in + (layers - 1) * b * u : nullptr, b * u);
      }
      return;
    }
    float* scratch = ws.reserve(workspace_floats(b, n));
    run<Arch>(p, x.data(), y, b, n, scratch, &ws.pool(), h_in, c_in, h_out, c_out);
  }

  /// A state's floats after checking its shape, or null for no_state.
  template <class S>
  static auto state_data(S* s, extent_t batch) {
    using T = std::remove_const_t<S>;
    if constexpr (std::is_same_v<T, detail::no_state>) {
      return nullptr;
    } else {
      constexpr std::size_t r = state_rank<T>();
      static_assert(r == 3 || (r == 2 && layers == 1),
                    "a state is (num_layers, batch, units), or (batch, units) for one layer");
      const auto v = as_view<r>(*s);
      const std::array<extent_t, 3> want = {layers, batch, units};
      for (std::size_t a = 0; a < r; ++a)
        diagnostics::check<diagnostics::state_shape_does_not_match>(
            v.extent(a) == want[a + 3 - r], kind, name, v.extent(a), want[a + 3 - r]);
      return v.data();
    }
  }

  static void copy_or_zero(float* to, const float* from, std::size_t n) noexcept {
    if (from)
      std::memcpy(to, from, n * sizeof(float));
    else
      std::fill(to, to + n, 0.0f);
  }

  /// Batch rows [begin, end), all layers and steps, on one thread.
  template <class Arch>
  static void run_rows(const parameters& p, const float* x, float* y, std::size_t batch,
                       std::size_t length, float* scratch, std::size_t begin, std::size_t end,
                       const float* h0, const float* c0, float* hn, float* cn,
                       const std::uint8_t* steps_keep) noexcept {
    const auto u = static_cast<std::size_t>(units), g = 4 * u;
    const std::size_t rows = end - begin, steps = rows * length;
    float* pre = scratch;
    float* links[2] = {pre + steps * g, pre + steps * g + steps * u};
    const std::size_t link_count = std::min<std::size_t>(static_cast<std::size_t>(layers) - 1, 2);
    float* gates = pre + steps * (g + link_count * u);
    float* h = gates + rows * g;
    float* c = h + rows * u;
    const float* in = x + begin * length * static_cast<std::size_t>(d_model);
    std::size_t in_width = static_cast<std::size_t>(d_model);
    for (std::size_t k = 0; k < static_cast<std::size_t>(layers); ++k) {
      const auto& w = p.stack[k];
      const bool last = k + 1 == static_cast<std::size_t>(layers);
      // Where this layer's h sequence goes: the next layer's input, the output, or nowhere.
      float* seq = !last ? links[k % 2] : (returns_sequences ? y + begin * length * u : nullptr);
      kernels::gemm<Arch>({in, in_width, steps, &w.input_kernel, w.bias.data(), 1.0f, pre, g});
      const std::size_t state_at = (k * batch + begin) * u;
      copy_or_zero(h, h0 ? h0 + state_at : nullptr, rows * u);
      copy_or_zero(c, c0 ? c0 + state_at : nullptr, rows * u);
      for (std::size_t t = 0; t < length; ++t) {
        kernels::gemm_args step{h, u, rows, &w.recurrent_kernel, nullptr, 1.0f, gates, g};
        step.residual = pre + t * g;
        step.ld_residual = length * g;
        kernels::gemm<Arch>(step);
        for (std::size_t r = 0; r < rows; ++r) {
          if (!steps_keep || steps_keep[(begin + r) * length + t])
            kernels::lstm_cell<Arch>(gates + r * g, c + r * u, h + r * u, u);
          if (seq) std::memcpy(seq + (r * length + t) * u, h + r * u, u * sizeof(float));
        }
      }
      if (hn) std::memcpy(hn + state_at, h, rows * u * sizeof(float));
      if (cn) std::memcpy(cn + state_at, c, rows * u * sizeof(float));
      if (last && !returns_sequences) std::memcpy(y + begin * u, h, rows * u * sizeof(float));
      in = seq;
      in_width = u;
    }
  }
};

template <fixed_string Name, extent_t Units, class... Options, extent_t InputWidth>
struct bind_input_width<lstm<Name, Units, Options...>, InputWidth> {
  using type =
      detail::bound_layer<has_dim_v<dims::d_model, Options...>, lstm<Name, Units, Options...>,
                          lstm<Name, Units, Options..., dims::d_model<InputWidth>>>;
};
namespace detail {
template <fixed_string Name, extent_t Units, class... Options>
struct declaration_problem<lstm<Name, Units, Options...>> {
  using type = lstm_problem<layer_name_of<Name>, Units,
                            option_value<option_kinds::num_layers, Options...>(extent_t{1})>;
  static constexpr extent_t width = extent_of_v<dims::d_model, 0, Options...>;
};
}  // namespace detail

}  // namespace typeformer
