#pragma once
// sequential<Parts...>: the parts applied one after another, each to its predecessor's output.
// Parts are layers or other composites; sequential adds no name scope of its own, so the
// layers of `sequential<multi_head_attention<"self_attn">, layer_norm<"norm1">>` keep the names
// `self_attn.*` and `norm1.*`, as in PyTorch's transformer layers.

#include <cstddef>
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
  static constexpr extent_t widest_link() noexcept {
    extent_t w = 0;
    each([&]<std::size_t I>() {
      if (I + 1 < size) w = std::max(w, part<I>::output_width);
    });
    return w;
  }

 public:
  using first_name = typename part<0>::first_name;
  using last_name = typename part<size - 1>::last_name;
  static constexpr extent_t input_width = part<0>::input_width;
  static constexpr extent_t output_width = part<size - 1>::output_width;
  static constexpr extent_t parameter_count = (detail::block_of<Parts>::parameter_count + ...);
  /// A link between two parts whose widths disagree, or a problem inside a part.
  using composition_problem =
      detail::chain_problem<first_name, input_width, detail::part_list<Parts...>>;

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

  /// Two buffers for the links between parts (ping-pong), then the parts' own stacks.
  static constexpr std::size_t stack_floats(std::size_t rows) noexcept {
    const std::size_t links = size == 1 ? 0 : (size == 2 ? 1 : 2);
    return links * rows * static_cast<std::size_t>(widest_link()) +
           std::max({detail::block_of<Parts>::stack_floats(rows)...});
  }

  template <class Description>
  static std::size_t describe(Description& d, const std::string& scope, std::size_t from) {
    ((from = detail::block_of<Parts>::describe(d, scope, from)), ...);
    return from;
  }

  template <class Arch, class Context>
  static void forward(const parameters& p, const float* x, float* y, std::size_t batch,
                      std::size_t length, Context& ctx, float* stack, float* cache) {
    const std::size_t rows = batch * length;
    const std::size_t link = rows * static_cast<std::size_t>(widest_link());
    float* links[2] = {stack, stack + link};
    float* rest = stack + (size == 1 ? 0 : (size == 2 ? 1 : 2)) * link;
    const float* in = x;
    each([&]<std::size_t I>() {
      float* out = I + 1 == size ? y : links[I % 2];
      part<I>::template forward<Arch>(std::get<I>(p.parts), in, out, batch, length, ctx, rest,
                                      cache);
      if (ctx.decoding) cache += part<I>::cache_floats(*ctx.decoding);
      in = out;
    });
  }
};

namespace detail {
template <class... Parts, extent_t Width>
struct bind_part<sequential<Parts...>, Width> {
  using type = typename rebuild<sequential, bind_chain<Width, Parts...>>::type;
};
}  // namespace detail

}  // namespace typeformer
