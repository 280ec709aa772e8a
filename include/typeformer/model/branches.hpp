#pragma once
// Branches merged back into the chain: every branch reads the same input.
//   concatenate<F, G, ...>   y = [F(x), G(x), ...] along the features (widths add up)
//   add<F, G, ...>           y = F(x) + G(x) + ...  (every branch gives the same width)
// residual<F> is the common case add<identity, F>. The branches add no name scope: each
// layer is named in the enclosing one, so give them distinct names.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/model/binding.hpp>
#include <typeformer/model/block.hpp>

namespace typeformer {

namespace detail {
enum class merge { concatenate, add };

template <merge How, class... Branches>
struct merged_branches {
  static_assert(sizeof...(Branches) > 0, "a merge needs at least one branch");
  static constexpr bool is_composite_block = true;
  static constexpr std::size_t count = sizeof...(Branches);

 private:
  template <std::size_t I>
  using branch = block_of<std::tuple_element_t<I, std::tuple<Branches...>>>;
  template <class F>
  static constexpr void each(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (f.template operator()<I>(), ...); }
    (std::make_index_sequence<count>{});
  }
  static constexpr std::array<extent_t, count> widths = {block_of<Branches>::output_width...};
  static constexpr std::size_t first_other_width = [] {
    for (std::size_t i = 1; i < count; ++i)
      if (widths[i] != widths[0]) return i;
    return count;
  }();

 public:
  using first_name = typename branch<0>::first_name;
  using last_name = typename branch<count - 1>::last_name;
  static constexpr extent_t input_width = branch<0>::input_width;
  static constexpr extent_t output_width =
      How == merge::concatenate ? (block_of<Branches>::output_width + ...) : widths[0];
  static constexpr extent_t parameter_count = (block_of<Branches>::parameter_count + ...);
  /// A problem inside a branch; a branch declaring another input width than the first
  /// (named as its "predecessor": they share the input); for add, branches of different widths.
  using composition_problem =
      first_problem<problem_of<block_of<Branches>>...,
                    rule_problem<block_of<Branches>::input_width == input_width,
                                 diagnostics::input_width_does_not_match_predecessor<
                                     typename block_of<Branches>::first_name, first_name,
                                     block_of<Branches>::input_width, input_width>>...,
                    rule_problem<keeps_sequence_shape<block_of<Branches>>(),
                                 diagnostics::branch_must_keep_the_sequence_shape<
                                     typename block_of<Branches>::first_name, 0, 0>>...,
                    rule_problem<How == merge::concatenate || first_other_width == count,
                                 diagnostics::added_branches_differ_in_width<
                                     first_name, widths[0],
                                     widths[first_other_width < count ? first_other_width : 0]>>>;

  template <extent_t MemoryWidth>
  using memory_problem = first_problem<memory_problem_of<block_of<Branches>, MemoryWidth>...>;
  template <class Naming>
  using naming_problem = first_problem<naming_problem_of<block_of<Branches>, Naming>...>;
  static constexpr bool decodable = (is_decodable<block_of<Branches>>() && ...);
  static constexpr bool needs_decode_operands =
      (detail::needs_decode_operands<block_of<Branches>>() || ...);

  struct parameters {
    std::tuple<typename block_of<Branches>::parameters...> branches;
  };

  template <class Naming>
  static void expected(Naming naming, const std::string& scope, std::vector<weight_spec>& out) {
    (block_of<Branches>::expected(naming, scope, out), ...);
  }
  template <class Naming, class Get>
  static parameters load(Naming naming, Get& get, const std::string& scope) {
    return {{block_of<Branches>::load(naming, get, scope)...}};
  }
  static constexpr std::size_t scratch_floats(const call_plan& plan) noexcept {
    return std::max({block_of<Branches>::scratch_floats(plan)...});
  }
  static constexpr std::size_t cache_floats(const call_plan& plan) noexcept {
    return (block_of<Branches>::cache_floats(plan) + ...);
  }
  /// One output buffer for the branch being computed, then the branches' own stacks.
  static constexpr std::size_t stack_floats(std::size_t batch, std::size_t length) noexcept {
    const extent_t widest = *std::max_element(widths.begin(), widths.end());
    return batch * length * static_cast<std::size_t>(widest) +
           std::max({block_of<Branches>::stack_floats(batch, length)...});
  }
  template <class Description>
  static std::size_t describe(Description& d, const std::string& scope, std::size_t from) {
    std::size_t ends[count];
    each([&]<std::size_t I>() { ends[I] = branch<I>::describe(d, scope, from); });
    std::size_t at = ends[0];
    for (std::size_t i = 1; i < count; ++i) at = d.add_sum(at, ends[i]);
    return at;
  }

  template <class Arch, class Context>
  static void forward(const parameters& p, const float* x, float* y, std::size_t batch,
                      std::size_t length, Context& ctx, float* stack, float* cache) {
    const std::size_t rows = batch * length;
    const extent_t widest = *std::max_element(widths.begin(), widths.end());
    float* buffer = stack;
    float* rest = stack + rows * static_cast<std::size_t>(widest);
    std::size_t column = 0;
    each([&]<std::size_t I>() {
      constexpr auto w = static_cast<std::size_t>(widths[I]);
      if constexpr (How == merge::add) {
        float* out = I == 0 ? y : buffer;
        branch<I>::template forward<Arch>(std::get<I>(p.branches), x, out, batch, length, ctx, rest,
                                          cache);
        if constexpr (I > 0) add_in_place(y, buffer, rows * w);
      } else {
        branch<I>::template forward<Arch>(std::get<I>(p.branches), x, buffer, batch, length, ctx,
                                          rest, cache);
        const auto total = static_cast<std::size_t>(output_width);
        for (std::size_t r = 0; r < rows; ++r)
          std::memcpy(y + r * total + column, buffer + r * w, w * sizeof(float));
        column += w;
      }
      if (ctx.decoding) cache += branch<I>::cache_floats(*ctx.decoding);
    });
  }
};

}  // namespace detail

/// y = [F(x), G(x), ...] along the feature axis.
template <class... Branches>
struct concatenate : detail::merged_branches<detail::merge::concatenate, Branches...> {
  static constexpr std::string_view kind = "concatenate";
};

/// y = F(x) + G(x) + ...; every branch gives the same width.
template <class... Branches>
struct add : detail::merged_branches<detail::merge::add, Branches...> {
  static constexpr std::string_view kind = "add";
};

namespace detail {
template <class... Branches, extent_t Width>
struct bind_part<concatenate<Branches...>, Width> {
  using type = concatenate<bind_part_t<Branches, Width>...>;
};
template <class... Branches, extent_t Width>
struct bind_part<add<Branches...>, Width> {
  using type = add<bind_part_t<Branches, Width>...>;
};
}  // namespace detail

}  // namespace typeformer
