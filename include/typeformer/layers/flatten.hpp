#pragma once
// flatten<"name"?>: Keras Flatten. Each sample's (length, features...) becomes one vector of
// length · features values, in the same (row-major) order, so the next layer (a Dense
// classifier) reads a (batch, length · width) input. Inside a model the length and width are
// taken from the part before it, and the length must be static: declared by the input's
// seq<N>, or 1 after a layer that gives one vector per sample (an LSTM without
// return_sequences). It reads stacked heads' (units, heads) features as Keras does: the heads'
// axis varies fastest.

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/input_width.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

template <fixed_string Name = "flatten", class... Options>
struct flatten {
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "flatten";
  static constexpr std::string_view name = Name.view();
  /// The width of each position and the static length of the input.
  static constexpr extent_t d_model = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr extent_t length = extent_of_v<dims::seq, dynamic, Options...>;
  static constexpr bool has_static_length = length != dynamic && length > 0;
  static constexpr extent_t input_width = d_model;
  /// Without a static length the model reports flatten_needs_a_static_length; the width it
  /// then gives the parts after it only keeps the chain well-formed until that report.
  static constexpr extent_t output_width = has_static_length ? d_model * length : d_model;
  static constexpr extent_t parameter_count = 0;
  static constexpr bool mixes_positions = true;
  static constexpr bool output_has_sequence_axis = false;
  static constexpr bool keeps_sequence_shape = false;
  static constexpr bool reads_feature_axes = true;
  static constexpr extent_t output_length(extent_t) noexcept { return 1; }
  using composition_problem =
      std::conditional_t<has_static_length, diagnostics::passed,
                         diagnostics::flatten_needs_a_static_length<name_type, 0, 0>>;

  struct parameters {};

  template <class Naming>
  static std::vector<weight_spec> expected_weights(Naming, const std::string& = "") {
    return {};
  }
  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&&, const std::string& = "") {
    return {};
  }

  static constexpr std::size_t workspace_floats(std::size_t, std::size_t) noexcept { return 0; }

  /// x (batch, length, d_model) → y (batch, length · d_model).
  template <class Arch = simd::best_available, class In, class Out>
  static void forward(const parameters& p, const In& in, Out&& out, workspace& ws) {
    using namespace diagnostics;
    static_assert(
        require<has_static_length, flatten_needs_a_static_length<name_type, 0, 0>>::rule_holds);
    const auto x = as_view<3>(in);
    const auto y = as_view<2>(out);
    check<input_features_do_not_match_d_model>(x.extent(2) == d_model, kind, name, x.extent(2),
                                               d_model);
    check<input_length_does_not_match>(x.extent(1) == length, kind, name, x.extent(1), length);
    check<output_shape_does_not_match>(y.extent(0) == x.extent(0), kind, name, y.extent(0),
                                       x.extent(0));
    check<output_shape_does_not_match>(y.extent(1) == output_width, kind, name, y.extent(1),
                                       output_width);
    run<Arch>(p, x.data(), y.data(), static_cast<std::size_t>(x.extent(0)),
              static_cast<std::size_t>(length), nullptr, &ws.pool());
  }

  /// The same on rows the caller has checked: a copy, the layout is unchanged.
  template <class Arch = simd::best_available>
  static void run(const parameters&, const float* x, float* y, std::size_t batch, std::size_t steps,
                  float*, thread_pool*) noexcept {
    std::memcpy(y, x, batch * steps * static_cast<std::size_t>(d_model) * sizeof(float));
  }
};

template <fixed_string Name, class... Options, extent_t Width>
struct bind_input_width<flatten<Name, Options...>, Width> {
  using type = flatten<Name, Options..., dims::d_model<Width>>;
};

/// flatten bound inside a model: the width and the length it receives.
template <fixed_string Name, class... Options, extent_t Width, extent_t Length>
struct bind_input_shape<flatten<Name, Options...>, Width, Length> {
  using type = flatten<Name, Options..., dims::d_model<Width>, dims::seq<Length>>;
};

}  // namespace typeformer
