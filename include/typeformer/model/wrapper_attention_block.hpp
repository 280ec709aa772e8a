#pragma once
// wrapper_attention_block<"name", heads<h>, Options...>: the attention block Keras users wrap
// around an attention layer,
//
//   y = LayerNormalization(epsilon)(x + attention(x, x))
//
// as one named type. The attention is Keras's MultiHeadAttention (key_dim_per_head<k>, default
// d_model / h), or with max_relative_position<K> the relative-position layer of
// layers/relative_position_attention.hpp (relative_values<false> drops rel_v). The norm's epsilon
// is epsilon<m, e>, default 1e-6 as the Keras examples declare it (Keras's own default is 1e-3:
// declare epsilon<1, -3> for a bare LayerNormalization()). on_fully_masked_rows<policy> goes to
// the MultiHeadAttention (minus_1e9_added for Keras's numbers at padded positions). Weights sit
// under the block's name: `name/attention/...` and `name/norm/gamma`, `name/norm/beta`. It is
//   scope<"name", residual<attention<"attention", ...>, post_norm<layer_norm<"norm", ...>>>>
// written out; the call's mask reaches the attention.

#include <string_view>
#include <type_traits>

#include <typeformer/core/dims.hpp>
#include <typeformer/layers/layer_norm.hpp>
#include <typeformer/layers/multi_head_attention.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/layers/relative_position_attention.hpp>
#include <typeformer/model/binding.hpp>
#include <typeformer/model/residual.hpp>
#include <typeformer/model/scope.hpp>

namespace typeformer {

namespace detail {
template <extent_t D, class... Options>
struct wrapper_parts {
  static constexpr extent_t heads = extent_of_v<dims::heads, 1, Options...>;
  static constexpr extent_t key_dim = extent_of_v<dims::key_dim_per_head, 0, Options...>;
  static constexpr extent_t max_distance =
      option_value<option_kinds::max_relative_position, Options...>(extent_t{0});
  using eps = typename option_type<option_kinds::epsilon, epsilon<1, -6>, Options...>::type;
  using values =
      typename option_type<option_kinds::relative_values, relative_values<true>, Options...>::type;
  static constexpr fully_masked_rows policy =
      option_value<option_kinds::on_fully_masked_rows, Options...>(fully_masked_rows::zeros);
  static_assert(max_distance == 0 || policy == fully_masked_rows::zeros,
                "wrapper_attention_block: on_fully_masked_rows applies to MultiHeadAttention; the "
                "relative-position attention gives zeros for a fully masked row");
  using plain =
      std::conditional_t<(key_dim > 0),
                         multi_head_attention<"attention", dims::heads<heads>, dims::d_model<D>,
                                              dims::key_dim_per_head<(key_dim > 0 ? key_dim : 1)>,
                                              on_fully_masked_rows<policy>>,
                         multi_head_attention<"attention", dims::heads<heads>, dims::d_model<D>,
                                              on_fully_masked_rows<policy>>>;
  using relative =
      relative_position_attention<"attention", dims::heads<heads>, dims::d_model<D>,
                                  max_relative_position<(max_distance > 0 ? max_distance : 1)>,
                                  values>;
  using attention = std::conditional_t<(max_distance > 0), relative, plain>;
  using type = residual<attention, post_norm<layer_norm<"norm", dims::d_model<D>, eps>>>;
};
}  // namespace detail

template <fixed_string Name, class... Options>
struct wrapper_attention_block
    : scope<Name, typename detail::wrapper_parts<extent_of_v<dims::d_model, 0, Options...>,
                                                 Options...>::type> {
  static constexpr std::string_view kind = "wrapper_attention_block";
};

namespace detail {
template <fixed_string Name, class... Options, extent_t Width>
struct bind_part<wrapper_attention_block<Name, Options...>, Width> {
  using type = std::conditional_t<has_dim_v<dims::d_model, Options...>,
                                  wrapper_attention_block<Name, Options...>,
                                  wrapper_attention_block<Name, Options..., dims::d_model<Width>>>;
};
}  // namespace detail

}  // namespace typeformer
