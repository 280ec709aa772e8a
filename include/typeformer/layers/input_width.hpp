#pragma once
// A layer declared inside a model may leave out its input width: `layer_norm<"norm1">` takes
// d_model from the layer before it. `bind_input_width_t<Layer, W>` is the layer with that width
// filled in; each layer template that can take it specialises `bind_input_width`. A layer that
// declares its width is left unchanged, and the model checks the declared width against the
// width it receives (diagnostics::input_width_does_not_match_predecessor).

#include <type_traits>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/dims.hpp>
#include <typeformer/core/extent.hpp>

namespace typeformer {

template <class Layer, extent_t Width>
struct bind_input_width {
  using type = Layer;
};

template <class Layer, extent_t Width>
using bind_input_width_t = typename bind_input_width<Layer, Width>::type;

/// The few layers whose binding also needs the length they receive (flatten: its output width
/// is length · width) specialise this; `Length` is dynamic where it is not static.
template <class Layer, extent_t Width, extent_t Length>
struct bind_input_shape {
  using type = bind_input_width_t<Layer, Width>;
};

namespace detail {
/// The first declaration rule a layer type breaks, found from its template arguments alone
/// (a layer with such rules specialises it), or `passed`.
template <class Layer>
struct declaration_problem {
  using type = diagnostics::passed;
};

/// A layer's width must be declared or bound by a model before its weights or calls are used.
template <class Name, extent_t DModel>
constexpr void require_declared_width() noexcept {
  static_assert(
      diagnostics::require<(DModel > 0),
                           diagnostics::d_model_must_be_positive<Name, DModel, 0>>::rule_holds);
}

/// `Declared` if its options name d_model, otherwise `WithWidth` (which appends d_model<W>).
/// Only names the two types: neither is instantiated here.
template <bool DeclaresWidth, class Declared, class WithWidth>
using bound_layer = std::conditional_t<DeclaresWidth, Declared, WithWidth>;
}  // namespace detail

}  // namespace typeformer
