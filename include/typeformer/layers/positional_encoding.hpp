#pragma once
// Absolute position information added to a sequence of vectors: y(b, l, :) = x(b, l, :) + P(l).
//
// sinusoidal_position_encoding<Options...>: Vaswani et al. 2017, §3.5, no weights:
//   P(pos, 2i) = sin(pos / 10000^(2i/d)),  P(pos, 2i+1) = cos(pos / 10000^(2i/d))
// in that interleaved layout (the paper, PyTorch's tutorials), or with option
// `sin_cos_concatenated` as TensorFlow's transformer tutorial lays it out: the d/2 sines, then
// the d/2 cosines, with the same frequencies. The frequencies are computed once at load; each
// call computes its positions' sines and cosines in double, so there is no length limit and no
// table; the cost is d sines and cosines per position, shared by the batch.
//
// position_embedding<"name", positions>: a learned table, PyTorch nn.Embedding(positions, d)
// indexed by position (`name.weight`) and keras_nlp's PositionEmbedding (`name/embeddings`),
// both (positions, d). A position past the table throws shape_error.
//
// While a runner decodes incrementally, new positions continue from those already decoded.

#include <cmath>
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
#include <typeformer/kernels/simd.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/input_width.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/layers/width_preserving.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

namespace option_kinds {
struct sin_cos_concatenated {};
}  // namespace option_kinds

/// sinusoidal_position_encoding option: TensorFlow's layout, [sin… | cos…] rather than
/// alternating sin, cos.
struct sin_cos_concatenated {
  using kind = option_kinds::sin_cos_concatenated;
  static constexpr bool value = true;
};

template <class... Options>
struct sinusoidal_position_encoding {
  using name_type = layer_name<'p', 'o', 's', 'i', 't', 'i', 'o', 'n', 's'>;
  static constexpr std::string_view kind = "sinusoidal_position_encoding";
  static constexpr std::string_view name = "positions";
  static constexpr extent_t d_model = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr bool concatenated =
      option_value<option_kinds::sin_cos_concatenated, Options...>(false);
  static constexpr bool has_d_model = d_model > 0;
  static constexpr void require_d_model() noexcept {
    detail::require_declared_width<name_type, d_model>();
  }
  /// Reported by a model that binds an odd width (model/binding.hpp), and asserted by forward
  /// for the layer used on its own.
  using composition_problem = diagnostics::require<
      d_model % 2 == 0, diagnostics::sinusoidal_encoding_needs_even_width<name_type, d_model, 0>>;
  static constexpr bool is_position_dependent = true;
  static constexpr extent_t input_width = d_model;
  static constexpr extent_t output_width = d_model;
  static constexpr extent_t parameter_count = 0;

  /// No weights: the d/2 frequencies 1/10000^(2i/d), computed once at load.
  struct parameters {
    std::vector<double> frequencies;
  };

  template <class Naming>
  static std::vector<weight_spec> expected_weights(Naming, const std::string& = "") {
    require_d_model();
    return {};
  }
  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&&, const std::string& = "") {
    require_d_model();
    parameters p;
    p.frequencies.resize(static_cast<std::size_t>(d_model) / 2);
    for (std::size_t i = 0; i < p.frequencies.size(); ++i)  // exp(−ln(10000) · 2i/d)
      p.frequencies[i] =
          std::exp(-std::log(10000.0) * static_cast<double>(2 * i) / static_cast<double>(d_model));
    return p;
  }

  /// One row of the encoding.
  static constexpr std::size_t workspace_floats(std::size_t) noexcept {
    return static_cast<std::size_t>(d_model);
  }

  /// P(position) into `row` (d_model floats).
  static void encode(const parameters& p, std::size_t position, float* row) noexcept {
    const std::size_t half = static_cast<std::size_t>(d_model) / 2;
    for (std::size_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(position) * p.frequencies[i];
      const auto s = static_cast<float>(std::sin(angle)), c = static_cast<float>(std::cos(angle));
      if constexpr (concatenated) {
        row[i] = s;
        row[half + i] = c;
      } else {
        row[2 * i] = s;
        row[2 * i + 1] = c;
      }
    }
  }

  /// y = x + P for (batch, length, d_model) x and y (which may be x); row l of each sequence
  /// is at position first_position + l.
  template <class Arch = simd::best_available, class In, class Out>
  static void forward(const parameters& p, const In& in, Out&& out_in, workspace& ws,
                      std::size_t first_position = 0) {
    require_d_model();
    const auto x = as_view<3>(in);
    const auto y = as_view<3>(out_in);
    static_assert(composition_problem::rule_holds);  // for use outside a model
    detail::check_width_preserving<sinusoidal_position_encoding>(x, y);
    const auto batch = static_cast<std::size_t>(x.extent(0)),
               length = static_cast<std::size_t>(x.extent(1)),
               d = static_cast<std::size_t>(d_model);
    if (p.frequencies.size() != d / 2) detail::throw_parameters_do_not_fit(kind, name);
    float* row = ws.reserve(d);
    for (std::size_t l = 0; l < length; ++l) {
      encode(p, first_position + l, row);
      for (std::size_t b = 0; b < batch; ++b) {
        const float* from = x.data() + (b * length + l) * d;
        float* to = y.data() + (b * length + l) * d;
        for (std::size_t j = 0; j < d; ++j) to[j] = from[j] + row[j];
      }
    }
  }
};

