#pragma once
// cross_attention<Layer>: an attention layer in a chain whose keys and values come from the
// model's memory input (an encoder's output) instead of the chain: y = Layer(x, memory, memory)
// with the call's memory mask. PyTorch's decoder layer calls this `multihead_attn`.
//
//   model<input<...>, memory<seq<dynamic>, d_model<512>, max_seq<128>>,
//         sequential<..., residual<cross_attention<multi_head_attention<"multihead_attn",
//                                                                        heads<8>>>>, ...>>
// The layer's key_features / value_features must match the memory's width (PyTorch's
// kdim/vdim); they default to d_model, which is what nn.TransformerDecoderLayer uses.

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/layers/input_width.hpp>
#include <typeformer/model/binding.hpp>
#include <typeformer/model/block.hpp>
#include <typeformer/model/finite_check.hpp>

namespace typeformer {

namespace detail {
/// The width a layer declares for its keys (or values), dynamic for a layer that declares none.
template <class Layer, bool Keys>
constexpr extent_t declared_memory_features() {
  if constexpr (Keys && requires { Layer::key_features; })
    return Layer::key_features;
  else if constexpr (!Keys && requires { Layer::value_features; })
    return Layer::value_features;
  else
    return dynamic;
}
}  // namespace detail

template <class Layer>
struct cross_attention {
  static constexpr bool is_composite_block = true;
  static constexpr std::string_view kind = "cross_attention";
  static constexpr bool reads_memory = true;

 private:
  using leaf = detail::leaf_block<Layer>;
  static constexpr extent_t key_features = detail::declared_memory_features<Layer, true>();
  static constexpr extent_t value_features = detail::declared_memory_features<Layer, false>();

 public:
  using first_name = typename leaf::first_name;
  using last_name = typename leaf::last_name;
  using parameters = typename leaf::parameters;
  static constexpr extent_t input_width = leaf::input_width;
  static constexpr extent_t output_width = leaf::output_width;
  static constexpr extent_t parameter_count = leaf::parameter_count;
  /// The layer's declared key and value widths against the model's memory<d_model<W>>: the
  /// conflict is in the types, so the compiler reports it (PyTorch's kdim/vdim).
  template <extent_t MemoryWidth>
  using memory_problem = detail::first_problem<
      detail::rule_problem<key_features == dynamic || key_features == MemoryWidth,
                           diagnostics::key_features_do_not_match_declaration<
                               first_name, MemoryWidth, key_features>>,
      detail::rule_problem<value_features == dynamic || value_features == MemoryWidth,
                           diagnostics::value_features_do_not_match_declaration<
                               first_name, MemoryWidth, value_features>>>;
  template <class Naming>
  using naming_problem = detail::naming_problem_of<leaf, Naming>;

  template <class Naming>
  static void expected(Naming naming, const std::string& scope, std::vector<weight_spec>& out) {
    leaf::expected(naming, scope, out);
  }
  template <class Naming, class Get>
  static parameters load(Naming naming, Get& get, const std::string& scope) {
    return leaf::load(naming, get, scope);
  }
  static constexpr std::size_t scratch_floats(const call_plan& plan) noexcept {
    return std::max(
        Layer::workspace_floats(plan.batch, plan.length, plan.memory_length, plan.threads),
        plan.cache_capacity == 0
            ? std::size_t(0)
            : Layer::cached_workspace_floats(plan.batch, std::max(plan.length, plan.memory_length),
                                             plan.threads));
  }
  /// While decoding, the memory's keys and values, projected once per source.
  static constexpr std::size_t cache_floats(const call_plan& plan) noexcept {
    return plan.cache_capacity == 0 ? 0 : Layer::cache_floats(plan.batch, plan.memory_length);
  }
  static constexpr std::size_t stack_floats(std::size_t, std::size_t) noexcept { return 0; }
  template <class Description>
  static std::size_t describe(Description& d, const std::string& scope, std::size_t from) {
    if constexpr (requires { Description::visits_layer_types; })  // io/keras_topology.hpp
      d.template visit_layer<Layer>(scope + std::string(Layer::name));
    return d.add_layer(scope + std::string(Layer::name), std::string(Layer::kind) + ", cross",
                       output_width, parameter_count, from);
  }

  template <class Arch, class Context>
  static void forward(const parameters& p, const float* x, float* y, std::size_t batch,
                      std::size_t length, Context& ctx, float*, float* cache) {
    if (ctx.decoding) {
      const std::size_t capacity = ctx.decoding->memory_length;
      if (ctx.fill_memory_cache)
        Layer::template append_to_cache<Arch>(p, ctx.memory, ctx.memory, batch, ctx.memory_length,
                                              cache, capacity, 0, ctx.ws);
      // The new rows are at the decoded positions, not at the memory's end.
      Layer::template attend_to_cache<Arch>(p, x, batch, length, cache, capacity, ctx.memory_length,
                                            y, ctx.ws, *ctx.memory_mask, ctx.past);
      if (ctx.check_finite)
        detail::require_finite(y, batch, length, static_cast<std::size_t>(output_width),
                               Layer::kind, Layer::name, "its output");
      return;
    }
    if (!ctx.memory)
      throw shape_error(detail::concat("cross_attention \"", Layer::name,
                                       "\": the model was called without a memory input"));
    const auto b = static_cast<extent_t>(batch), n = static_cast<extent_t>(length);
    const auto m = static_cast<extent_t>(ctx.memory_length);
    const tensor_view<const float, dynamic, dynamic, input_width> in(x, {b, n, input_width});
    const tensor_view<const float, dynamic, dynamic, dynamic> memory(ctx.memory,
                                                                     {b, m, ctx.memory_width});
    const tensor_view<float, dynamic, dynamic, output_width> out(y, {b, n, output_width});
    Layer::template forward<Arch>(p, in, memory, memory, out, ctx.ws, *ctx.memory_mask);
    if (ctx.check_finite)
      detail::require_finite(y, batch, length, static_cast<std::size_t>(output_width), Layer::kind,
                             Layer::name, "its output");
  }
};

namespace detail {
template <class Layer, extent_t Width>
struct bind_part<cross_attention<Layer>, Width> {
  using type = cross_attention<bind_input_width_t<Layer, Width>>;
};
}  // namespace detail

}  // namespace typeformer
