#pragma once
// transformer_encoder_layer<heads<h>, dim_feedforward<f>, ...> and
// transformer_decoder_layer<...>: PyTorch 1.13's nn.TransformerEncoderLayer and
// nn.TransformerDecoderLayer (eval mode, batch_first=True) as named types.
//
//   encoder, post-norm (default):  x = norm1(x + self_attn(x)); x = norm2(x + ff(x))
//   encoder, norm_first:           x = x + self_attn(norm1(x)); x = x + ff(norm2(x))
//   decoder, post-norm:            x = norm1(x + self_attn(x)); x = norm2(x + multihead_attn(x,
//   mem));
//                                  x = norm3(x + ff(x))
//   decoder, norm_first:           the same with each norm moved before its sub-block
// where ff(x) = linear2(act(linear1(x))). Self-attention applies the call's mask (PyTorch's
// src_mask / tgt_mask and key padding), multihead_attn the call's memory mask.
//
// Options: heads<h> and dim_feedforward<f> (required), with_activation<activations::gelu> (default
// relu), norm_first, epsilon<m, e> for every norm (default: the naming's, 1e-5 for PyTorch),
// weights_stored_as<f> for every weight matrix (default float32), d_model<d> (default: the
// width it receives in a model), and self-attention's variant: with_score_function<E>,
// with_mask_function<E>, their operands (alibi_slopes, weight_operand, under self_attn.) and
// rotary_position_embedding (layers/attention_variant.hpp); cross-attention takes none. Parameter
// names are PyTorch's own: self_attn.*, multihead_attn.*, linear1.*, linear2.*, norm1.*, norm2.*,
// norm3.*. Each is the same as writing the residual blocks out with sequential; it prints shorter.

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <typeformer/core/dims.hpp>
#include <typeformer/layers/activations.hpp>
#include <typeformer/layers/feed_forward.hpp>
#include <typeformer/layers/layer_norm.hpp>
#include <typeformer/layers/multi_head_attention.hpp>
#include <typeformer/layers/options.hpp>
#include <typeformer/model/binding.hpp>
#include <typeformer/model/cross_attention.hpp>
#include <typeformer/model/residual.hpp>
#include <typeformer/model/sequential.hpp>

namespace typeformer {

namespace option_kinds {
struct norm_first {};
}  // namespace option_kinds

/// Normalise before each sub-block instead of after the residual sum (PyTorch `norm_first`).
struct norm_first {
  using kind = option_kinds::norm_first;
  static constexpr bool value = true;
};

namespace detail {
template <class... A, class... B>
part_list<A..., B...> operator+(part_list<A...>, part_list<B...>);

/// The option of kind `Kind` among `Options...` as a one-element list, or an empty one.
template <class Kind, class... Options>
struct option_types {
  using type = decltype((
      part_list<>{} + ... +
      std::conditional_t<option_is<Options, Kind>::value, part_list<Options>, part_list<>>{}));
};
/// The sub-layers of a transformer layer of width D (0: not bound yet, so no d_model option:
/// an unbound layer may be instantiated, d_model<0> may not), with the layer's epsilon option
/// for the norms and its weight-storage option for the attention and feed-forward blocks.
template <extent_t D, class Eps, class Storage>
struct transformer_sublayers;
template <extent_t D, class... Eps, class... Storage>
struct transformer_sublayers<D, part_list<Eps...>, part_list<Storage...>> {
  template <template <fixed_string, class...> class Layer, fixed_string Name, class... Options>
  using with_width =
      std::conditional_t<(D > 0), Layer<Name, Options..., dims::d_model<(D > 0 ? D : 1)>>,
                         Layer<Name, Options...>>;
  template <fixed_string Name>
  using norm = with_width<layer_norm, Name, Eps...>;
  template <fixed_string Name, extent_t H, class... Variant>
  using attention = with_width<multi_head_attention, Name, dims::heads<H>, Storage..., Variant...>;
  template <extent_t F, activation_function Act>
  using ff =
      std::conditional_t<(D > 0),
                         feed_forward<"ff", F, Act, Storage..., dims::d_model<(D > 0 ? D : 1)>>,
                         feed_forward<"ff", F, Act, Storage...>>;
};

/// The options that give self-attention its variant (score and mask functions, their
/// operands, rotary embedding), passed on from the transformer layer's own.
template <class... Options>
using self_attention_variant =
    decltype(typename option_types<option_kinds::score_function, Options...>::type{} +
             typename option_types<option_kinds::mask_function, Options...>::type{} +
             typename option_types<option_kinds::function_operand, Options...>::type{} +
             typename option_types<option_kinds::rotary_embedding, Options...>::type{});

template <class Sublayers, extent_t H, class Variant>
struct variant_self_attention;
template <class Sublayers, extent_t H, class... Variant>
struct variant_self_attention<Sublayers, H, part_list<Variant...>> {
  using type = typename Sublayers::template attention<"self_attn", H, Variant...>;
};
}  // namespace detail

namespace detail {
template <bool Decoder, class... Options>
struct transformer_layer {
  static constexpr bool is_composite_block = true;
  static constexpr extent_t d_model = extent_of_v<dims::d_model, 0, Options...>;
  static constexpr extent_t heads = extent_of_v<dims::heads, 0, Options...>;
  static constexpr extent_t dim_feedforward = extent_of_v<dims::dim_feedforward, 0, Options...>;
  static constexpr activation_function feed_forward_activation =
      option_value<option_kinds::activation, Options...>(activations::relu);
  static constexpr bool is_norm_first = option_value<option_kinds::norm_first, Options...>(false);
  static_assert(dim_feedforward > 0, "a transformer layer needs dim_feedforward<N>");

