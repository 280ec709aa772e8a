#pragma once
// What the model's composites (sequential, residual, repeat) ask of each part, and the adapter
// that gives a layer from layers/ that shape.
//
// A block maps a (batch, length, input_width) activation to (batch, length, output_width). Its
// static members:
//   input_width, output_width, parameter_count    compile-time widths and size
//   first_name, last_name                         layer_name types for diagnostics
//   parameters                                    loaded weights, shared read-only
//   expected(naming, scope, out)                  appends the tensors it expects under scope
//   load(naming, get, scope)                      builds parameters from checked tensors
//   scratch_floats(plan)                          the largest workspace request of one call
//   stack_floats(batch, length)                   activation buffers its own calls need
//   describe(description, scope, from)            adds its layers to a model_description
//   cache_floats(plan)                            key/value cache of incremental decoding
//   forward<Arch>(p, x, y, batch, length, ctx, stack, cache)
// x and y are contiguous and do not alias; `stack` holds stack_floats(batch, length) floats;
// `cache` holds cache_floats(*ctx.decoding) floats when decoding incrementally (else unused).
//
// Most blocks keep the sequence: (batch, length, width) in, (batch, length, output_width) out.
// Some do not (an LSTM that returns its last state, a strided or valid convolution, flatten,
// the stacked heads of multi_head); they say so with these optional members, read through the
// traits below, whose defaults describe a block that keeps the sequence:
//   output_length(length)      the output's length (constexpr; dynamic for a dynamic length)
//   output_has_sequence_axis   false when the output is (batch, features...) with length 1
//                              (the parts after such a block keep it so)
//   output_feature_axes        the features' shape when there are several axes (multi_head's
//                              (units, heads)); their product is output_width
//   keeps_sequence_shape       whether the output is (batch, length, output_width)
//   decodable                  whether position t's output depends on inputs ≤ t only through
//                              attention (so incremental decoding can cache it)
// A length never grows, so buffers planned for the input's rows hold every later activation.
// Composites give their children the part of the stack after their own buffers, so the whole
// plan is one buffer sized at compile time (or once, at a runner's construction).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/extent.hpp>
#include <typeformer/core/naming.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/expr/masks.hpp>
#include <typeformer/kernels/workspace.hpp>
#include <typeformer/layers/attention_variant.hpp>
#include <typeformer/layers/input_width.hpp>
#include <typeformer/model/finite_check.hpp>
#include <typeformer/tensor/view.hpp>

