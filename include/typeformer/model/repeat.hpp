#pragma once
// repeat<"layers", N, Block>: N copies of Block with their own weights, applied in turn, named
// like PyTorch's nn.ModuleList: `layers.0.self_attn.in_proj_weight` … `layers.5.norm2.bias`.
// Under Keras names the copies are scopes `layers_0/` … (Keras has no standard for this; see
// docs/model.md). One type for all N copies: the model's instantiation depth and compile time
// do not grow with N, and the copies run in a loop.

#include <array>
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include <typeformer/core/diagnostics.hpp>
#include <typeformer/core/fixed_string.hpp>
#include <typeformer/model/binding.hpp>
#include <typeformer/model/block.hpp>
#include <typeformer/model/error_path.hpp>

namespace typeformer {

template <fixed_string Name, std::size_t Count, class Block>
struct repeat {
  static constexpr bool is_composite_block = true;
  static constexpr std::string_view kind = "repeat";
  static constexpr std::string_view name = Name.view();
  using name_type = layer_name_of<Name>;
  static constexpr std::size_t count = Count;

 private:
  using block = detail::block_of<Block>;

 public:
  using first_name = typename block::first_name;
  using last_name = typename block::last_name;
  static constexpr extent_t input_width = block::input_width;
  static constexpr extent_t output_width = block::output_width;
  using composition_problem = detail::first_problem<
      detail::at_path<typename detail::first_copy_path<name_type>::type, detail::problem_of<block>>,
      detail::rule_problem<
          (Count > 0), diagnostics::repeat_count_must_be_positive<name_type, extent_t(Count), 0>>,
      detail::rule_problem<block::output_width == block::input_width,
                           diagnostics::repeated_block_changes_width<name_type, block::input_width,
                                                                     block::output_width>>,
      detail::rule_problem<detail::keeps_sequence_shape<block>(),
                           diagnostics::branch_must_keep_the_sequence_shape<name_type, 0, 0>>>;
  template <extent_t MemoryWidth>
  using memory_problem = detail::at_path<typename detail::first_copy_path<name_type>::type,
                                         detail::memory_problem_of<block, MemoryWidth>>;
  template <class Naming>
  using naming_problem = detail::at_path<typename detail::first_copy_path<name_type>::type,
                                         detail::naming_problem_of<block, Naming>>;
  static constexpr extent_t parameter_count = extent_t(Count) * block::parameter_count;
  static constexpr bool decodable = detail::is_decodable<block>();
  static constexpr bool needs_decode_operands = detail::needs_decode_operands<block>();

  struct parameters {
    std::array<typename block::parameters, Count> copies;
  };

  template <class Naming>
  static std::string copy_scope(Naming, const std::string& scope, std::size_t i) {
    if constexpr (std::is_same_v<Naming, naming::pytorch_t>)
      return scope + std::string(name) + "." + std::to_string(i) + ".";
    else
      return scope + std::string(name) + "_" + std::to_string(i) + Naming::separator;
  }

  template <class Naming>
  static void expected(Naming naming, const std::string& scope, std::vector<weight_spec>& out) {
    for (std::size_t i = 0; i < Count; ++i)
      block::expected(naming, copy_scope(naming, scope, i), out);
  }

  template <class Naming, class Get>
  static parameters load(Naming naming, Get& get, const std::string& scope) {
    parameters p;
    for (std::size_t i = 0; i < Count; ++i)
      p.copies[i] = block::load(naming, get, copy_scope(naming, scope, i));
    return p;
  }

  static constexpr std::size_t scratch_floats(const call_plan& plan) noexcept {
    return block::scratch_floats(plan);
  }

  static constexpr std::size_t cache_floats(const call_plan& plan) noexcept {
    return Count * block::cache_floats(plan);
  }

  static constexpr std::size_t stack_floats(std::size_t batch, std::size_t length) noexcept {
    const std::size_t links = Count == 1 ? 0 : (Count == 2 ? 1 : 2);
    return links * batch * length * static_cast<std::size_t>(input_width) +
           block::stack_floats(batch, length);
  }

  template <class Description>
  static std::size_t describe(Description& d, const std::string& scope, std::size_t from) {
    for (std::size_t i = 0; i < Count; ++i)
      from = block::describe(d, copy_scope(detail::naming_of_description<Description>(), scope, i),
                             from);
    return from;
  }

  template <class Arch, class Context>
  static void forward(const parameters& p, const float* x, float* y, std::size_t batch,
                      std::size_t length, Context& ctx, float* stack, float* cache) {
    const std::size_t per_copy = ctx.decoding ? block::cache_floats(*ctx.decoding) : 0;
    const std::size_t link = batch * length * static_cast<std::size_t>(input_width);
    float* links[2] = {stack, stack + link};
    float* rest = stack + (Count == 1 ? 0 : (Count == 2 ? 1 : 2)) * link;
    const float* in = x;
    for (std::size_t i = 0; i < Count; ++i) {
      float* out = i + 1 == Count ? y : links[i % 2];
      detail::run_under_path([i] { return detail::concat(name, ".", std::to_string(i), "."); },
                             [&] {
                               block::template forward<Arch>(p.copies[i], in, out, batch, length,
                                                             ctx, rest, cache + i * per_copy);
                             });
      in = out;
    }
  }
};

namespace detail {
template <fixed_string Name, std::size_t Count, class Block, extent_t Width>
struct bind_part<repeat<Name, Count, Block>, Width> {
  using type = repeat<Name, Count, bind_part_t<Block, Width>>;
};
}  // namespace detail

}  // namespace typeformer