 private:
  using sublayers = detail::transformer_sublayers<
      d_model, typename detail::option_types<option_kinds::epsilon, Options...>::type,
      typename detail::option_types<option_kinds::weight_storage, Options...>::type>;
  using self_attention =
      typename variant_self_attention<sublayers, heads, self_attention_variant<Options...>>::type;
  using memory_attention =
      cross_attention<typename sublayers::template attention<"multihead_attn", heads>>;
  using ff = typename sublayers::template ff<dim_feedforward, feed_forward_activation>;
  using norm1 = typename sublayers::template norm<"norm1">;
  using norm2 = typename sublayers::template norm<"norm2">;
  using norm3 = typename sublayers::template norm<"norm3">;
  template <class N>
  using norm_at = std::conditional_t<is_norm_first, pre_norm<N>, post_norm<N>>;

 public:
  /// The layer written out as residual blocks.
  using body = std::conditional_t<
      Decoder,
      sequential<residual<self_attention, norm_at<norm1>>,
                 residual<memory_attention, norm_at<norm2>>, residual<ff, norm_at<norm3>>>,
      sequential<residual<self_attention, norm_at<norm1>>, residual<ff, norm_at<norm2>>>>;

  using first_name = typename body::first_name;
  using last_name = typename body::last_name;
  static constexpr extent_t input_width = body::input_width;
  static constexpr extent_t output_width = body::output_width;
  static constexpr extent_t parameter_count = body::parameter_count;
  using composition_problem = detail::problem_of<body>;
  template <extent_t MemoryWidth>
  using memory_problem = detail::memory_problem_of<body, MemoryWidth>;
  template <class Naming>
  using naming_problem = detail::naming_problem_of<body, Naming>;
  using parameters = typename body::parameters;

  template <class Naming>
  static void expected(Naming naming, const std::string& scope, std::vector<weight_spec>& out) {
    body::expected(naming, scope, out);
  }
  template <class Naming, class Get>
  static parameters load(Naming naming, Get& get, const std::string& scope) {
    return body::load(naming, get, scope);
  }
  static constexpr std::size_t scratch_floats(const call_plan& plan) noexcept {
    return body::scratch_floats(plan);
  }
  static constexpr std::size_t stack_floats(std::size_t batch, std::size_t length) noexcept {
    return body::stack_floats(batch, length);
  }
  static constexpr std::size_t cache_floats(const call_plan& plan) noexcept {
    return body::cache_floats(plan);
  }
  template <class Description>
  static std::size_t describe(Description& d, const std::string& scope, std::size_t from) {
    return body::describe(d, scope, from);
  }
  template <class Arch, class Context>
  static void forward(const parameters& p, const float* x, float* y, std::size_t batch,
                      std::size_t length, Context& ctx, float* stack, float* cache) {
    body::template forward<Arch>(p, x, y, batch, length, ctx, stack, cache);
  }
};

}  // namespace detail

/// nn.TransformerEncoderLayer: self-attention and feed-forward blocks (see above).
template <class... Options>
struct transformer_encoder_layer : detail::transformer_layer<false, Options...> {
  static constexpr std::string_view kind = "transformer_encoder_layer";
};

/// nn.TransformerDecoderLayer: self-attention, cross-attention over the model's memory input,
/// and feed-forward blocks (see above).
template <class... Options>
struct transformer_decoder_layer : detail::transformer_layer<true, Options...> {
  static constexpr std::string_view kind = "transformer_decoder_layer";
};

namespace detail {
template <class... Options, extent_t Width>
struct bind_part<transformer_encoder_layer<Options...>, Width> {
  using type = std::conditional_t<has_dim_v<dims::d_model, Options...>,
                                  transformer_encoder_layer<Options...>,
                                  transformer_encoder_layer<Options..., dims::d_model<Width>>>;
};
template <class... Options, extent_t Width>
struct bind_part<transformer_decoder_layer<Options...>, Width> {
  using type = std::conditional_t<has_dim_v<dims::d_model, Options...>,
                                  transformer_decoder_layer<Options...>,
                                  transformer_decoder_layer<Options..., dims::d_model<Width>>>;
};
}  // namespace detail

}  // namespace typeformer