namespace typeformer {

/// The extents a workspace is planned for: the batch, the sequence length, the length of the
/// memory cross-attention reads (0 without one) and the threads sharing a call.
struct call_plan {
  std::size_t batch = 1, length = 1, memory_length = 0, threads = 1;
  /// Positions a self-attention key/value cache holds (incremental decoding), 0 without one.
  std::size_t cache_capacity = 0;
};

/// What a model call passes down to its blocks: the workspace (scratch and threads), the mask
/// every self-attention layer applies and, for a model with a memory input, the memory that
/// cross-attention reads, (batch, memory_length, memory_width) floats, with its mask.
template <class SelfAttentionMask, class MemoryMask = masks::none, bool SequenceMask = false>
struct run_context {
  /// Whether the model propagates a mask from its embedding (embedding<..., mask_zero>).
  static constexpr bool has_sequence_mask = SequenceMask;
  workspace& ws;
  const SelfAttentionMask& self_attention_mask;
  const float* memory = nullptr;
  std::size_t memory_length = 0;
  extent_t memory_width = 0;
  const MemoryMask* memory_mask = nullptr;
  /// Incremental decoding: the cache plan (null for a plain call), the positions already
  /// decoded, and whether this call fills the cross-attention caches from the memory.
  const call_plan* decoding = nullptr;
  std::size_t past = 0;
  bool fill_memory_cache = false;
  /// Keras's propagated mask, (batch, length) with 1 = a real token, where the part being run
  /// still sees it (null after a part that drops it): lstm skips padded steps, self-attention
  /// hides padded keys.
  const std::uint8_t* sequence_keep = nullptr;
  /// runner_options::check_finite: each layer's output is scanned for NaN and infinity.
  bool check_finite = false;
};

namespace detail {

template <class T>
concept composite_block = requires {
  T::is_composite_block;
};

/// Whether a layer reads key and value inputs besides its query: it then runs as
/// self-attention in a chain.
template <class L>
concept attention_layer = requires {
  L::key_features;
};

/// An attention layer that keeps a key/value cache for incremental decoding.
template <class L>
concept cached_attention_layer = attention_layer<L> && requires {
  L::cache_floats(std::size_t{1}, std::size_t{1});
};

/// The mask a cached attention layer attends with while decoding, given the decode call's
/// self-attention argument: causal from the cache's end, with the operands the call binds
/// (expr::call_operands) when it binds some.
template <class SelfMask>
using decoding_mask_t = std::conditional_t<expr::is_operands_at_call_v<SelfMask>,
                                           masks::all<masks::causal_bottom_right, SelfMask>,
                                           masks::causal_bottom_right>;

/// Whether a layer's score and mask functions (if any) find every operand when decoding with
/// the call's argument `SelfMask`.
template <class Layer, class SelfMask = masks::none>
constexpr bool decodes_with() {
  if constexpr (requires { typename Layer::variant; })
    return attention_call<typename Layer::variant, decoding_mask_t<SelfMask>>::all_bound;
  else
    return true;
}

/// Whether a layer's output depends on where its rows are in the sequence (positional
/// encodings): while decoding, it is told the position of the first new row.
template <class L>
concept position_dependent_layer = requires {
  requires L::is_position_dependent;
};

/// Up to four feature axes of a block's output: (width), or multi_head's (units, heads).
struct feature_axes {
  std::array<extent_t, 4> extents{};
  std::size_t count = 0;
  constexpr extent_t product() const noexcept {
    extent_t p = 1;
    for (std::size_t i = 0; i < count; ++i) p *= extents[i];
    return p;
  }
};

template <class B>
constexpr extent_t output_length_of(extent_t length) noexcept {
  if constexpr (requires { B::output_length(length); })
    return B::output_length(length);
  else
    return length;
}
template <class B>
constexpr bool has_sequence_axis() noexcept {
  if constexpr (requires { B::output_has_sequence_axis; })
    return B::output_has_sequence_axis;
  else
    return true;
}
template <class B>
constexpr feature_axes output_axes() noexcept {
  if constexpr (requires { B::output_feature_axes; })
    return B::output_feature_axes;
  else
    return feature_axes{{B::output_width}, 1};
}
template <class B>
constexpr bool keeps_sequence_shape() noexcept {
  if constexpr (requires { B::keeps_sequence_shape; })
    return B::keeps_sequence_shape;
  else
    return true;
}
/// Whether a block reads an input with several feature axes (flatten does).
template <class B>
constexpr bool reads_feature_axes() noexcept {
  if constexpr (requires { B::reads_feature_axes; })
    return B::reads_feature_axes;
  else
    return false;
}
/// Whether the mask a block receives still describes its output (Keras's compute_mask): true
/// for position-wise layers and attention, false for layers that change the sequence.
template <class B>
constexpr bool propagates_mask() noexcept {
  if constexpr (requires { B::propagates_mask; })
    return B::propagates_mask;
  else
    return keeps_sequence_shape<B>();
}
template <class B>
constexpr bool is_decodable() noexcept {
  if constexpr (requires { B::decodable; })
    return B::decodable;
  else
    return true;
}
/// Whether some attention layer of B needs operands bound at each decode call.
template <class B>
constexpr bool needs_decode_operands() noexcept {
  if constexpr (requires { B::needs_decode_operands; })
    return B::needs_decode_operands;
  else
    return false;
}

/// A layer that reads other positions than its own besides attention (a recurrence, a
/// convolution, flatten): it runs on whole sequences through
///   run<Arch>(p, x, y, batch, length, scratch, pool), workspace_floats(batch, length).
template <class L>
concept sequence_layer = requires {
  requires L::mixes_positions;
};

/// The naming whose scopes a description's layer paths use: a description may say (summary in
/// Keras names: `block/attention`); PyTorch's otherwise (`layers.0.self_attn`).
template <class Description>
auto naming_of_description() {
  if constexpr (requires { typename Description::naming_type; })
    return typename Description::naming_type{};
  else
    return naming::pytorch;
}

template <class L, class Naming>
std::string path_segment(Naming naming) {
  if constexpr (requires { L::path_segment(naming); })
    return L::path_segment(naming);
  else
    return std::string(L::name) + Naming::separator;
}

template <class L>
struct leaf_block {
  using layer = L;
  using parameters = typename L::parameters;
  using first_name = typename L::name_type;
  using last_name = typename L::name_type;
  static constexpr extent_t input_width = L::input_width;
  static constexpr extent_t output_width = L::output_width;
  static constexpr extent_t parameter_count = L::parameter_count;
  static constexpr extent_t output_length(extent_t length) noexcept {
    return output_length_of<L>(length);
  }
  static constexpr bool output_has_sequence_axis = has_sequence_axis<L>();
  static constexpr feature_axes output_feature_axes = output_axes<L>();
  static constexpr bool keeps_sequence_shape = detail::keeps_sequence_shape<L>();
  static constexpr bool propagates_mask = detail::propagates_mask<L>();
  static constexpr bool decodable =
      !sequence_layer<L> && (!attention_layer<L> || cached_attention_layer<L>);
  static constexpr bool needs_decode_operands = cached_attention_layer<L> && !decodes_with<L>();
  static constexpr bool reads_feature_axes = detail::reads_feature_axes<L>();

