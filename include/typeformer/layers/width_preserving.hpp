#pragma once
// The shape rules of a layer that maps (batch, length, d_model) to the same shape
// (layer_norm, feed_forward): the input's last extent is d_model, the output's extents are the
// input's. Static extents are checked at compile time, the rest here.

#include <string_view>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer::detail {

template <class Layer, class X, class Y>
void check_width_preserving(const X& x, const Y& y) {
  using namespace diagnostics;
  using name_type = typename Layer::name_type;
  constexpr extent_t d = Layer::d_model;
  constexpr auto xs = X::static_extents;
  constexpr auto ys = Y::static_extents;
  static_assert(require<extents_may_agree(xs[2], d),
                        input_features_do_not_match_d_model<name_type, xs[2], d>>::rule_holds);
  static_assert(require<extents_may_agree(ys[2], d),
                        output_shape_does_not_match<name_type, ys[2], d>>::rule_holds);
  check<input_features_do_not_match_d_model>(x.extent(2) == d, Layer::kind, Layer::name,
                                             x.extent(2), d);
  for (std::size_t axis = 0; axis < 3; ++axis)
    check<output_shape_does_not_match>(y.extent(axis) == x.extent(axis), Layer::kind, Layer::name,
                                       y.extent(axis), x.extent(axis));
}

}  // namespace typeformer::detail