template <fixed_string Name, extent_t Positions, class... Options>
struct position_embedding {
  using name_type = layer_name_of<Name>;
  static constexpr std::string_view kind = "position_embedding";
  static constexpr std::string_view name = Name.view();
  static constexpr extent_t d_model = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr extent_t positions = Positions;
  static constexpr bool has_d_model = d_model > 0;
  static constexpr void require_d_model() noexcept {
    detail::require_declared_width<name_type, d_model>();
  }
  static_assert(diagnostics::require<(Positions > 0), diagnostics::positions_must_be_positive<
                                                          name_type, Positions, 0>>::rule_holds);
  static constexpr bool is_position_dependent = true;
  static constexpr extent_t input_width = d_model;
  static constexpr extent_t output_width = d_model;
  static constexpr extent_t parameter_count = positions * d_model;

  struct parameters {
    std::vector<float> table;  // (positions, d_model)
  };

  template <class Naming>
  static std::vector<weight_spec> expected_weights(
      Naming, const std::string& prefix = standalone_prefix<Naming>(name)) {
    require_d_model();
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    return {{prefix + (torch ? "weight" : "embeddings"), {positions, d_model}}};
  }
  template <class Naming, class Get>
  static parameters from_weights(Naming, Get&& get,
                                 const std::string& prefix = standalone_prefix<Naming>(name)) {
    const auto read = checked_weights<position_embedding>(Naming{}, get, prefix);
    require_d_model();
    constexpr bool torch = std::is_same_v<Naming, naming::pytorch_t>;
    return {read(prefix + (torch ? "weight" : "embeddings"))};
  }

  /// y = x + table[first_position + l] for (batch, length, d_model) x and y (y may be x).
  template <class Arch = simd::best_available, class In, class Out>
  static void forward(const parameters& p, const In& in, Out&& out_in, workspace&,
                      std::size_t first_position = 0) {
    require_d_model();
    const auto x = as_view<3>(in);
    const auto y = as_view<3>(out_in);
    detail::check_width_preserving<position_embedding>(x, y);
    const auto batch = static_cast<std::size_t>(x.extent(0)),
               length = static_cast<std::size_t>(x.extent(1)),
               d = static_cast<std::size_t>(d_model);
    if (length > 0)
      diagnostics::check<diagnostics::position_out_of_range>(
          first_position + length <= static_cast<std::size_t>(positions), kind, name,
          static_cast<extent_t>(first_position + length - 1), positions);
    for (std::size_t b = 0; b < batch; ++b)
      for (std::size_t l = 0; l < length; ++l) {
        const float* from = x.data() + (b * length + l) * d;
        const float* add = p.table.data() + (first_position + l) * d;
        float* to = y.data() + (b * length + l) * d;
        for (std::size_t j = 0; j < d; ++j) to[j] = from[j] + add[j];
      }
  }
};

template <class... Options, extent_t Width>
struct bind_input_width<sinusoidal_position_encoding<Options...>, Width> {
  using type = detail::bound_layer<has_dim_v<dims::d_model, Options...>,
                                   sinusoidal_position_encoding<Options...>,
                                   sinusoidal_position_encoding<Options..., dims::d_model<Width>>>;
};

template <fixed_string Name, extent_t Positions, class... Options, extent_t Width>
struct bind_input_width<position_embedding<Name, Positions, Options...>, Width> {
  using type =
      detail::bound_layer<has_dim_v<dims::d_model, Options...>,
                          position_embedding<Name, Positions, Options...>,
                          position_embedding<Name, Positions, Options..., dims::d_model<Width>>>;
};
namespace detail {
// A model checks the rule from the arguments, without instantiating the layer.
template <fixed_string Name, extent_t Positions, class... Options>
struct declaration_problem<position_embedding<Name, Positions, Options...>> {
  using type = diagnostics::require<
      (Positions > 0), diagnostics::positions_must_be_positive<layer_name_of<Name>, Positions, 0>>;
  static constexpr extent_t width = extent_of_v<dims::d_model, 0, Options...>;
};
}  // namespace detail

}  // namespace typeformer