  template <class Naming>
  static void expected(Naming naming, const std::string& scope, std::vector<weight_spec>& out) {
    auto mine = L::expected_weights(naming, scope + path_segment<L>(naming));
    out.insert(out.end(), std::make_move_iterator(mine.begin()),
               std::make_move_iterator(mine.end()));
  }

  template <class Naming, class Get>
  static parameters load(Naming naming, Get& get, const std::string& scope) {
    return L::from_weights(naming, get, scope + path_segment<L>(naming));
  }

  static constexpr std::size_t scratch_floats(const call_plan& plan) noexcept {
    if constexpr (cached_attention_layer<L>)
      return std::max(L::workspace_floats(plan.batch, plan.length, plan.length, plan.threads),
                      plan.cache_capacity == 0
                          ? std::size_t(0)
                          : L::cached_workspace_floats(plan.batch, plan.length, plan.threads));
    else if constexpr (attention_layer<L>)
      return L::workspace_floats(plan.batch, plan.length, plan.length, plan.threads);
    else if constexpr (sequence_layer<L>)
      return L::workspace_floats(plan.batch, plan.length);
    else if constexpr (requires { L::workspace_floats(plan.batch * plan.length); })
      return L::workspace_floats(plan.batch * plan.length);
    else
      return 0;
  }

  static constexpr std::size_t stack_floats(std::size_t, std::size_t) noexcept { return 0; }

  /// A self-attention layer caches its keys and values while decoding.
  static constexpr std::size_t cache_floats(const call_plan& plan) noexcept {
    if constexpr (cached_attention_layer<L>)
      return plan.cache_capacity == 0 ? 0 : L::cache_floats(plan.batch, plan.cache_capacity);
    else
      return 0;
  }

  /// Adds this layer to a model_description (introspection.hpp) after node `from`.
  template <class Description>
  static std::size_t describe(Description& d, const std::string& scope, std::size_t from) {
    d.length = output_length(d.length);
    d.sequence_axis = d.sequence_axis && output_has_sequence_axis;
    if constexpr (requires { Description::visits_layer_types; })  // io/keras_topology.hpp
      d.template visit_layer<L>(scope + std::string(L::name));
    return d.add_layer(scope + std::string(L::name), std::string(L::kind), output_feature_axes,
                       d.sequence_axis, parameter_count, from);
  }

  template <class Arch, class Context>
  static void forward(const parameters& p, const float* x, float* y, std::size_t batch,
                      std::size_t length, Context& ctx, float*, float* cache) {
    if constexpr (sequence_layer<L>) {
      float* scratch = ctx.ws.reserve(L::workspace_floats(batch, length));
      if constexpr (requires { L::reads_sequence_mask; })
        L::template run<Arch>(p, x, y, batch, length, scratch, &ctx.ws.pool(), nullptr, nullptr,
                              nullptr, nullptr, ctx.sequence_keep);
      else
        L::template run<Arch>(p, x, y, batch, length, scratch, &ctx.ws.pool());
    } else {
      forward_rows<Arch>(p, x, y, batch, length, ctx, cache);
    }
    if (ctx.check_finite)
      require_finite(y, batch,
                     static_cast<std::size_t>(output_length(static_cast<extent_t>(length))),
                     static_cast<std::size_t>(output_width), L::kind, L::name, "its output");
  }

