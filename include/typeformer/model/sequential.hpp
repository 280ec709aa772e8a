#pragma once
// sequential<Parts...>: the parts applied one after another, each to its predecessor's output.
// Parts are layers or other composites; sequential adds no name scope of its own, so the
// layers of `sequential<multi_head_attention<"self_attn">, layer_norm<"norm1">>` keep the names
// `self_attn.*` and `norm1.*`, as in PyTorch's transformer layers.

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <typeformer/model/binding.hpp>
#include <typeformer/model/block.hpp>

namespace typeformer {

template <class... Parts>
struct sequential {
  static_assert(sizeof...(Parts) > 0, "sequential<> needs at least one part");
  static constexpr bool is_composite_block = true;
  static constexpr std::string_view kind = "sequential";
  static constexpr std::size_t size = sizeof...(Parts);

 private:
  template <std::size_t I>
  using part = detail::block_of<std::tuple_element_t<I, std::tuple<Parts...>>>;
  template <class F>
  static constexpr void each(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (f.template operator()<I>(), ...); }
    (std::make_index_sequence<size>{});
  }
  static constexpr std::size_t link_count = size == 1 ? 0 : (size == 2 ? 1 : 2);
  /// The largest activation between two parts, for `batch` sequences of `length`.
  static constexpr std::size_t widest_link(std::size_t batch, std::size_t length) noexcept {
    std::size_t widest = 0;
    auto n = static_cast<extent_t>(length);
    each([&]<std::size_t I>() {
      n = detail::output_length_of<part<I>>(n);
      if (I + 1 < size)
        widest = std::max(widest, batch * static_cast<std::size_t>(n) *
                                      static_cast<std::size_t>(part<I>::output_width));
    });
    return widest;
  }

 public:
  using first_name = typename part<0>::first_name;
  using last_name = typename part<size - 1>::last_name;
  static constexpr extent_t input_width = part<0>::input_width;
  static constexpr extent_t output_width = part<size - 1>::output_width;
  static constexpr extent_t parameter_count = (detail::block_of<Parts>::parameter_count + ...);
  static constexpr extent_t output_length(extent_t length) noexcept {
    each([&]<std::size_t I>() { length = detail::output_length_of<part<I>>(length); });
    return length;
  }
  /// Once a part gives one vector per sample, the parts after it keep it so.
  static constexpr bool output_has_sequence_axis =
      (detail::has_sequence_axis<detail::block_of<Parts>>() && ...);
  static constexpr detail::feature_axes output_feature_axes = detail::output_axes<part<size - 1>>();
  static constexpr bool keeps_sequence_shape =
      (detail::keeps_sequence_shape<detail::block_of<Parts>>() && ...);
  static constexpr bool decodable = (detail::is_decodable<detail::block_of<Parts>>() && ...);
  static constexpr bool needs_decode_operands =
      (detail::needs_decode_operands<detail::block_of<Parts>>() || ...);
  static constexpr bool propagates_mask =
      (detail::propagates_mask<detail::block_of<Parts>>() && ...);
  /// A link between two parts whose widths disagree, or a problem inside a part.
  using composition_problem =
      detail::chain_problem<first_name, input_width, detail::part_list<Parts...>>;
  template <extent_t MemoryWidth>
  using memory_problem =
      detail::first_problem<detail::memory_problem_of<detail::block_of<Parts>, MemoryWidth>...>;
  template <class Naming>
  using naming_problem =
      detail::first_problem<detail::naming_problem_of<detail::block_of<Parts>, Naming>...>;

  struct parameters {
    std::tuple<typename detail::block_of<Parts>::parameters...> parts;
  };

  template <class Naming>
  static void expected(Naming naming, const std::string& scope, std::vector<weight_spec>& out) {
    (detail::block_of<Parts>::expected(naming, scope, out), ...);
  }

  template <class Naming, class Get>
  static parameters load(Naming naming, Get& get, const std::string& scope) {
    // Braced initialisation: the parts load in declaration order.
    return {{detail::block_of<Parts>::load(naming, get, scope)...}};
  }

  static constexpr std::size_t scratch_floats(const call_plan& plan) noexcept {
    return std::max({detail::block_of<Parts>::scratch_floats(plan)...});
  }

  static constexpr std::size_t cache_floats(const call_plan& plan) noexcept {
    return (detail::block_of<Parts>::cache_floats(plan) + ...);
  }

  /// Two buffers for the links between parts (ping-pong), then the parts' own stacks (each
  /// planned for the input's length: lengths never grow).
  static constexpr std::size_t stack_floats(std::size_t batch, std::size_t length) noexcept {
    return link_count * widest_link(batch, length) +
           std::max({detail::block_of<Parts>::stack_floats(batch, length)...});
  }

  template <class Description>
  static std::size_t describe(Description& d, const std::string& scope, std::size_t from) {
    ((from = detail::block_of<Parts>::describe(d, scope, from)), ...);
    return from;
  }

  template <class Arch, class Context>
  static void forward(const parameters& p, const float* x, float* y, std::size_t batch,
                      std::size_t length, Context& ctx, float* stack, float* cache) {
    const std::size_t link = widest_link(batch, length);
    float* links[2] = {stack, stack + link};
    float* rest = stack + link_count * link;
    const float* in = x;
    const std::uint8_t* const mask = ctx.sequence_keep;
    each([&]<std::size_t I>() {
      float* out = I + 1 == size ? y : links[I % 2];
      part<I>::template forward<Arch>(std::get<I>(p.parts), in, out, batch, length, ctx, rest,
                                      cache);
      if (ctx.decoding) cache += part<I>::cache_floats(*ctx.decoding);
      length = static_cast<std::size_t>(
          detail::output_length_of<part<I>>(static_cast<extent_t>(length)));
      if (!detail::propagates_mask<part<I>>()) ctx.sequence_keep = nullptr;
      in = out;
    });
    ctx.sequence_keep = mask;
  }
};

namespace detail {
template <class... Parts, extent_t Width>
struct bind_part<sequential<Parts...>, Width> {
  using type = typename rebuild<sequential, bind_chain<Width, Parts...>>::type;
};
template <class... Parts, extent_t Width, extent_t Length>
struct bind_part_of_length<sequential<Parts...>, Width, Length> {
  using type = typename rebuild<sequential, bind_chain_of_length<Width, Length, Parts...>>::type;
};
}  // namespace detail

}  // namespace typeformer