 private:
  template <class Arch, class Context>
  static void forward_rows(const parameters& p, const float* x, float* y, std::size_t batch,
                           std::size_t length, Context& ctx, float* cache) {
    if constexpr (cached_attention_layer<L>) {
      if (ctx.decoding) {
        using self_mask = std::remove_cvref_t<decltype(ctx.self_attention_mask)>;
        if constexpr (!decodes_with<L, self_mask>()) {
          // runner::decode refuses at compile time a call that binds no operands where a layer
          // needs some; one that binds others than it needs gets this error.
          throw shape_error(concat(L::kind, " \"", L::name,
                                   "\": its score or mask function needs operands this decode "
                                   "call does not bind (pass them as its last argument, "
                                   "expr::call_operands(bind<\"name\">(value)))"));
        } else {
          // New positions [past, past + length): append their keys and values, then attend
          // over everything so far, causally (the last new position sees every key).
          const std::size_t capacity = ctx.decoding->cache_capacity;
          L::template append_to_cache<Arch>(p, x, x, batch, length, cache, capacity, ctx.past,
                                            ctx.ws);
          using decoding_mask = decoding_mask_t<self_mask>;
          const decoding_mask mask = [&] {
            if constexpr (expr::is_operands_at_call_v<self_mask>)
              return decoding_mask(masks::causal_bottom_right{}, ctx.self_attention_mask);
            else
              return decoding_mask{};
          }();
          L::template attend_to_cache<Arch>(p, x, batch, length, cache, capacity, ctx.past + length,
                                            y, ctx.ws, mask);
        }
        return;
      }
    }
    const auto b = static_cast<extent_t>(batch), n = static_cast<extent_t>(length);
    const tensor_view<const float, dynamic, dynamic, input_width> in(x, {b, n, input_width});
    const tensor_view<float, dynamic, dynamic, output_width> out(y, {b, n, output_width});
    if constexpr (attention_layer<L> && Context::has_sequence_mask) {
      if (ctx.sequence_keep) {
        // As Keras's MultiHeadAttention uses the embedding's mask: padded keys are hidden, and
        // padded query rows see no key (fully masked rows, under the layer's policy).
        const tensor_view<const std::uint8_t, dynamic, dynamic> keep(ctx.sequence_keep, {b, n});
        const masks::all padding(masks::attending_queries<>{keep}, masks::keep_keys<>{keep});
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(ctx.self_attention_mask)>,
                                     masks::none>)
          L::template forward<Arch>(p, in, in, in, out, ctx.ws, padding);
        else
          L::template forward<Arch>(p, in, in, in, out, ctx.ws,
                                    masks::all(ctx.self_attention_mask, padding));
      } else {
        L::template forward<Arch>(p, in, in, in, out, ctx.ws, ctx.self_attention_mask);
      }
    } else if constexpr (attention_layer<L>)
      L::template forward<Arch>(p, in, in, in, out, ctx.ws, ctx.self_attention_mask);
    else if constexpr (position_dependent_layer<L>)  // continues from the decoded positions
      L::template forward<Arch>(p, in, out, ctx.ws, ctx.decoding ? ctx.past : 0);
    else
      L::template forward<Arch>(p, in, out, ctx.ws);
  }
};

template <class B>
struct block_of_impl {
  using type = leaf_block<B>;
};
template <composite_block B>
struct block_of_impl<B> {
  using type = B;
};

/// In a model, a layer whose declaration breaks a rule: it reports the rule to the model, which
/// asserts once in its own body, and stands in for the layer so that nothing instantiates it.
template <class Layer, extent_t Width, class Problem>
struct broken_part {
  static constexpr bool is_composite_block = true;
  static constexpr std::string_view kind = Layer::kind;
  static constexpr std::string_view name = "";
  using name_type = layer_name<>;
  using first_name = name_type;
  using last_name = name_type;
  using composition_problem = Problem;
  static constexpr extent_t input_width = Width;
  static constexpr extent_t output_width = Width;
  static constexpr extent_t parameter_count = 0;
  struct parameters {};
  template <class Naming>
  static void expected(Naming, const std::string&, std::vector<weight_spec>&) {}
  template <class Naming, class Get>
  static parameters load(Naming, Get&, const std::string&) {
    return {};
  }
  static constexpr std::size_t scratch_floats(const call_plan&) noexcept { return 0; }
  static constexpr std::size_t stack_floats(std::size_t, std::size_t) noexcept { return 0; }
  static constexpr std::size_t cache_floats(const call_plan&) noexcept { return 0; }
  template <class Description>
  static std::size_t describe(Description&, const std::string&, std::size_t from) {
    return from;
  }
  template <class Arch, class Context>
  static void forward(const parameters&, const float*, float*, std::size_t, std::size_t, Context&,
                      float*, float*) {}
};

template <class B>
struct broken_block_of {
  using declared = declaration_problem<B>;
  using type = broken_part<B, declared::width, typename declared::type>;
};

/// The block interface of a bound part: composites are blocks, layers get the adapter, and a
/// layer whose declaration breaks a rule (found without instantiating it) a broken_part.
template <class B>
using block_of = typename std::conditional_t<
    std::is_same_v<typename declaration_problem<B>::type, diagnostics::passed>, block_of_impl<B>,
    broken_block_of<B>>::type;

/// y[i] += x[i] over n floats (the residual sum where it is not fused into a kernel).
inline void add_in_place(float* y, const float* x, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace detail
}  // namespace typeformer
